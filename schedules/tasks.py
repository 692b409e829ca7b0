"""Celery tasks for schedules: thin (ids in, one service call), idempotent (the Run claim dedupes fires)."""

from celery import shared_task

from . import services
from .models import Run
from .services import refire, retention


@shared_task(name="schedules.tasks.schedule_fire")
def schedule_fire(schedule_id: str, occurrence_number: int | None = None, trigger: str = Run.Trigger.BEAT) -> None:
    refire.schedule_fire_on_time(schedule_id=schedule_id, occurrence_number=occurrence_number, trigger=trigger)


@shared_task(name="schedules.tasks.schedules_fire")
def schedules_fire(occurrences: list[list], term: int | None = None) -> None:
    """Beat's fires for one tick: [[schedule_id, occurrence], ...], fired in one transaction; `term`: the leader's lease term."""
    refire.occurrences_fire_on_time(occurrences=occurrences, term=term)


@shared_task(name="schedules.tasks.schedule_advance")
def schedule_advance(schedule_id: str) -> None:
    """A run of the schedule finished (or a backfill or resume happened): start what waited for it."""
    services.schedule_waiting_start(schedule_id=schedule_id)


@shared_task(name="schedules.tasks.schedule_mirrors_purge")
def schedule_mirrors_purge() -> int:
    return retention.schedule_mirrors_purge()


@shared_task(name="schedules.tasks.runs_purge")
def runs_purge() -> int:
    return retention.runs_purge()
