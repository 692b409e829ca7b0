"""What operators do to a schedule in the admin, audited: on its page, in the list, or on its PeriodicTask.

The lifecycle services (pause, resume, cancel, run now, retry-failed) do the
work; these wrap them so every operator action leaves a ScheduleChange row
saying who did what from where (`source`: "admin" for the schedule's own
pages, "periodic_task" for django-celery-beat's admin).
"""

from django.db import transaction

from core.errors import ApplicationError
from core.time import to_iso
from outbound.models import User
from schedules.models import Schedule, ScheduleChange
from schedules.registration import periodic_task_remove, periodic_task_sync

from .lifecycle import schedule_cancel, schedule_pause, schedule_resume, schedule_run_now
from .retry import run_retry_failed

STATUS_ACTIONS = {"pause": schedule_pause, "resume": schedule_resume, "cancel": schedule_cancel}
SOURCE_ADMIN = "admin"
SOURCE_PERIODIC_TASK = "periodic_task"


def _audit(schedule: Schedule, *, actor_user: User | None, source: str, changes: dict) -> None:
    ScheduleChange.objects.create(schedule=schedule, actor_user=actor_user, source=source, changes=changes)


def schedule_operate(
    *, schedule: Schedule, action: str, actor_user: User | None, source: str = SOURCE_ADMIN, also: dict | None = None
) -> Schedule:
    """Pause, resume or cancel for an operator; returns the schedule as it is now.

    1. The lifecycle service decides (idempotent; ApplicationError when the
       schedule has ended and cannot be paused, resumed or canceled).
    2. One ScheduleChange records {"status": [before, after]} and `also`
       (what the operator changed to ask for it, e.g. the PeriodicTask's
       enabled flag), in the same transaction; nothing when nothing changed.
    """
    with transaction.atomic():
        before = Schedule.objects.select_for_update().get(pk=schedule.pk).status
        after = STATUS_ACTIONS[action](schedule=schedule)
        changes = {"status": [before, after.status]} if after.status != before else {}
        if changes or also:
            _audit(after, actor_user=actor_user, source=source, changes={**changes, **(also or {})})
        return after


def schedule_operate_run_now(*, schedule: Schedule, actor_user: User | None, source: str = SOURCE_ADMIN) -> int:
    """Fire the schedule's next occurrence now instead of at its due time (audited); returns its number.

    Refused (ApplicationError) when nothing is next: paused, ended, or no occurrence left.
    """
    schedule = Schedule.objects.get(pk=schedule.pk)
    if schedule.status not in Schedule.ACTIVE or schedule.next_run_at is None:
        raise ApplicationError(
            "nothing_to_run", f"The schedule is {schedule.status}: no occurrence is next.", http_status=409
        )
    _audit(
        schedule, actor_user=actor_user, source=source,
        changes={"run_now": {"occurrence": schedule.next_occurrence, "was_due_at": to_iso(schedule.next_run_at)}},
    )
    # The fire names the occurrence: if beat fires it first, this one is a no-op (the Run claim).
    schedule_run_now(schedule=schedule)
    return schedule.next_occurrence


def run_operate_retry_failed(
    *, schedule: Schedule, occurrence_number: int, actor_user: User | None, source: str = SOURCE_ADMIN
) -> int:
    """Queue a run's failed deliveries again (once per run; audited); returns how many."""
    with transaction.atomic():
        _, retried = run_retry_failed(schedule=schedule, occurrence_number=occurrence_number)
        if retried:
            _audit(
                schedule, actor_user=actor_user, source=source,
                changes={"retry_failed": {"occurrence": occurrence_number, "deliveries": retried}},
            )
        return retried


def schedule_of_periodic_task(task) -> Schedule | None:
    """The schedule a PeriodicTask mirrors (schedules.registration), or None for any other PeriodicTask."""
    from schedules.registration import FIRE_TASK

    if task is None or task.pk is None or task.task != FIRE_TASK:
        return None
    return Schedule.objects.filter(periodic_task_id=task.pk).first()


def periodic_task_enabled_set(*, schedule: Schedule, enabled: bool, actor_user: User | None) -> Schedule:
    """An operator disabled (pause) or enabled (resume) the schedule's PeriodicTask.

    The services rewrite the mirror from the schedule (periodic_task_sync,
    with queryset.update: no signal reaches back here), so it ends up
    disabled while paused and enabled again only if the schedule has an
    occurrence left to fire.
    """
    with transaction.atomic():
        after = schedule_operate(
            schedule=schedule,
            action="resume" if enabled else "pause",
            actor_user=actor_user,
            source=SOURCE_PERIODIC_TASK,
            also={"periodic_task.enabled": [not enabled, enabled]},
        )
        # A pause or resume that found nothing to change does not write the
        # mirror; write it anyway, so it shows the schedule's state again.
        periodic_task_sync(after)
        return after


def periodic_task_delete(*, schedule: Schedule, actor_user: User | None) -> Schedule:
    """An operator deleted the schedule's PeriodicTask: the schedule is canceled and the mirror goes.

    An ended schedule (completed, canceled) only loses its mirror, which
    retention would have deleted anyway; periodic_task_sync makes no new one
    for an ended schedule, so it stays gone.
    """
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
        deleted = {"periodic_task": [schedule.workflow_id, None]}
        if schedule.status in (Schedule.Status.COMPLETED, Schedule.Status.COMPLETED_WITH_FAILURES):
            _audit(schedule, actor_user=actor_user, source=SOURCE_PERIODIC_TASK, changes=deleted)
        else:
            schedule = schedule_operate(
                schedule=schedule, action="cancel", actor_user=actor_user, source=SOURCE_PERIODIC_TASK, also=deleted
            )
        periodic_task_remove(schedule)
        return schedule


def periodic_task_run(*, schedule: Schedule, actor_user: User | None) -> int:
    """An operator ran the schedule's PeriodicTask ("Run selected tasks"): its next occurrence runs now."""
    return schedule_operate_run_now(schedule=schedule, actor_user=actor_user, source=SOURCE_PERIODIC_TASK)
