"""core.quiet_hours: the one check of a quiet-hours window (account and session, API and admin)."""

from datetime import time

import pytest

from core.quiet_hours import quiet_hours_problem


@pytest.mark.parametrize(
    "start, end, days, field, code",
    [
        (time(22), None, [], "quiet_hours_end", "quiet_hours_incomplete"),
        (None, time(8), [], "quiet_hours_start", "quiet_hours_incomplete"),
        (time(8), time(8), [], "quiet_hours_end", "empty_quiet_hours"),
        (time(22), time(8), [0], "quiet_hours_days", "invalid_quiet_hours_days"),
        (time(22), time(8), [1, 1], "quiet_hours_days", "invalid_quiet_hours_days"),
        (time(22), time(8), [True], "quiet_hours_days", "invalid_quiet_hours_days"),
        (time(22), time(8), "1", "quiet_hours_days", "invalid_quiet_hours_days"),
    ],
)
def test_it_names_the_field_and_the_code(start, end, days, field, code):
    problem = quiet_hours_problem(start=start, end=end, days=days)
    assert (problem.field, problem.code) == (field, code)


@pytest.mark.parametrize("start, end, days", [(None, None, []), (time(22), time(8), [1, 5]), (time(8), time(20), []), (None, None, None)])
def test_a_window_or_none_is_fine(start, end, days):
    assert quiet_hours_problem(start=start, end=end, days=days) is None
