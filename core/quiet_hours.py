"""Quiet hours: the one check of a window's start, end and weekdays, for an account's and a session's.

Pure (no outbound import): core's admin form for an account, and the API's
inputs for an account and a session (outbound/api/session_windows.py), all
ask it, so the same window is refused with the same field and code wherever
it is set.
"""

from dataclasses import dataclass
from datetime import time

# The fields of a window, on an account and on a session (same names, formats and checks).
QUIET_HOURS_FIELDS = ("time_zone", "quiet_hours_start", "quiet_hours_end", "quiet_hours_days")

INCOMPLETE = "quiet_hours_incomplete"
EMPTY = "empty_quiet_hours"
INVALID_DAYS = "invalid_quiet_hours_days"


@dataclass(frozen=True)
class QuietHoursProblem:
    field: str
    message: str
    code: str


def quiet_hours_problem(*, start: time | None, end: time | None, days=()) -> QuietHoursProblem | None:
    """What is wrong with this window (the first problem, field-named), or None when it can be set.

    Both times or neither (null both: no window); a start equal to its end
    would be an empty (or a whole-day) window, neither of which is meant;
    days are distinct ISO weekdays, 1 (Monday) to 7, empty for every day.
    """
    if (start is None) != (end is None):
        missing = "quiet_hours_end" if end is None else "quiet_hours_start"
        return QuietHoursProblem(missing, "Quiet hours need both a start and an end (null both to remove them).", INCOMPLETE)
    if start is not None and start == end:
        return QuietHoursProblem("quiet_hours_end", "Must differ from quiet_hours_start.", EMPTY)
    if days is not None and (
        not isinstance(days, (list, tuple)) or len(set(days)) != len(days)
        or any(not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= 7 for d in days)
    ):
        return QuietHoursProblem(
            "quiet_hours_days", "A list of distinct ISO weekdays, 1 (Monday) to 7, e.g. [1, 2, 3, 4, 5]; [] for every day.", INVALID_DAYS
        )
    return None
