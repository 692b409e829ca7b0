"""When a claimed delivery is tried again: backoff after a transient error, holds, pacing slots, early tasks."""

import logging
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from outbound import clock, metrics
from outbound.models import Delivery, Session
from outbound.services.events import EventType, delivery_events_record
from outbound.services.pacing import RESERVE_HORIZON, Deferral, send_slot_reserve, session_is_paced
from outbound.services.sending_windows import DAILY_CAP, DEFERRAL_REASONS, QUIET_HOURS, session_has_windows
from outbound.transports import TransportError

from .claiming import claim_release, fenced
from .recording import delivery_finish

logger = logging.getLogger(__name__)

# A slot this close is "now": not worth a trip through the queue.
SLOT_TOLERANCE = timedelta(milliseconds=20)


@dataclass(frozen=True)
class RetryAt:
    """The attempt ended transiently; the next one may start at `when`."""

    when: datetime


def backoff_seconds(attempts: int) -> float:
    base = settings.OUTBOUND_RETRY_BASE_SECONDS * (2 ** (attempts - 1))
    # Jitter spreads retries of a whole send so they do not hit the gateway together.
    return min(settings.OUTBOUND_RETRY_MAX_SECONDS, base) * random.uniform(0.8, 1.2)


def retry_after_transient(delivery: Delivery, error: TransportError) -> RetryAt | None:
    """Requeue after a transient error with backoff; fail or expire it instead when out of attempts or time."""
    now = clock.now()
    unconfirmed = delivery.unconfirmed or error.maybe_delivered
    if delivery.attempts >= delivery.max_send_attempts:
        delivery_finish(
            delivery,
            Delivery.Status.FAILED,
            error_code=error.code,
            error_message=f"Gave up after {delivery.attempts} attempts: {error.message}",
            unconfirmed=unconfirmed,
        )
        return None
    next_at = now + timedelta(seconds=backoff_seconds(delivery.attempts))
    if next_at >= delivery.expires_at:
        delivery_finish(delivery, Delivery.Status.EXPIRED, error_code="expired", error_message=error.message, unconfirmed=unconfirmed)
        return None
    requeued = fenced(delivery).update(
        status=Delivery.Status.QUEUED,
        next_attempt_at=next_at,
        lease_expires_at=None,
        slot_at=None,
        typing_started_at=None,  # the next attempt types again
        unconfirmed=unconfirmed,
        error_code=error.code,
        error_message=error.message[:2000],
        updated_at=now,
    )
    if requeued:  # a gateway error, the thing an operator looks for when messages are late: one line per attempt
        send = delivery.send  # loaded with the claim
        logger.warning(
            "delivery retrying: %s", error.code,
            extra={
                "event": "delivery.retrying", "delivery_id": str(delivery.pk), "send_id": str(send.pk),
                "schedule_id": send.schedule_id and str(send.schedule_id), "occurrence": send.occurrence_number,
                "request_id": send.request_id, "error_code": error.code, "attempt": delivery.attempts,
                "retry_in_s": round((next_at - now).total_seconds(), 1),
            },
        )
    return RetryAt(next_at) if requeued else None


def delivery_hold(delivery: Delivery, reason: str) -> RetryAt | None:
    """Hold a delivery whose session cannot send: no attempt used, no retry queued.

    It waits until the session is WORKING again (session_deliveries_release
    queues it) or until it expires (the sweeper finds it then).

    The status this worker read may be stale by now (read at the start of its
    batch): the hold is written under a lock on the session row, and only if
    the session is still not WORKING. A release that set it WORKING either
    committed first (then this attempt is retried at once instead) or waits
    for this lock, and then finds the held delivery. Either way none is left
    held behind a session that works.
    """
    with transaction.atomic():
        status = Session.objects.select_for_update().filter(pk=delivery.send.session_id).values_list("status", flat=True).first()
        if status == Session.Status.WORKING:
            released = claim_release(delivery)
            return RetryAt(clock.now()) if released else None
        claim_release(
            delivery,
            next_attempt_at=delivery.expires_at,
            slot_at=None,
            typing_started_at=None,
            error_code="session_not_working",
            error_message=reason[:2000],
        )
    return None


# slot_wait's answer when the delivery may go now.
SEND_NOW = object()


def slot_wait(delivery: Delivery, now) -> RetryAt | None | object:
    """The session's pacing, quiet hours and daily cap: SEND_NOW, or when to come back (attempt kept), or None.

    None: put back with nothing to queue (deferred far off, or no longer ours).

    A delivery deferred by quiet hours or the daily cap stays queued with the
    reason in error_code and its release time in next_attempt_at (never past
    its expiry: it expires then, as any delivery does); it comes back on the
    queue by itself when that is near, else the sweeper releases it then
    (queueing.deliveries_deferred_release).
    """
    session = delivery.send.session
    if delivery.slot_at is not None and delivery.slot_at <= now + SLOT_TOLERANCE:
        return SEND_NOW  # this attempt's slot has come
    changes = {}
    if delivery.error_code in DEFERRAL_REASONS:
        changes.update(error_code="", error_message="")  # back from a deferral: no longer waiting for it
    if delivery.slot_at is None:
        if not (session_is_paced(session) or session_has_windows(session)):
            if changes:
                fenced(delivery).update(**changes)
            return SEND_NOW
        typing = _typing_for_slot(delivery, session)
        slot = send_slot_reserve(
            session_id=session.pk,
            messages=delivery.parts_total - delivery.parts_sent,
            now=now,
            typing=timedelta(milliseconds=typing or 0),
        )
        if isinstance(slot, Deferral):
            return delivery_defer(delivery, slot, now)
        if slot is not None and slot <= now + SLOT_TOLERANCE:
            if changes:
                fenced(delivery).update(**changes)
            return SEND_NOW
        when = slot or now + RESERVE_HORIZON / 2
    else:
        slot = when = delivery.slot_at  # arrived early for the slot it holds
    released = claim_release(delivery, slot_at=slot, next_attempt_at=when, typing_ms=delivery.typing_ms, **changes)
    return RetryAt(when) if released else None


_DEFERRAL_MESSAGES = {
    DAILY_CAP: "The session reached its daily message cap; waiting for its next local day.",
    QUIET_HOURS: "Inside the quiet hours; waiting for their end.",
}


def delivery_defer(delivery: Delivery, deferral: Deferral, now) -> RetryAt | None:
    """Put a delivery back to wait for its session's quiet hours to end or its next day's cap (no attempt used).

    Queued, with the reason and the time; announced (message.notification.deferred)
    and counted (outbound_deliveries_deferred) each time it is deferred.
    """
    until = min(deferral.not_before, delivery.expires_at)  # it expires then, as today
    with transaction.atomic():
        released = claim_release(
            delivery,
            slot_at=None,
            next_attempt_at=until,
            error_code=deferral.reason,
            error_message=_DEFERRAL_MESSAGES[deferral.reason],
        )
        if released:
            delivery.status, delivery.attempts = Delivery.Status.QUEUED, delivery.attempts - 1
            delivery.error_code, delivery.error_message = deferral.reason, _DEFERRAL_MESSAGES[deferral.reason]
            delivery.next_attempt_at = until
            delivery_events_record(send=delivery.send, deliveries=[delivery], type=EventType.MESSAGE_DEFERRED)
            transaction.on_commit(lambda: metrics.deliveries_deferred(deferral.reason))
    if not released:
        return None
    # Near: back on the queue for then. Far: no hours-long countdown in the
    # broker (a visibility timeout redelivers those); the sweeper releases it.
    return RetryAt(until) if until - now <= RESERVE_HORIZON else None


def _typing_for_slot(delivery: Delivery, session: Session) -> int | None:
    """The typing time this attempt will show, drawn now so the slot reserved covers it (kept on the delivery)."""
    from .typing import delivery_typing_ms_draw, typing_needed  # typing builds on this module

    if typing_needed(delivery, session):
        delivery.typing_ms = delivery_typing_ms_draw(delivery, session)
    return delivery.typing_ms if delivery.typing_started_at is None else None


def deliveries_not_claimed(ids: list[uuid.UUID], now: datetime) -> dict[str, RetryAt]:
    """Deliveries a task found nothing to claim for: early ones come back later, the rest need nothing."""
    if not ids:
        return {}
    retries = {}
    rows = Delivery.objects.filter(pk__in=ids, status=Delivery.Status.QUEUED, next_attempt_at__gt=now)
    for delivery_id, next_attempt_at in rows.values_list("pk", "next_attempt_at"):
        # Come back then, unless that is far off (a held delivery waits for its
        # session's release or its expiry, not for a days-long countdown).
        if next_attempt_at - now <= timedelta(seconds=settings.OUTBOUND_RETRY_MAX_SECONDS * 1.5):
            retries[str(delivery_id)] = RetryAt(next_attempt_at)
    return retries
