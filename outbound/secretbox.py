"""Encryption at rest for the API secret keys the server must read back (Fernet).

Keys come from API_SECRETS_ENCRYPTION_KEYS (newest first: it encrypts, all
of them decrypt, so a key can be rotated); without it one is derived from
DJANGO_SECRET_KEY. Either way a copy of the database alone reveals no key.
"""

import base64
import functools
import hashlib

from django.conf import settings


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
