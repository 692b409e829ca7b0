"""Creating, changing and rotating customer webhook endpoints."""

import base64
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.models import Account

from ..models import WebhookEndpoint, WebhookMessage
from ..receivers import account_subscription_forget


def _new_secret() -> str:
    # Standard Webhooks secrets: "whsec_" + base64 of 24-64 random bytes.
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def endpoint_create(*, account: Account, url: str, events: list[str], description: str = "", enabled: bool = True) -> WebhookEndpoint:
    """A new endpoint; it gets the events written from now on.

    `url` has passed core.addresses at the edge (API, admin); it is checked
    again before every round of sends, where DNS may answer differently.
    """
    endpoint = WebhookEndpoint.objects.create(
        account=account, url=url, events=events, description=description, enabled=enabled, secret=_new_secret(),
        receiving_since=timezone.now() if enabled else None,
    )
    account_subscription_forget(account.pk)
    return endpoint


def endpoint_update(*, endpoint: WebhookEndpoint, **changes) -> WebhookEndpoint:
    """Change url, events, description or enabled.

    Turning an endpoint on clears why it was turned off; it gets the events
    written from then on (none of those written while it was off). Turning
    on one the system had disabled sends nothing from before: what still
    waited for an attempt then has failed (it can be replayed one by one).
    """
    was_receiving = endpoint.enabled and not endpoint.disabled_reason
    was_disabled = bool(endpoint.disabled_reason)
    for name, value in changes.items():
        setattr(endpoint, name, value)
    now = timezone.now()
    with transaction.atomic():
        if changes.get("enabled"):
            endpoint.disabled_reason, endpoint.disabled_at = "", None
            endpoint.failing_since, endpoint.consecutive_failures = None, 0
            if not was_receiving:
                endpoint.receiving_since = now
            if was_disabled:
                endpoint.messages.filter(status=WebhookMessage.Status.PENDING).update(
                    status=WebhookMessage.Status.FAILED, updated_at=now
                )
        endpoint.save()
    account_subscription_forget(endpoint.account_id)
    return endpoint


def endpoint_secret_rotate(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A new secret; the old one keeps signing too (both signatures sent) for WEBHOOKS_SECRET_ROTATION_HOURS."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + timedelta(hours=settings.WEBHOOKS_SECRET_ROTATION_HOURS)
    endpoint.secret = _new_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"])
    return endpoint
