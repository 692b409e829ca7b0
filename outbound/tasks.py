"""Celery tasks: thin wrappers that take ids and call one service.

All are safe to run twice (acks_late + reject_on_worker_lost redeliver a
task whose worker died): each one claims its work with a conditional UPDATE.
"""

from celery import shared_task
from django.conf import settings

from outbound.services import deliveries, idempotency, queueing, retention, sends, session_health, sessions


@shared_task(name="outbound.tasks.send_fan_out")
def send_fan_out(send_id: str) -> int:
    # Sends now publish their delivery batches themselves on commit; this stays
    # so fan-out messages queued by an earlier release still run after an upgrade.
    return sends.send_fan_out(send_id=send_id)


@shared_task(name="outbound.tasks.deliveries_attempt")
def deliveries_attempt(delivery_ids: list[str]) -> None:
    retries, left = deliveries.deliveries_attempt(
        delivery_ids=delivery_ids, budget_seconds=settings.OUTBOUND_DELIVERY_BATCH_BUDGET_SECONDS
    )
    queueing.deliveries_enqueue_each(when={delivery_id: retry.when for delivery_id, retry in retries.items()})
    queueing.deliveries_enqueue(delivery_ids=left)


@shared_task(name="outbound.tasks.deliveries_sweep")
def deliveries_sweep() -> int:
    return queueing.deliveries_sweep(stale_seconds=settings.OUTBOUND_SWEEP_STALE_SECONDS)


@shared_task(name="outbound.tasks.idempotency_keys_purge")
def idempotency_keys_purge() -> int:
    return idempotency.idempotency_keys_purge()


@shared_task(name="outbound.tasks.sessions_refresh")
def sessions_refresh() -> int:
    return sessions.sessions_refresh()


@shared_task(name="outbound.tasks.provider_events_purge")
def provider_events_purge() -> int:
    return retention.provider_events_purge()


@shared_task(name="outbound.tasks.events_purge")
def events_purge() -> int:
    return retention.events_purge()


@shared_task(name="outbound.tasks.sends_purge")
def sends_purge() -> int:
    return retention.sends_purge()


@shared_task(name="outbound.tasks.sessions_health_check")
def sessions_health_check() -> int:
    """Sessions not WORKING for too long are judged unhealthy (their schedules pause)."""
    return session_health.sessions_health_check()
