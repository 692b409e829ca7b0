"""The outbox relay: committed events become one webhook message per subscribed endpoint.

Events are written in the transaction of the change they describe (outbound
services); only committed ones are ever seen here, so nothing is sent for a
change that rolled back. The relay runs soon after such a commit (a task
queued on commit) and every 5 seconds from beat in case that task was lost.
"""

from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from outbound.models import Event

from ..models import WebhookEndpoint, WebhookMessage

BATCH = 500


def events_relay(*, batch: int = BATCH) -> list:
    """Relay up to `batch` unrelayed events; the ids of the endpoints that got messages.

    Concurrent relays take disjoint batches (SKIP LOCKED).
    """
    with transaction.atomic():
        events = list(
            Event.objects.select_for_update(skip_locked=True).filter(relayed=False).order_by("id").only("id", "account_id", "type")[:batch]
        )
        if not events:
            return []
        endpoints = defaultdict(list)
        for endpoint in WebhookEndpoint.objects.filter(
            account_id__in={e.account_id for e in events}, enabled=True, disabled_reason=""
        ):
            endpoints[endpoint.account_id].append(endpoint)
        now = timezone.now()
        messages = [
            WebhookMessage(endpoint=endpoint, event_id=event.id, event_type=event.type, next_attempt_at=now)
            for event in events
            for endpoint in endpoints[event.account_id]
            if endpoint.wants(event.type)
        ]
        WebhookMessage.objects.bulk_create(messages, ignore_conflicts=True)
        Event.objects.filter(pk__in=[e.pk for e in events]).update(relayed=True)
        return sorted({m.endpoint_id for m in messages})
