"""Is a session healthy enough to keep its schedules running?

A session is judged unhealthy, once, when either:

1. it has not been WORKING for longer than
   OUTBOUND_SESSION_UNHEALTHY_AFTER_SECONDS (a periodic check, beat's
   `outbound-check-session-health`: a status callback alone cannot say
   "still not back after ten minutes"), or
2. OUTBOUND_SESSION_UNHEALTHY_ACK_ERRORS deliveries in a row come back with
   ack ERROR (-1) while it says WORKING (a failure mode reported against
   WAHA: the session looks fine and nothing arrives).

Judging it unhealthy records a `session.unhealthy` event (the outbox) and
sends `outbound.signals.session_unhealthy` in the same transaction: the
schedules layer pauses every schedule on the session (outbound knows
nothing of schedules). It is healthy again when it is WORKING again or a
message it sent is delivered; its schedules stay paused until someone
resumes them (the API or the admin).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.time import to_iso
from outbound import clock
from outbound.models import Session
from outbound.signals import session_unhealthy

from .events import EventType, events_record

logger = logging.getLogger(__name__)

CODE_NOT_WORKING = "not_working"
CODE_ACK_ERRORS = "ack_errors"


def session_unhealthy_mark(*, session: Session, code: str, reason: str) -> bool:
    """Judge the session unhealthy (once until it is healthy again); True if this call did.

    Conditional, so a periodic check and a receipt racing agree on one
    event and one pause.
    """
    now = clock.now()
    with transaction.atomic():
        marked = Session.objects.filter(pk=session.pk, unhealthy_since__isnull=True).update(
            unhealthy_since=now, unhealthy_reason=reason[:300], updated_at=timezone.now()
        )
        if not marked:
            return False
        session.unhealthy_since, session.unhealthy_reason = now, reason[:300]
        logger.warning("session %s is unhealthy: %s", session.name, reason)
        events_record(account_id=session.account_id, events=[(EventType.SESSION_UNHEALTHY, _event_data(session, code))])
        session_unhealthy.send(sender=Session, session=session, code=code, reason=reason)
    return True


def _event_data(session: Session, code: str) -> dict:
    return {
        "session_id": str(session.id),
        "session_name": session.name,
        "status": session.status,
        "code": code,
        "reason": session.unhealthy_reason,
        "unhealthy_since": to_iso(session.unhealthy_since),
    }


def session_healthy_mark(*, session_id) -> bool:
    """It works again (WORKING, or a message was delivered): clear the judgement and the error streak."""
    return bool(
        Session.objects.filter(pk=session_id)
        .exclude(unhealthy_since__isnull=True, ack_error_streak=0)
        .update(unhealthy_since=None, unhealthy_reason="", ack_error_streak=0)
    )


def session_ack_error_count(*, session_id) -> bool:
    """One more delivery came back ack ERROR; True if that made the session unhealthy."""
    Session.objects.filter(pk=session_id).update(ack_error_streak=F("ack_error_streak") + 1)
    limit = settings.OUTBOUND_SESSION_UNHEALTHY_ACK_ERRORS
    session = Session.objects.get(pk=session_id)
    if not limit or session.ack_error_streak < limit or session.status != Session.Status.WORKING:
        return False  # not WORKING: the periodic check judges that case
    return session_unhealthy_mark(
        session=session, code=CODE_ACK_ERRORS,
        reason=f"{session.ack_error_streak} deliveries in a row failed (ack ERROR) while the session said WORKING.",
    )


def sessions_health_check() -> int:
    """Judge unhealthy every sending session not WORKING for longer than the threshold; how many were."""
    threshold = settings.OUTBOUND_SESSION_UNHEALTHY_AFTER_SECONDS
    if not threshold:
        return 0
    now = clock.now()
    stale = Session.objects.filter(
        role=Session.Role.SENDING,
        unhealthy_since__isnull=True,
        # Never reported (a session just added): nothing has left WORKING yet.
        status_changed_at__lte=now - timedelta(seconds=threshold),
    ).exclude(status=Session.Status.WORKING)
    marked = 0
    for session in stale:
        marked += session_unhealthy_mark(
            session=session, code=CODE_NOT_WORKING,
            reason=f"{session.status} since {to_iso(session.status_changed_at)} (over {threshold} s).",
        )
    return marked
