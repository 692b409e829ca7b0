"""The schedules app's models, one module per thing they record."""

from .changes import ScheduleChange
from .leadership import BeatLease, DatabaseSession
from .runs import Run
from .schedules import Schedule

__all__ = ["BeatLease", "DatabaseSession", "Run", "Schedule", "ScheduleChange"]
