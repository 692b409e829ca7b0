from datetime import datetime, timedelta, timezone

from outbound.timefmt import to_ms
from schedules.rules import IntervalRule

T0 = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)


def test_it_puts_occurrence_one_at_the_first_run():
    assert IntervalRule(T0, None, 1).due_at(1) == T0


def test_it_has_nothing_before_one_or_after_the_last():
    rule = IntervalRule(T0, 60_000, 3)
    assert rule.due_at(0) is None
    assert rule.due_at(4) is None
    assert rule.last_due_at() == T0 + timedelta(minutes=2)


def test_it_keeps_millisecond_intervals_exact():
    rule = IntervalRule(T0, 60_001, 10_000)
    assert rule.due_at(2) == T0 + timedelta(milliseconds=60_001)
    assert rule.due_at(10_000) == T0 + timedelta(milliseconds=9_999 * 60_001)
    # No drift: each occurrence is first + (k-1)*interval, not the previous plus interval rounded.
    assert (rule.due_at(10_000) - rule.due_at(9_999)) == timedelta(milliseconds=60_001)


def test_it_handles_large_k_with_long_intervals_exactly():
    year_ms = 365 * 86_400_000 + 7
    rule = IntervalRule(T0, year_ms, 1000)
    due = rule.due_at(1000)
    assert due == T0 + timedelta(milliseconds=999 * year_ms)
    assert to_ms(due) - to_ms(T0) == 999 * year_ms  # to the millisecond, ~1000 years on


def test_it_counts_occurrences_due_by_a_moment():
    rule = IntervalRule(T0, 1000, 5)
    assert rule.occurrences_due_by(1, T0 - timedelta(milliseconds=1)) == 0
    assert rule.occurrences_due_by(1, T0) == 1
    assert rule.occurrences_due_by(1, T0 + timedelta(milliseconds=2999)) == 3
    assert rule.occurrences_due_by(1, T0 + timedelta(milliseconds=3000)) == 4
    assert rule.occurrences_due_by(3, T0 + timedelta(milliseconds=3000)) == 2
    assert rule.occurrences_due_by(1, T0 + timedelta(days=1)) == 5
    assert rule.occurrences_due_by(6, T0 + timedelta(days=1)) == 0


def test_a_one_shot_has_one_occurrence_due():
    rule = IntervalRule(T0, None, 1)
    assert rule.occurrences_due_by(1, T0 + timedelta(days=300)) == 1
