"""Schedule lifecycle events (schedule.run.*, schedule.completed|canceled|paused), into outbound's outbox."""

from core.time import to_iso
from outbound.services.events import EventType, events_record
from schedules.models import Run, Schedule


def schedule_event_data(schedule: Schedule) -> dict:
    return {
        "schedule_id": str(schedule.id),
        "workflow_id": schedule.workflow_id,
        "status": schedule.status,
        "run_count": schedule.run_count,
        "failed_run_count": schedule.failed_run_count,
        "max_occurrences": schedule.max_occurrences,
        "next_run_at": to_iso(schedule.next_run_at),
        "completed_at": to_iso(schedule.completed_at),
        "canceled_at": to_iso(schedule.canceled_at),
        "paused_at": to_iso(schedule.paused_at),
        "pause_reason": schedule.pause_reason or None,
    }


def run_event_data(schedule: Schedule, run: Run) -> dict:
    return {
        "schedule_id": str(schedule.id),
        "workflow_id": schedule.workflow_id,
        "occurrence_number": run.occurrence_number,
        "status": run.status,
        "send_id": str(run.send_id) if run.send_id else None,
        "due_at": to_iso(run.due_at),
        "started_at": to_iso(run.started_at),
        "completed_at": to_iso(run.completed_at),
        "failed_at": to_iso(run.failed_at),
        "error_code": run.error_code or None,
        "error_message": run.error_message or None,
    }


RUN_EVENT = {
    Run.Status.RUNNING: EventType.SCHEDULE_RUN_STARTED,
    Run.Status.COMPLETED: EventType.SCHEDULE_RUN_COMPLETED,
    Run.Status.FAILED: EventType.SCHEDULE_RUN_FAILED,
}


def run_events_record(schedule: Schedule, runs: list[Run]) -> None:
    """An event per run for its current status (skipped runs announce nothing)."""
    events_record(
        account_id=schedule.account_id,
        events=[(RUN_EVENT[run.status], run_event_data(schedule, run)) for run in runs if run.status in RUN_EVENT],
    )


def schedule_event_record(schedule: Schedule, type: str) -> None:
    events_record(account_id=schedule.account_id, events=[(type, schedule_event_data(schedule))])
