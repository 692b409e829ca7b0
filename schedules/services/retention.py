"""Purging beat mirrors of ended schedules and, when asked, old runs (outbound.services.retention for the rules)."""

from django.conf import settings
from django.db.models import Q
from django_celery_beat.models import ClockedSchedule, PeriodicTask

from outbound.services.retention import BATCH, MAX_BATCHES, cutoff, id_floor, rows_delete_without_signals, rows_purge
from schedules.models import Run, Schedule


def schedule_mirrors_purge(*, days: float | None = None, batch: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """Delete the PeriodicTask (and its ClockedSchedule) of schedules that ended more than RETENTION_SCHEDULE_MIRRORS_DAYS ago; how many.

    The Schedule stays, with its runs, counts and audit trail; only its
    mirror in django-celery-beat's admin goes (schedules.registration).
    """
    days = settings.RETENTION_SCHEDULE_MIRRORS_DAYS if days is None else days
    if not days:
        return 0
    moment = cutoff(days)
    ended = Schedule.objects.filter(periodic_task__isnull=False).filter(
        Q(status=Schedule.Status.CANCELED, canceled_at__lt=moment)
        | Q(status__in=(Schedule.Status.COMPLETED, Schedule.Status.COMPLETED_WITH_FAILURES), completed_at__lt=moment)
    )
    return rows_purge(queryset=ended.order_by("id"), batch=batch, max_batches=max_batches, delete=_mirrors_delete)


def _mirrors_delete(schedule_ids: list) -> None:
    """Delete the schedules' mirrors without django-celery-beat's signals.

    Its signals would bump the change marker (PeriodicTasks.update_changed)
    once per row, and every bump makes beat reload its static tasks. Nothing
    to reload here: an ended schedule's mirror is disabled, and
    schedules.beat never loads mirrors anyway (it fires from
    Schedule.next_run_at). Deleting raw also skips on_delete, so the
    schedules let go of their mirror first (what SET_NULL would do).
    """
    mirrors = list(Schedule.objects.filter(pk__in=schedule_ids).values_list("periodic_task_id", "periodic_task__clocked_id"))
    task_ids = [task_id for task_id, _ in mirrors]
    Schedule.objects.filter(pk__in=schedule_ids).update(periodic_task=None)
    rows_delete_without_signals(model=PeriodicTask, pks=task_ids)
    clocked_ids = {clocked_id for _, clocked_id in mirrors if clocked_id is not None}
    # Each mirror has a clocked schedule of its own; keep any an operator reused.
    clocked_ids -= set(PeriodicTask.objects.filter(clocked_id__in=clocked_ids).values_list("clocked_id", flat=True))
    rows_delete_without_signals(model=ClockedSchedule, pks=list(clocked_ids))


def runs_purge(*, days: float | None = None, batch: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """With RETENTION_RUN_HISTORY_DAYS set: delete runs that finished longer ago; how many.

    A running one is kept, and so is one a backfill queued. The schedule's
    counts (runs, failed runs) stay as they were; its sends go by outbound.services.retention.sends_purge.
    """
    days = settings.RETENTION_RUN_HISTORY_DAYS if days is None else days
    if not days:
        return 0
    moment = cutoff(days)
    finished = Run.objects.exclude(status__in=(Run.Status.RUNNING, Run.Status.QUEUED)).filter(id__lt=id_floor(moment), updated_at__lt=moment)
    return rows_purge(queryset=finished.order_by("id"), batch=batch, max_batches=max_batches)
