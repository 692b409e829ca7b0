import hashlib
import secrets

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core import scopes as scope_names
from core.models import Account, ApiToken
from core.services.credentials import minted_secrets_revoke

# The user model is outbound's (AUTH_USER_MODEL): core names it through Django, never imports it.
User = get_user_model()

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
    """Revoke at once, with every API secret made with it (and what those made)."""
    now = timezone.now()
    with transaction.atomic():
        ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
        minted_secrets_revoke(token_ids=[token.pk], at=now)


def api_token_authenticate(*, raw: str) -> ApiToken | None:
    """The live token for this secret, or None (unknown, revoked or its user's deactivated look the same).

    Its account and user come with it as instances holding only their ids
    (what requests use); any other field loads on first use. The user's
    is_active is read on every request, in the same query, so deactivating
    a user stops their tokens at once and reactivating restores them.
    """
    found = list(
        ApiToken.objects.filter(Q(user__isnull=True) | Q(user__is_active=True), token_hash=_hash(raw), revoked_at__isnull=True)
        .only("id", "account", "user", "scopes", "last_used_at")[:1]
    )
    if not found:
        return None
    token = found[0]
    token.account = Account.from_db(connection.alias, ["id"], [token.account_id])
    token.user = User.from_db(connection.alias, ["id"], [token.user_id]) if token.user_id else None
    return token
