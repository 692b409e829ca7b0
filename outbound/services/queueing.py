"""Getting delivery attempts onto the queue: the fan-out, retries, and the sweeper that finds lost ones."""

import logging
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q

from outbound import clock
from outbound.models import Delivery
from outbound.services.pacing import RESERVE_HORIZON
from outbound.services.sending_windows import DEFERRAL_REASONS

logger = logging.getLogger(__name__)


def deliveries_enqueue(*, delivery_ids: list, countdown: float | None = None) -> None:
    """Queue attempts for these deliveries (and note when, for the sweeper)."""
    if not delivery_ids:
        return
    Delivery.objects.filter(pk__in=delivery_ids).update(enqueued_at=clock.now())
    deliveries_publish(delivery_ids=delivery_ids, countdown=countdown)


def deliveries_enqueue_each(*, when: dict) -> None:
    """Queue each delivery's next attempt for its own time ({id: datetime}); one statement notes them for the sweeper.

    A batch of paced deliveries each comes back at its own send slot.
    """
    if not when:
        return
    now = clock.now()
    Delivery.objects.filter(pk__in=list(when)).update(enqueued_at=now)
    for delivery_id, at in when.items():
        deliveries_publish(delivery_ids=[delivery_id], countdown=max(0.0, (at - now).total_seconds()))


# Set inside deliveries_published_together(): the deliveries to publish when it ends.
_gathered: ContextVar[list | None] = ContextVar("deliveries_gathered", default=None)


@contextmanager
def deliveries_published_together():
    """Publish the deliveries of every send made inside in one go, at the end.

    For work that makes many small sends in one transaction (a batch of
    schedule fires: one delivery each), whose deliveries would otherwise
    cost a task each. Wrap it around the transaction: sends publish from
    their on_commit hooks, which never run for a rolled-back savepoint,
    so only committed deliveries are gathered. If the broker is down they
    are left to the sweeper, as a send's own publish would.
    """
    gathered = []
    token = _gathered.set(gathered)
    try:
        yield
    finally:
        _gathered.reset(token)
        try:
            deliveries_publish(delivery_ids=gathered)
        except Exception:  # kombu raises several kinds for "broker unreachable"
            logger.exception("%s deliveries not queued (broker down?); the sweeper will queue them", len(gathered))


def deliveries_publish(*, delivery_ids: list, countdown: float | None = None) -> None:
    """Publish attempt tasks, OUTBOUND_DELIVERY_BATCH_SIZE deliveries per task; the caller noted enqueued_at.

    Batches because a task costs about as much as the work of one delivery
    (docs/benchmarks.md); parallelism is kept by spreading a send's batches
    over the workers.
    """
    from outbound.tasks import deliveries_attempt  # tasks call services; import here breaks the cycle

    gathered = _gathered.get()
    if gathered is not None and countdown is None:
        gathered.extend(delivery_ids)
        return
    size = settings.OUTBOUND_DELIVERY_BATCH_SIZE
    for start in range(0, len(delivery_ids), size):
        batch = [str(i) for i in delivery_ids[start:start + size]]
        # A short argsrepr (what the worker logs for the task): Celery's own is
        # a saferepr of every id, a quarter of the publish's CPU.
        argsrepr = f"([{batch[0]!r}, ... {len(batch)} deliveries],)"
        deliveries_attempt.apply_async((batch,), countdown=countdown, argsrepr=argsrepr)


def deliveries_sweep(*, stale_seconds: float, batch_size: int = 1000) -> int:
    """Re-enqueue deliveries whose task may have been lost; return how many.

    The broker may drop messages (a Redis restart without persistence) and a
    worker may die mid-send. A queued delivery due a while ago with no recent
    enqueue, or a sending one whose lease ran out, gets a new task; the claim
    makes an extra task harmless.
    """
    now = clock.now()
    stale = now - timedelta(seconds=stale_seconds)
    ids = list(
        Delivery.objects.filter(
            Q(status=Delivery.Status.QUEUED, next_attempt_at__lte=stale)
            | Q(status=Delivery.Status.SENDING, lease_expires_at__lt=now)
        )
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=stale))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    deliveries_enqueue(delivery_ids=ids)
    return len(ids) + deliveries_deferred_release(now=now, batch_size=batch_size)


def deliveries_deferred_release(*, now, batch_size: int = 1000) -> int:
    """Queue deliveries deferred by quiet hours or a daily cap whose time comes within the pacing horizon.

    Each goes on the queue for its own time (a countdown of at most the
    horizon), so a window's end releases them then, not a sweep later; the
    pacing then spreads them from there. Queued once: enqueued_at, set now,
    is past its release time minus the horizon, which is what picks it.
    """
    soon = now + RESERVE_HORIZON
    rows = list(
        Delivery.objects.filter(status=Delivery.Status.QUEUED, next_attempt_at__lte=soon, error_code__in=DEFERRAL_REASONS)
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=F("next_attempt_at") - RESERVE_HORIZON))
        .order_by("next_attempt_at")
        .values_list("pk", "next_attempt_at")[:batch_size]
    )
    deliveries_enqueue_each(when=dict(rows))
    return len(rows)
