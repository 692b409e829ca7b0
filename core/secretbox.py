"""Encryption at rest for the secrets the server must read back (Fernet): API secret keys, webhook signing secrets.

Keys come from API_SECRETS_ENCRYPTION_KEYS (newest first: it encrypts, all
of them decrypt, so a key can be rotated); without it one is derived from
DJANGO_SECRET_KEY. Either way a copy of the database alone reveals no key.
After adding a key, `manage.py secrets_reencrypt` writes every stored
secret again with it, so the old key can then be dropped.
"""

import base64
import functools
import hashlib

from django.conf import settings
from django.db import models


def derived_key(secret: str) -> str:
    """A Fernet key from another secret (the default: from DJANGO_SECRET_KEY)."""
    digest = hashlib.sha256(b"outbound.api-secrets:" + secret.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


@functools.cache
def _box(keys: tuple[str, ...]):
    # Imported when first needed: only web processes read secrets, and
    # cryptography is megabytes of every beat and worker process otherwise.
    from cryptography.fernet import Fernet, MultiFernet

    return MultiFernet([Fernet(key) for key in keys])


def _keys() -> tuple[str, ...]:
    return tuple(settings.API_SECRETS_ENCRYPTION_KEYS) or (derived_key(settings.SECRET_KEY),)


def encrypt(plaintext: str) -> str:
    return _box(_keys()).encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    return _box(_keys()).decrypt(token.encode()).decode()


def reencrypt(token: str) -> str:
    """The same secret, encrypted with the newest key (MultiFernet.rotate)."""
    return _box(_keys()).rotate(token.encode()).decode()


class EncryptedTextField(models.TextField):
    """Text the model holds in clear and the database holds encrypted (with encrypt/decrypt above).

    Empty stays empty, so "no secret" needs no key to read. The ciphertext
    changes on every save (Fernet's IV), so the column cannot be filtered on.
    """

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return encrypt(value) if value else value

    def from_db_value(self, value, expression, connection):
        return decrypt(value) if value else value
