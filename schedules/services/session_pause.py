"""An unhealthy session pauses every schedule that sends through it (outbound.signals.session_unhealthy)."""

import logging

from outbound.models import Session
from schedules.models import Schedule, ScheduleChange

from .lifecycle import schedule_pause
from .status import PAUSE_SOURCE_SESSION_UNHEALTHY

logger = logging.getLogger(__name__)


def session_schedules_pause(*, session: Session, reason: str) -> int:
    """Pause the session's active schedules with the reason, audited as source session_unhealthy; how many.

    In the transaction that judged the session unhealthy: the event, the
    judgement and the pauses commit together. Nothing fires while paused;
    nothing is lost: a resume runs what fell due within each schedule's
    catch-up window (schedule_resume).
    """
    paused = 0
    active = Schedule.objects.filter(session_id=session.pk, status__in=Schedule.ACTIVE).order_by("id")
    for schedule in active:
        before = schedule.status
        after = schedule_pause(
            schedule=schedule, reason=f"Session {session.name} is unhealthy: {reason}", source=PAUSE_SOURCE_SESSION_UNHEALTHY
        )
        if after.status == Schedule.Status.PAUSED and before != after.status:
            ScheduleChange.objects.create(
                schedule=after, actor_user=None, source=PAUSE_SOURCE_SESSION_UNHEALTHY,
                changes={"status": [before, after.status], "pause_reason": [None, after.pause_reason]},
            )
            paused += 1
    if paused:
        logger.warning("session %s unhealthy: %s schedule(s) paused", session.name, paused)
    return paused
