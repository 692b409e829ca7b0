import time

from django.db import transaction
from django.dispatch import receiver

from outbound.signals import events_recorded

from .models import WebhookEndpoint
from .tasks import events_relay

# Accounts with an endpoint, per process, for a few seconds: most events
# (every delivery's) belong to accounts without webhooks, and those need no
# relay task (beat's periodic relay still marks them relayed).
_CACHE_SECONDS = 5.0
_cache: dict = {}


def _has_endpoints(account_id) -> bool:
    now = time.monotonic()
    hit = _cache.get(account_id)
    if hit is None or hit[0] < now:
        hit = (now + _CACHE_SECONDS, WebhookEndpoint.objects.filter(account_id=account_id, enabled=True).exists())
        _cache[account_id] = hit
    return hit[1]


@receiver(events_recorded)
def relay_soon_after_commit(sender, account_id, **kwargs):
    if _has_endpoints(account_id):
        transaction.on_commit(lambda: events_relay.delay())
