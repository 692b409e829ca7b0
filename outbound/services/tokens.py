import hashlib
import secrets

from django.utils import timezone

from outbound.models import Account, ApiToken, User

TOKEN_PREFIX = "wc_"


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(*, account: Account, user: User | None = None, name: str = "") -> tuple[ApiToken, str]:
    """Create a token; return it with the raw secret, which is never stored and shown only now."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        account=account, user=user, name=name, prefix=raw[:8], token_hash=_hash(raw)
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """The live token for this secret, or None (unknown or revoked look the same)."""
    token = (
        ApiToken.objects.select_related("account", "user")
        .filter(token_hash=_hash(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    # Touch last_used_at at most once a minute: it is a hint for operators,
    # not worth a write on every request.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
