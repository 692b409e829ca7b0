"""A session's status: recorded from the gateway, and what changes with it.

While a session is not WORKING its deliveries are held (not failed, no
attempt used); when it is WORKING again they are released onto the queue.
"""

import logging

from django.db import transaction
from django.utils import timezone

from outbound import clock
from outbound.models import Delivery, Session
from outbound.services.queueing import deliveries_enqueue
from outbound.services.session_health import session_healthy_mark
from outbound.services.sending_windows import DEFERRAL_REASONS
from outbound.transports import SessionInfo, TransportError, get_client

logger = logging.getLogger(__name__)


def session_status_set(*, session: Session, status: str) -> bool:
    """Record a session's status; True if it changed. Conditional, so racing writers agree.

    Back to WORKING releases the deliveries held while it was not, and
    makes the session healthy again (its paused schedules wait for a resume).
    """
    # The service's clock: the health check compares status_changed_at with it.
    now = clock.now()
    changed = (
        Session.objects.filter(pk=session.pk)
        .exclude(status=status)
        .update(status=status, status_changed_at=now, updated_at=now)
    )
    if changed:
        session.status, session.status_changed_at = status, now
        logger.warning("session %s is now %s", session.name, status)
        if status == Session.Status.WORKING:
            session_healthy_mark(session_id=session.pk)
            session_deliveries_release(session=session)
    return bool(changed)


def session_pacing_set(*, session: Session, **pacing) -> Session:
    """Change a session's pacing (messages_per_minute, send_delay_min_ms, send_delay_max_ms), typing
    (human_like, typing_ms_min, typing_ms_max, typing_ms_per_char), daily cap, warm-up or quiet hours."""
    for name, value in pacing.items():
        setattr(session, name, value)
    session.save(update_fields=[*pacing, "updated_at"])
    return session


def session_deliveries_release(*, session: Session) -> int:
    """Queue the deliveries held for this session (those not yet expired)."""
    now = timezone.now()
    held = Delivery.objects.filter(
        send__session=session, status=Delivery.Status.QUEUED, error_code="session_not_working", expires_at__gt=now
    )
    ids = list(held.values_list("pk", flat=True))
    Delivery.objects.filter(pk__in=ids).update(next_attempt_at=now, error_code="", error_message="", updated_at=now)
    # After commit: the workers must see the released rows.
    transaction.on_commit(lambda: deliveries_enqueue(delivery_ids=ids))
    return len(ids)


def session_deferred_release(*, session: Session) -> int:
    """Queue now the deliveries deferred by this session's quiet hours or cap (after those settings changed)."""
    return sessions_deferred_release(sessions=[session])


def sessions_deferred_release(*, sessions) -> int:
    """Queue now the deliveries deferred by these sessions' quiet hours or caps: one query, however many sessions.

    Each is looked at again: still inside quiet hours or over the cap, it is
    deferred again, to the new time; otherwise it goes at its session's pace.
    `sessions`: Session rows or a queryset of them.
    """
    now = clock.now()
    deferred = Delivery.objects.filter(
        send__session__in=sessions, status=Delivery.Status.QUEUED, error_code__in=DEFERRAL_REASONS, next_attempt_at__gt=now
    )
    ids = list(deferred.values_list("pk", flat=True))
    Delivery.objects.filter(pk__in=ids).update(next_attempt_at=now, updated_at=now)
    transaction.on_commit(lambda: deliveries_enqueue(delivery_ids=ids))
    return len(ids)


def session_phone_number_set(*, session: Session, phone_number: str) -> bool:
    """Record the number a session sends from; True if it changed. No write when it is the same."""
    if session.phone_number == phone_number:
        return False
    changed = (
        Session.objects.filter(pk=session.pk)
        .exclude(phone_number=phone_number)
        .update(phone_number=phone_number, updated_at=timezone.now())
    )
    if changed:
        # A different number means the session was linked to another phone.
        logger.info("session %s sends from %s (was %r)", session.name, phone_number, session.phone_number)
    session.phone_number = phone_number
    return bool(changed)


def session_status_refresh(*, session: Session) -> str:
    """Ask the gateway for the session's status and number and record them.

    Unknown on the gateway -> STOPPED. A number is recorded only when the
    gateway names one (once linked); one it stops naming is kept.
    """
    try:
        info = get_client().get_session(session=session.name)
    except TransportError as error:
        if error.code != "session_not_found":
            raise
        info = SessionInfo(status=Session.Status.STOPPED)
    status = info.status
    if status not in Session.Status.values:
        logger.warning("session %s: gateway reported unknown status %r; treating as FAILED", session.name, status)
        status = Session.Status.FAILED
    if info.phone_number:
        session_phone_number_set(session=session, phone_number=info.phone_number)
    session_status_set(session=session, status=status)
    return status


def sessions_refresh() -> int:
    """Refresh every sending session's status from the gateway; how many changed."""
    changed = 0
    for session in Session.objects.filter(role=Session.Role.SENDING):
        before = session.status
        try:
            if session_status_refresh(session=session) != before:
                changed += 1
        except TransportError as error:
            # The gateway being unreachable says nothing about the session.
            logger.warning("session %s: status refresh failed: %s", session.name, error)
    return changed
