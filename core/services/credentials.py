"""API secrets and the short-lived JWTs signed with them (seeds/heymarket-get-schedule.txt).

A client signs `{"iss": <secret id>, "iat": <now, seconds>}` with HS256 and
the key "<secret id>||<secret key>", and sends it as `Authorization: Bearer`.
A token is good for JWT_MAX_AGE_SECONDS either side of its `iat`. Every
refusal says why, with its own code, so an integrator can fix their side.
"""

import math
import secrets
import uuid

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core import scopes as scope_names
from core import secretbox
from core.errors import ApplicationError
from core.models import Account, ApiSecret, ApiToken

# The user model is outbound's (AUTH_USER_MODEL): core names it through Django, never imports it.
User = get_user_model()

KEY_PREFIX = "whk_"
JWT_ALGORITHM = "HS256"
# The seed: "Tokens expire 5 minutes after the iat timestamp". The same
# tolerance the other way covers a client whose clock runs ahead.
JWT_MAX_AGE_SECONDS = 300


def _refused(code: str, message: str) -> ApplicationError:
    return ApplicationError(code, message, http_status=401)


def api_secret_create(
    *,
    account: Account,
    name: str,
    scopes: list[str],
    created_by: User | None = None,
    minted_by: ApiToken | ApiSecret | None = None,
) -> tuple[ApiSecret, str]:
    """Make a secret; return it with its key, which is shown now and never again.

    `minted_by`: the credential whose request makes it (the API; the admin
    passes none). Revoking that credential revokes this secret too. Its row
    is locked until the new secret is written, so a revocation running at the
    same moment either comes first (and this refuses) or waits and then
    finds the new secret to revoke with it.
    """
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        if minted_by is not None:
            _live_credential_lock(minted_by)
        secret = ApiSecret.objects.create(
            account=account,
            name=name,
            scopes=[s for s in scope_names.ALL if s in scopes],
            key_encrypted=secretbox.encrypt(key),
            key_prefix=key[:8],
            created_by=created_by,
            minted_by_token=minted_by if isinstance(minted_by, ApiToken) else None,
            minted_by_secret=minted_by if isinstance(minted_by, ApiSecret) else None,
        )
    return secret, key


def _live_credential_lock(credential: ApiToken | ApiSecret) -> None:
    revoked_at = (
        type(credential).objects.select_for_update().filter(pk=credential.pk).values_list("revoked_at", flat=True).first()
    )
    if revoked_at is not None:
        raise _refused("credential_revoked", "The credential this request was made with has just been revoked.")


def api_secret_revoke(*, secret: ApiSecret) -> ApiSecret:
    """Revoke at once, with every secret made with it (idempotent: a revoked secret keeps its first revocation time)."""
    now = timezone.now()
    with transaction.atomic():
        ApiSecret.objects.filter(pk=secret.pk, revoked_at__isnull=True).update(revoked_at=now)
        minted_secrets_revoke(secret_ids=[secret.pk], at=now)
    secret.refresh_from_db(fields=["revoked_at"])
    return secret


def minted_secrets_revoke(*, token_ids=(), secret_ids=(), at) -> int:
    """Revoke the secrets made with these tokens or secrets, then those made with them, down to the last; how many.

    One level at a time, through every secret made (revoked or not: a
    revoked one's own secrets were revoked with it, but checking costs one
    query a level). Secrets are made only by older, live ones, so there is
    no cycle to guard against; `seen` guards anyway.
    """
    revoked, seen = 0, set(secret_ids)
    made_by = Q(minted_by_token__in=list(token_ids)) | Q(minted_by_secret__in=list(secret_ids))
    while True:
        level = [pk for pk in ApiSecret.objects.filter(made_by).values_list("pk", flat=True) if pk not in seen]
        if not level:
            return revoked
        seen.update(level)
        revoked += ApiSecret.objects.filter(pk__in=level, revoked_at__isnull=True).update(revoked_at=at)
        made_by = Q(minted_by_secret__in=level)


REENCRYPT_BATCH = 500


def secrets_reencrypt() -> dict[str, int]:
    """Write every stored secret again with the newest API_SECRETS_ENCRYPTION_KEYS key; how many, per model.

    API secret keys, and every EncryptedTextField of any app (webhook signing
    secrets): after it, the keys after the first can be dropped. Each batch
    is its own transaction; a run stopped halfway leaves every row readable
    (all keys still decrypt), and running it again finishes.
    """
    done = {"core.ApiSecret": _rows_reencrypt(ApiSecret.objects.only("pk", "key_encrypted"), ["key_encrypted"], secretbox.reencrypt)}
    for model in apps.get_models():
        names = [f.name for f in model._meta.get_fields() if isinstance(f, secretbox.EncryptedTextField)]
        if names:
            # Loading decrypts (with any key) and saving encrypts (with the newest).
            done[model._meta.label] = _rows_reencrypt(model.objects.only("pk", *names), names, lambda value: value)
    return done


def _rows_reencrypt(queryset, names: list[str], convert) -> int:
    """Each batch read locked and written back in one transaction: a secret rotated meanwhile is never written over."""
    pks = list(queryset.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), REENCRYPT_BATCH):
        with transaction.atomic():
            batch = list(queryset.select_for_update().filter(pk__in=pks[start : start + REENCRYPT_BATCH]))
            for obj in batch:
                for name in names:
                    value = getattr(obj, name)
                    setattr(obj, name, convert(value) if value else value)
            queryset.model.objects.bulk_update(batch, names)
    return len(pks)


def jwt_signing_key(secret_id, key: str) -> str:
    return f"{secret_id}||{key}"


def api_secret_authenticate_jwt(*, token: str) -> ApiSecret:
    """The live secret that signed this JWT, or a 401 ApplicationError saying what is wrong.

    1. The algorithm must be HS256 (never `none`, never a public-key one).
    2. `iss` names a secret of ours that is not revoked, made by a user who
       is still active (or by no user).
    3. The signature is checked with that secret's key.
    4. Only then is `iat` believed: within JWT_MAX_AGE_SECONDS of now.
    """
    # Imported when first needed: only web processes check tokens, and PyJWT
    # (with cryptography) is megabytes of every beat and worker otherwise.
    import jwt

    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:  # PyJWT turns JSON nested too deep into one as well
        raise _refused("invalid_token", "The bearer token is not a well-formed JWT.") from None
    if header.get("alg") != JWT_ALGORITHM:
        raise _refused("unsupported_algorithm", f"Sign the JWT with {JWT_ALGORITHM}; got {header.get('alg')!r}.")
    secret = _secret_named(claims.get("iss"))
    try:
        jwt.decode(
            token,
            jwt_signing_key(secret.id, secretbox.decrypt(secret.key_encrypted)),
            algorithms=[JWT_ALGORITHM],
            # Checked below, with codes of our own; exp and nbf are not part of the scheme.
            options={"verify_iat": False, "verify_exp": False, "verify_nbf": False, "require": ["iss", "iat"]},
        )
    except jwt.InvalidSignatureError:
        raise _refused("invalid_signature", "The JWT's signature does not match the API secret.") from None
    except jwt.PyJWTError as error:
        raise _refused("invalid_token", f"The JWT is not valid: {error}.") from None
    _check_issued_at(claims.get("iat"))
    return secret


def credential_mark_used(credential) -> None:
    """Touch an ApiToken's or ApiSecret's last_used_at at most once a minute.

    It is a hint for operators ("is this still in use?"), not worth a write
    on every request.
    """
    now = timezone.now()
    if credential.last_used_at is None or (now - credential.last_used_at).total_seconds() > 60:
        type(credential).objects.filter(pk=credential.pk).update(last_used_at=now)
        credential.last_used_at = now


def _secret_named(issuer) -> ApiSecret:
    try:
        secret_id = uuid.UUID(str(issuer))
    except ValueError:
        raise _refused("unknown_secret", "The JWT's iss is not an API secret id.") from None
    secret = ApiSecret.objects.select_related("account", "created_by").filter(pk=secret_id).first()
    if secret is None:
        raise _refused("unknown_secret", "No API secret has the JWT's iss as its id.")
    if secret.revoked_at is not None:
        raise _refused("secret_revoked", "The API secret that signed this JWT was revoked.")
    if secret.created_by is not None and not secret.created_by.is_active:
        # Checked on every request (not revoked at deactivation), so reactivating the user restores it.
        raise _refused("user_inactive", "The user this API secret acts for is deactivated.")
    return secret


def _check_issued_at(iat) -> None:
    """`iat` is a finite number of seconds within JWT_MAX_AGE_SECONDS of now.

    Python's JSON reader (and so PyJWT's) takes NaN, Infinity and 1e400 (as
    infinity) and integers of any size. A NaN compares false with everything,
    so it would pass both age checks and never expire; an infinity or a huge
    integer cannot be subtracted from now. Each of them is refused as invalid.
    """
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise _refused("invalid_token", "The JWT's iat must be a number of seconds since the epoch.")
    try:
        iat = float(iat)
    except OverflowError:  # an integer beyond any float
        iat = math.inf
    if not math.isfinite(iat):
        raise _refused("invalid_token", "The JWT's iat must be a finite number of seconds since the epoch.")
    age = timezone.now().timestamp() - iat
    if age > JWT_MAX_AGE_SECONDS:
        raise _refused("token_expired", f"The JWT was issued {int(age)} s ago; it is good for {JWT_MAX_AGE_SECONDS} s.")
    if -age > JWT_MAX_AGE_SECONDS:
        raise _refused("token_not_yet_valid", f"The JWT's iat is {int(-age)} s in the future; check your clock.")
