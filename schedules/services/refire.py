"""What a fire task does around the fire: come back on time if beat was early, then catch up on the overdue.

The fire itself (claim, send, settle) is firing.py's; this module decides
what the task does next with its outcome, so schedules/tasks.py only takes
ids and calls one function here.
"""

import logging
import uuid
from datetime import datetime

from outbound import clock
from schedules.leader import term_is_current
from schedules.models import BeatLease, Run

from .firing import FireEarly, occurrences_fire, overdue_schedules_fire, schedule_occurrence_fire

logger = logging.getLogger(__name__)


def schedule_fire_on_time(
    *, schedule_id: uuid.UUID | str, occurrence_number: int | None = None, trigger: str = Run.Trigger.BEAT
) -> None:
    """Fire one occurrence, or come back when it is due; then take the overdue ones.

    1. Fire it (schedule_occurrence_fire: once, however many times it is fired).
    2. Beat's clock ran ahead of ours (FireEarly): enqueue the same fire for
       its due time, and stop.
    3. Otherwise fires may be running behind (a herd due at once): take a
       batch of the due ones in one transaction.
    """
    outcome = schedule_occurrence_fire(schedule_id=schedule_id, occurrence_number=occurrence_number, trigger=trigger)
    if isinstance(outcome, FireEarly):
        _fire_again_when_due(schedule_id, occurrence_number, trigger, outcome.due_at)
        return
    overdue_schedules_fire()


def occurrences_fire_on_time(*, occurrences: list[list], term: int | None = None) -> None:
    """Fire beat's occurrences for one tick ([[schedule_id, occurrence], ...]) in one transaction.

    1. A message from a beat that has since been replaced as leader (its
       lease `term` is not the current one: it was hung or cut off when it
       published) is dropped: the new leader fires what is due. Messages
       without a term (published before terms were carried) are fired.
    2. Fire them together (occurrences_fire).
    3. Each one beat sent early comes back alone, as a single fire, when it is due.
    4. Take a batch of the overdue ones.
    """
    if term is not None and not term_is_current(name=BeatLease.BEAT, term=term):
        logger.warning("fire message from a replaced beat leader (term %s) dropped: %s occurrence(s)", term, len(occurrences))
        return
    for schedule_id, occurrence_number, outcome in occurrences_fire(occurrences=occurrences):
        _fire_again_when_due(schedule_id, occurrence_number, Run.Trigger.BEAT, outcome.due_at)
    overdue_schedules_fire()


def _fire_again_when_due(schedule_id, occurrence_number: int | None, trigger: str, due_at: datetime) -> None:
    from schedules.tasks import schedule_fire  # tasks call services; import here breaks the cycle

    countdown = max(0.0, (due_at - clock.now()).total_seconds())
    schedule_fire.apply_async((schedule_id, occurrence_number, trigger), countdown=countdown)
