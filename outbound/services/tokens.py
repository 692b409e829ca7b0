import hashlib
import secrets

from django.utils import timezone

from outbound import scopes as scope_names
from outbound.models import Account, ApiToken, User

TOKEN_PREFIX = "wc_"


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(
    *, account: Account, user: User | None = None, name: str = "", scopes: list[str] | None = None
) -> tuple[ApiToken, str]:
    """Create a token; return it with the raw secret, which is never stored and shown only now."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        account=account,
        user=user,
        name=name,
        prefix=raw[:8],
        token_hash=_hash(raw),
        scopes=list(scope_names.ALL) if scopes is None else [s for s in scope_names.ALL if s in scopes],
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """The live token for this secret, or None (unknown or revoked look the same)."""
    return (
        ApiToken.objects.select_related("account", "user")
        .filter(token_hash=_hash(raw), revoked_at__isnull=True)
        .first()
    )
