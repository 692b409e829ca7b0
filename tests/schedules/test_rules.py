"""Occurrence arithmetic: interval rules (exact ms, no drift) and calendar rules across DST."""

from datetime import date, datetime, time, timedelta, timezone

import pytest

from core.time import to_ms
from schedules.rules import CalendarRule, IntervalRule, iterate, local_due

T0 = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
UTC = timezone.utc


def test_it_puts_occurrence_one_at_the_first_run():
    assert IntervalRule(T0, None, 1).due_at(1) == T0


def test_it_has_nothing_before_one_or_after_the_last():
    rule = IntervalRule(T0, 60_000, 3)
    assert rule.due_at(0) is None
    assert rule.due_at(4) is None
    assert rule.next_due(4, rule.due_at(3)) is None
    assert [due for _, due in iterate(rule, 1, T0, 10)] == [T0 + timedelta(minutes=m) for m in range(3)]


def test_it_keeps_millisecond_intervals_exact():
    rule = IntervalRule(T0, 60_001, 10_000)
    assert rule.due_at(2) == T0 + timedelta(milliseconds=60_001)
    assert rule.due_at(10_000) == T0 + timedelta(milliseconds=9_999 * 60_001)
    # No drift: each occurrence is first + (k-1)*interval, whatever came before.
    assert rule.next_due(10_000, datetime(2000, 1, 1, tzinfo=UTC)) == rule.due_at(10_000)


def test_it_handles_large_k_with_long_intervals_exactly():
    year_ms = 365 * 86_400_000 + 7
    rule = IntervalRule(T0, year_ms, 1000)
    due = rule.due_at(1000)
    assert due == T0 + timedelta(milliseconds=999 * year_ms)
    assert to_ms(due) - to_ms(T0) == 999 * year_ms  # to the millisecond, ~1000 years on


def test_iterate_stops_at_the_limit():
    rule = IntervalRule(T0, 1000, 100)
    assert [k for k, _ in iterate(rule, 5, rule.due_at(5), 3)] == [5, 6, 7]


def calendar(days, at, zone, start, end=None, count=10_000):
    return CalendarRule(tuple(days), at, zone, start, end, count)


# Fri, Sat, Sun at 14:30 in Cairo (UTC+2 in winter).
WEEKEND = calendar([4, 5, 6], time(14, 30), "Africa/Cairo", date(2025, 11, 1), date(2025, 11, 30))


def test_a_calendar_rule_fires_on_its_days_at_the_local_time():
    dues = [due for _, due in iterate(WEEKEND, 1, WEEKEND.next_due(1), 5)]
    assert [d.astimezone(WEEKEND.zone).strftime("%a %d %H:%M") for d in dues] == [
        "Sat 01 14:30", "Sun 02 14:30", "Fri 07 14:30", "Sat 08 14:30", "Sun 09 14:30",
    ]
    assert dues[0] == datetime(2025, 11, 1, 12, 30, tzinfo=UTC)


def test_a_calendar_rule_ends_on_its_end_date_inclusive():
    dues = [due for _, due in iterate(WEEKEND, 1, WEEKEND.next_due(1), 100)]
    assert dues[-1].astimezone(WEEKEND.zone).date() == date(2025, 11, 30)
    assert len(dues) == WEEKEND.count_through_end() == 14  # Nov 2025 has 14 Fri/Sat/Sun
    assert WEEKEND.next_due(14, dues[-1]) is None


def test_a_calendar_rule_stops_at_max_occurrences():
    rule = calendar([0], time(9, 0), "Europe/Berlin", date(2026, 1, 5), None, 3)
    assert len(list(iterate(rule, 1, rule.next_due(1), 100))) == 3


def test_next_due_starts_after_a_given_moment():
    # From a Saturday 15:00 Cairo, the next occurrence is Sunday 14:30.
    after = datetime(2025, 11, 1, 13, 0, tzinfo=UTC)
    assert WEEKEND.next_due(1, after) == datetime(2025, 11, 2, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    "zone, day, at, expected_utc",
    [
        # Spring forward: 02:30 does not exist; sent at the first valid minute after it (03:00 local).
        ("America/New_York", date(2026, 3, 8), time(2, 30), datetime(2026, 3, 8, 7, 0, tzinfo=UTC)),
        ("Europe/Berlin", date(2026, 3, 29), time(2, 15), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        # Fall back: 01:30 / 02:30 exist twice; sent once, at the first instance (still summer time).
        ("America/New_York", date(2026, 11, 1), time(1, 30), datetime(2026, 11, 1, 5, 30, tzinfo=UTC)),
        ("Europe/Berlin", date(2026, 10, 25), time(2, 30), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        # Ordinary days either side keep the wall time.
        ("America/New_York", date(2026, 3, 7), time(2, 30), datetime(2026, 3, 7, 7, 30, tzinfo=UTC)),
        ("America/New_York", date(2026, 3, 9), time(2, 30), datetime(2026, 3, 9, 6, 30, tzinfo=UTC)),
        ("Europe/Berlin", date(2026, 10, 26), time(2, 30), datetime(2026, 10, 26, 1, 30, tzinfo=UTC)),
    ],
)
def test_local_times_across_dst(zone, day, at, expected_utc):
    import zoneinfo

    assert local_due(day, at, zoneinfo.ZoneInfo(zone)) == expected_utc


@pytest.mark.parametrize("zone, start, at", [("America/New_York", date(2026, 10, 30), time(1, 30)), ("Europe/Berlin", date(2026, 10, 23), time(2, 30))])
def test_a_daily_rule_sends_the_ambiguous_day_once(zone, start, at):
    rule = calendar(range(7), at, zone, start, start + timedelta(days=4))
    dues = [due for _, due in iterate(rule, 1, rule.next_due(1), 10)]
    assert len(dues) == 5  # one per day, the fall-back day included once
    local = [d.astimezone(rule.zone) for d in dues]
    assert all((d.hour, d.minute) == (at.hour, at.minute) for d in local)
    assert all(b - a in (timedelta(hours=24), timedelta(hours=25)) for a, b in zip(dues, dues[1:]))


@pytest.mark.parametrize("zone, start, at", [("America/New_York", date(2026, 3, 6), time(2, 30)), ("Europe/Berlin", date(2026, 3, 27), time(2, 15))])
def test_a_daily_rule_keeps_going_through_the_spring_gap(zone, start, at):
    rule = calendar(range(7), at, zone, start, start + timedelta(days=4))
    local = [due.astimezone(rule.zone) for _, due in iterate(rule, 1, rule.next_due(1), 10)]
    assert len(local) == 5
    gap_day = [d for d in local if (d.hour, d.minute) != (at.hour, at.minute)]
    assert len(gap_day) == 1 and (gap_day[0].hour, gap_day[0].minute) == (3, 0)


def test_the_summary_reads_like_a_sentence():
    rule = calendar([4, 5, 6], time(14, 30), "Africa/Cairo", date(2025, 6, 1), date(2025, 8, 31))
    assert rule.summary() == "Fri, Sat, Sun at 14:30 Africa/Cairo until 31 Aug 2025"
    assert calendar(range(7), time(9, 0), "UTC", date(2025, 6, 1)).summary() == "Every day at 09:00 UTC"
    assert IntervalRule(T0, 3_600_000, 5).summary() == "Every 1 hour, 5 times from 2026-03-01 12:00:00 UTC"
