"""Celery tasks for schedules: thin, idempotent (the Run claim dedupes fires)."""

from celery import shared_task
from django.utils import timezone

from . import services
from .models import Run
from .services import retention


@shared_task(name="schedules.tasks.schedule_fire")
def schedule_fire(schedule_id: str, occurrence_number: int | None = None, trigger: str = Run.Trigger.BEAT) -> None:
    outcome = services.schedule_occurrence_fire(
        schedule_id=schedule_id, occurrence_number=occurrence_number, trigger=trigger
    )
    if isinstance(outcome, services.FireEarly):
        # Beat's clock ran ahead of ours: come back when it is really due.
        countdown = max(0.0, (outcome.due_at - timezone.now()).total_seconds())
        schedule_fire.apply_async((schedule_id, occurrence_number, trigger), countdown=countdown)
        return
    # Fires behind (a herd due at once): take a batch of the due ones in one transaction.
    services.overdue_schedules_fire()


@shared_task(name="schedules.tasks.schedules_fire")
def schedules_fire(occurrences: list[list]) -> None:
    """Beat's fires for one tick: [[schedule_id, occurrence], ...], fired in one transaction."""
    for schedule_id, occurrence_number, outcome in services.occurrences_fire(occurrences=occurrences):
        countdown = max(0.0, (outcome.due_at - timezone.now()).total_seconds())
        schedule_fire.apply_async((schedule_id, occurrence_number, Run.Trigger.BEAT), countdown=countdown)
    services.overdue_schedules_fire()


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
