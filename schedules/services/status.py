import logging
from datetime import datetime

from django.conf import settings

from schedules.models import Run, Schedule
from outbound.services.events import EventType
from schedules.registration import periodic_task_sync

from .announcements import next_occurrence_announce
from .events import run_events_record, schedule_event_record

logger = logging.getLogger(__name__)


def schedule_settle(schedule: Schedule, now: datetime) -> None:
    """Derive the status from the runs and what is left; save the schedule and its beat mirror.

    scheduled -> running while an occurrence's deliveries are in progress ->
    scheduled ... -> completed / completed_with_failures once the last one
    finished. Canceled and paused are set by operators and kept here; a
    schedule failing too often in a row pauses itself (failure policy).
    A next occurrence not yet announced is announced here (once).
    """
    before = schedule.status
    _auto_pause_if_failing(schedule, now)
    if schedule.status not in (Schedule.Status.CANCELED, Schedule.Status.PAUSED):
        if schedule.runs.filter(status=Run.Status.RUNNING).exists():
            schedule.status = Schedule.Status.RUNNING
        elif schedule.next_run_at is not None:
            schedule.status = Schedule.Status.SCHEDULED
        else:
            failed = schedule.failed_run_count > 0
            schedule.status = Schedule.Status.COMPLETED_WITH_FAILURES if failed else Schedule.Status.COMPLETED
            schedule.completed_at = now
    next_occurrence_announce(schedule)
    schedule.save()
    periodic_task_sync(schedule)
    if schedule.status != before and schedule.status in (Schedule.Status.COMPLETED, Schedule.Status.COMPLETED_WITH_FAILURES):
        schedule_event_record(schedule, EventType.SCHEDULE_COMPLETED)
    elif schedule.status != before and schedule.status == Schedule.Status.PAUSED:
        schedule_event_record(schedule, EventType.SCHEDULE_PAUSED)


def _auto_pause_if_failing(schedule: Schedule, now: datetime) -> None:
    limit = settings.SCHEDULE_AUTO_PAUSE_AFTER_FAILED_RUNS
    if not limit or schedule.consecutive_failed_runs < limit:
        return
    if schedule.status not in Schedule.ACTIVE or schedule.next_run_at is None:
        return  # ended, paused or canceled already, or nothing left to protect
    last = schedule.runs.filter(status=Run.Status.FAILED).order_by("-occurrence_number").values_list("error_code", flat=True).first()
    schedule.status, schedule.paused_at, schedule.next_run_at = Schedule.Status.PAUSED, now, None
    schedule.pause_reason = (
        f"Paused automatically after {schedule.consecutive_failed_runs} failed runs in a row (last: {last}). Resume when fixed."
    )
    logger.warning("schedule %s: %s", schedule.id, schedule.pause_reason)


def run_fail(run: Run, *, code: str, message: str, now: datetime) -> None:
    run.status, run.error_code, run.error_message, run.failed_at = Run.Status.FAILED, code, message, now


def runs_count_outcome(schedule: Schedule, *, failed: int = 0, succeeded: bool = False) -> None:
    """Count finished runs on the (locked) schedule: failures add up in a row, a success ends the row."""
    schedule.failed_run_count += failed
    schedule.consecutive_failed_runs = 0 if succeeded else schedule.consecutive_failed_runs + failed


def runs_record_unsent(schedule: Schedule, k: int, due: datetime | None, before: datetime, *, status: str, code: str, message: str, now: datetime):
    """Record occurrences from k due before `before` as runs that did not send; return the first one left.

    Nothing is skipped silently: every due occurrence gets a run.
    """
    rule = schedule.rule
    runs = []
    while due is not None and due < before:
        run = Run(schedule=schedule, occurrence_number=k, due_at=due, started_at=now, status=status, error_code=code, error_message=message)
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
