"""When a claimed delivery is tried again: backoff after a transient error, holds, pacing slots, early tasks."""

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from outbound import clock
from outbound.models import Delivery, Session
from outbound.services.pacing import RESERVE_HORIZON, send_slot_reserve, session_is_paced
from outbound.transports import TransportError

from .claiming import claim_release, fenced
from .recording import delivery_finish

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


def slot_wait(delivery: Delivery, now) -> RetryAt | None:
    """The session's pacing: None to send now, else when to come back (slot kept, attempt kept)."""
    session = delivery.send.session
    if delivery.slot_at is not None and delivery.slot_at <= now + SLOT_TOLERANCE:
        return None  # this attempt's slot has come
    if delivery.slot_at is None:
        if not session_is_paced(session):
            return None
        typing = _typing_for_slot(delivery, session)
        slot = send_slot_reserve(
            session_id=session.pk,
            messages=delivery.parts_total - delivery.parts_sent,
            now=now,
            typing=timedelta(milliseconds=typing or 0),
        )
        if slot is not None and slot <= now + SLOT_TOLERANCE:
            return None
        when = slot or now + RESERVE_HORIZON / 2
    else:
        slot = when = delivery.slot_at  # arrived early for the slot it holds
    released = claim_release(delivery, slot_at=slot, next_attempt_at=when, typing_ms=delivery.typing_ms)
    return RetryAt(when) if released else None


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
