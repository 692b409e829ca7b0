"""Writes on schedules. `lifecycle`: create, edit, pause, resume, cancel, preview.
`firing`: run an occurrence, record missed ones, settle a run when its send ends."""

from .firing import FireEarly, run_settle_for_send, schedule_occurrence_fire
from .retry import run_retry_failed
from .lifecycle import (
    schedule_cancel,
    schedule_create,
    schedule_pause,
    schedule_preview,
    schedule_resume,
    schedule_run_now,
    schedule_update,
)

__all__ = [
    "FireEarly",
    "run_retry_failed",
    "run_settle_for_send",
    "schedule_cancel",
    "schedule_create",
    "schedule_occurrence_fire",
    "schedule_pause",
    "schedule_preview",
    "schedule_resume",
    "schedule_run_now",
    "schedule_update",
]
