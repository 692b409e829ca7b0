"""How webhooks hears from outbound: which accounts' events need relaying, and when to relay them."""

import time

from django.db import transaction
from django.db.models.signals import pre_delete
from django.dispatch import receiver

from outbound.services.events import events_subscription_check_register
from outbound.signals import events_recorded

from .models import WebhookEndpoint
from .services import pending
from .services.retention import events_release
from .tasks import account_events_relay

# Accounts with an endpoint, per process, for a few seconds: every event write
# asks, and most events (every delivery's) belong to accounts without
# webhooks. A process that cached "none" just before an endpoint was turned on
# writes that account's events as relayed for up to this long; the relay's
# catch-up (webhooks.services.relay.endpoints_catch_up) gives the endpoint
# those events after all.
CACHE_SECONDS = 5.0
_cache: dict = {}


def account_subscribed(account_id) -> bool:
    """Whether the account has an endpoint that gets new events (cached per process for CACHE_SECONDS)."""
    now = time.monotonic()
    hit = _cache.get(account_id)
    if hit is None or hit[0] < now:
        receiving = WebhookEndpoint.objects.filter(account_id=account_id, enabled=True, disabled_reason="").exists()
        hit = _cache[account_id] = (now + CACHE_SECONDS, receiving)
    return hit[1]


def account_subscription_forget(account_id) -> None:
    """Drop this process's cached answer: an endpoint of the account was added or changed here."""
    _cache.pop(account_id, None)


events_subscription_check_register(check=account_subscribed)


@receiver(events_recorded)
def relay_soon_after_commit(sender, account_id, awaiting_relay=True, **kwargs):
    if awaiting_relay:
        transaction.on_commit(lambda: pending.queue_once(account_events_relay, account_id))


@receiver(pre_delete, sender=WebhookEndpoint)
def events_release_from_deleted_endpoint(sender, instance, **kwargs):
    # Its messages are deleted with it (CASCADE), not by the retention purge:
    # their events must not stay "needed" forever.
    events_release(event_ids=instance.messages.values("event_id"), leaving_endpoint=instance)
