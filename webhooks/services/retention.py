"""Purging finished webhook messages (with their attempts), and letting their events go (outbound.services.retention)."""

from django.conf import settings
from django.db.models import Exists, OuterRef

from core.models import Event
from outbound.services.retention import BATCH, MAX_BATCHES, cutoff, rows_purge

from ..models import WebhookMessage

FINISHED = (WebhookMessage.Status.SUCCEEDED, WebhookMessage.Status.FAILED)


def webhook_messages_purge(*, days: float | None = None, batch: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """Delete messages that finished (succeeded or failed) more than RETENTION_WEBHOOK_MESSAGES_DAYS ago; how many.

    Their attempts go with them. A message still pending is kept however old
    (its endpoint may be turned on again); a replayed one counts from its
    replay. Events left without messages fall back under
    RETENTION_EVENTS_DAYS.
    """
    days = settings.RETENTION_WEBHOOK_MESSAGES_DAYS if days is None else days
    if not days:
        return 0
    finished = WebhookMessage.objects.filter(status__in=FINISHED, updated_at__lt=cutoff(days))
    return rows_purge(queryset=finished.order_by("updated_at"), batch=batch, max_batches=max_batches, delete=_messages_delete)


def _messages_delete(pks: list) -> None:
    event_ids = list(WebhookMessage.objects.filter(pk__in=pks).values_list("event_id", flat=True))
    WebhookMessage.objects.filter(pk__in=pks).delete()
    events_release(event_ids=event_ids)


def events_release(*, event_ids, leaving_endpoint=None) -> int:
    """Events among `event_ids` no message needs any more (but those of `leaving_endpoint`): purged after RETENTION_EVENTS_DAYS."""
    others = WebhookMessage.objects.filter(event=OuterRef("pk"))
    if leaving_endpoint is not None:
        others = others.exclude(endpoint=leaving_endpoint)
    return (
        Event.objects.filter(pk__in=event_ids, has_webhook_messages=True)
        .exclude(Exists(others))
        .update(has_webhook_messages=False)
    )
