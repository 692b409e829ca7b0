import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from outbound.services.events import EventType
from schedules.models import Run, Schedule
from schedules.registration import periodic_task_sync

from .announcements import next_occurrence_announce
from .events import run_events_record, schedule_event_record

logger = logging.getLogger(__name__)


def schedule_settle(schedule: Schedule, now: datetime, *, running: bool | None = None) -> None:
    """Derive the status from the runs and what is left; save the schedule and its beat mirror.

    scheduled -> running while an occurrence's deliveries are in progress
    (or backfilled runs wait their turn) -> scheduled ... -> completed /
    completed_with_failures once the last one finished. Canceled and paused
    are set by operators and kept here; a schedule failing too often in a
    row pauses itself (failure policy). A next occurrence not yet announced
    is announced here (once). `running`: True when the caller knows a run
    is in progress (it just started one), which saves a query.
    """
    before = schedule.status
    _auto_pause_if_failing(schedule, now)
    if schedule.status not in (Schedule.Status.CANCELED, Schedule.Status.PAUSED):
        if running or schedule.runs.filter(status__in=(Run.Status.RUNNING, Run.Status.QUEUED)).exists():
            schedule.status = Schedule.Status.RUNNING
        elif schedule.next_run_at is not None:
            schedule.status = Schedule.Status.SCHEDULED
        else:
            failed = schedule.failed_run_count > 0
            schedule.status = Schedule.Status.COMPLETED_WITH_FAILURES if failed else Schedule.Status.COMPLETED
            schedule.completed_at = now
    next_occurrence_announce(schedule)
    schedule_save(schedule)
    periodic_task_sync(schedule)
    if schedule.status != before and schedule.status in (Schedule.Status.COMPLETED, Schedule.Status.COMPLETED_WITH_FAILURES):
        schedule_event_record(schedule, EventType.SCHEDULE_COMPLETED)
    elif schedule.status != before and schedule.status == Schedule.Status.PAUSED:
        schedule_event_record(schedule, EventType.SCHEDULE_PAUSED)


def schedule_save(schedule: Schedule) -> None:
    """Save every loaded field of a schedule that exists (the deferred ones are left as they are)."""
    deferred = schedule.get_deferred_fields()
    schedule.save(update_fields=[f.name for f in Schedule._meta.concrete_fields if not f.primary_key and f.attname not in deferred])


PAUSE_SOURCE_FAILED_RUNS = "failed_runs"
PAUSE_SOURCE_SESSION_UNHEALTHY = "session_unhealthy"


def _auto_pause_if_failing(schedule: Schedule, now: datetime) -> None:
    limit = settings.SCHEDULE_AUTO_PAUSE_AFTER_FAILED_RUNS
    if not limit or schedule.consecutive_failed_runs < limit:
        return
    if schedule.status not in Schedule.ACTIVE or schedule.next_run_at is None:
        return  # ended, paused or canceled already, or nothing left to protect
    last = schedule.runs.filter(status=Run.Status.FAILED).order_by("-occurrence_number").values_list("error_code", flat=True).first()
    schedule.status, schedule.paused_at, schedule.next_run_at = Schedule.Status.PAUSED, now, None
    schedule.buffered_at = None
    schedule.pause_source = PAUSE_SOURCE_FAILED_RUNS
    schedule.pause_reason = (
        f"Paused automatically after {schedule.consecutive_failed_runs} failed runs in a row (last: {last}). Resume when fixed."
    )
    logger.warning(
        "schedule %s: %s", schedule.id, schedule.pause_reason,
        extra={"event": "schedule.paused", "schedule_id": str(schedule.id), "account_id": str(schedule.account_id),
               "status": schedule.status, "error_code": last, "consecutive_failed_runs": schedule.consecutive_failed_runs},
    )


def run_fail(run: Run, *, code: str, message: str, now: datetime) -> None:
    run.status, run.error_code, run.error_message, run.failed_at = Run.Status.FAILED, code, message, now


def runs_count_outcome(schedule: Schedule, *, failed: int = 0, succeeded: bool = False) -> None:
    """Count finished runs on the (locked) schedule: failures add up in a row, a success ends the row."""
    schedule.failed_run_count += failed
    schedule.consecutive_failed_runs = 0 if succeeded else schedule.consecutive_failed_runs + failed


def runs_record_unsent(schedule: Schedule, k: int, due: datetime | None, before: datetime, *, status: str, code: str, message: str, now: datetime):
    """Record occurrences from k (due at `due`) that fire before `before` as runs that did not send.

    Returns the first one left: (occurrence, its due time, how many were
    recorded). An occurrence fires at its due time plus its jitter offset.
    Nothing is skipped silently: every due occurrence gets a run.
    """
    rule = schedule.rule
    runs = []
    while due is not None and schedule.fire_at(k, due) < before:
        run = Run(
            schedule=schedule, occurrence_number=k, due_at=due, jitter_offset_ms=schedule.jitter_offset_ms(k),
            started_at=now, status=status, error_code=code, error_message=message,
        )
        if status == Run.Status.FAILED:
            run.failed_at = now
        runs.append(run)
        k, due = k + 1, rule.next_due(k + 1, due)
    Run.objects.bulk_create(runs)
    run_events_record(schedule, runs)
    schedule.run_count += len(runs)
    if status == Run.Status.FAILED:
        runs_count_outcome(schedule, failed=len(runs))
    return k, due, len(runs)


def runs_skip_overlapping(schedule: Schedule, k: int, due: datetime | None, now: datetime):
    """Occurrences from k that fire by now while a run is in progress: skipped runs (overlap); the first one left."""
    return runs_record_unsent(
        schedule, k, due, now + timedelta(microseconds=1), status=Run.Status.SKIPPED, code="overlap",
        message=f"Fell due while an earlier run was still sending (overlap_policy {schedule.overlap_policy}).", now=now,
    )


def waiting_runs_start_later(schedule: Schedule) -> None:
    """After this commits, start what waits for the schedule's runs to finish (schedules.tasks.schedule_advance).

    What waits: the next occurrence, buffered (overlap_policy buffer_one), and
    backfilled runs (queued). The task starts one if no run is in progress.
    """
    if schedule.buffered_at is None and not schedule.runs.filter(status=Run.Status.QUEUED).exists():
        return
    from schedules.tasks import schedule_advance  # tasks call services; import here breaks the cycle

    schedule_id = str(schedule.id)

    def publish():
        try:
            # On the fires' queue, which workers serve first: it starts an occurrence too.
            schedule_advance.apply_async((schedule_id,), queue=settings.CELERY_SCHEDULE_FIRE_QUEUE)
        except Exception:  # broker down: beat republishes a buffered occurrence; the next settle or resume retries
            logger.exception("schedule %s: could not queue the start of its waiting runs", schedule_id)

    transaction.on_commit(publish)
