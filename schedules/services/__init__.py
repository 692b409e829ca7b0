"""Writes on schedules. `lifecycle`: create, edit, pause, resume, cancel, preview.
`firing`: run an occurrence (catch-up window, overlap policy), settle a run when its send ends,
start what waited for it. `backfill`: run occurrences that never ran."""

from .backfill import schedule_backfill
from .firing import (
    FireEarly,
    occurrences_fire,
    overdue_schedules_fire,
    run_settle_for_send,
    schedule_occurrence_fire,
    schedule_waiting_start,
)
from .retry import run_retry_failed
from .lifecycle import (
    schedule_cancel,
    schedule_create,
    schedule_pause,
    schedule_preview,
    schedule_preview_fires,
    schedule_resume,
    schedule_run_now,
    schedule_update,
)

__all__ = [
    "FireEarly",
    "occurrences_fire",
    "overdue_schedules_fire",
    "run_retry_failed",
    "run_settle_for_send",
    "schedule_backfill",
    "schedule_cancel",
    "schedule_create",
    "schedule_occurrence_fire",
    "schedule_pause",
    "schedule_preview",
    "schedule_preview_fires",
    "schedule_resume",
    "schedule_run_now",
    "schedule_update",
    "schedule_waiting_start",
]
