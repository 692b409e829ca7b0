"""Richer calendar rules: days of the month (and the last day), several times a day, skipped dates; DST; counting."""

import random
import zoneinfo
from datetime import date, datetime, time, timedelta, timezone

import pytest

from core.time import to_ms
from schedules.models import Schedule
from schedules.rules import CalendarRule, iterate

UTC = timezone.utc


def rule(*, days=(), dom=(), times=(time(9, 0),), zone="UTC", start=date(2026, 1, 1), end=None, skip=(), count=10_000):
    return CalendarRule(tuple(days), times[0], zone, start, end, count, tuple(dom), tuple(times), frozenset(skip))


def local(r, n=100):
    return [d.astimezone(r.zone) for _, d in iterate(r, 1, r.next_due(1), n)]


def test_days_of_month_with_the_last_day():
    r = rule(dom=[1, 15, -1], start=date(2026, 1, 1), end=date(2026, 4, 30))
    assert [d.date().isoformat() for d in local(r)] == [
        "2026-01-01", "2026-01-15", "2026-01-31", "2026-02-01", "2026-02-15", "2026-02-28",
        "2026-03-01", "2026-03-15", "2026-03-31", "2026-04-01", "2026-04-15", "2026-04-30",
    ]
    assert r.count_through_end() == 12


def test_day_31_runs_only_in_months_that_have_one_and_30_and_last_is_one_day():
    thirty_first = rule(dom=[31], start=date(2026, 1, 1), end=date(2026, 12, 31))
    assert [d.month for d in local(thirty_first)] == [1, 3, 5, 7, 8, 10, 12]
    both = rule(dom=[30, -1], start=date(2026, 4, 1), end=date(2026, 4, 30))
    assert [d.day for d in local(both)] == [30]  # the same day once
    leap = rule(dom=[29, -1], start=date(2028, 2, 1), end=date(2028, 3, 1))
    assert [d.date().isoformat() for d in local(leap)] == ["2028-02-29"]


def test_weekdays_and_days_of_month_must_both_match():
    # Friday the 13th, not every Friday and every 13th (cron would OR them).
    r = rule(days=[4], dom=[13], start=date(2026, 1, 1), end=date(2027, 12, 31))
    assert [d.date().isoformat() for d in local(r)] == ["2026-02-13", "2026-03-13", "2026-11-13", "2027-08-13"]
    # The last day of the month, when it is a weekday.
    r = rule(days=range(5), dom=[-1], start=date(2026, 1, 1), end=date(2026, 6, 30))
    assert [d.date().isoformat() for d in local(r)] == ["2026-03-31", "2026-04-30", "2026-06-30"]
    assert r.summary() == "Mon, Tue, Wed, Thu, Fri on the last day of the month at 09:00 UTC until 30 Jun 2026"


def test_a_sparse_rule_finds_its_next_day_years_ahead():
    # Monday the 31st: about once a year.
    r = rule(days=[0], dom=[31], start=date(2026, 1, 1))
    first = r.next_due(1)
    assert first.astimezone(r.zone).date() == date(2026, 8, 31)
    assert r.next_due(2, first).astimezone(r.zone).date() == date(2027, 5, 31)


def test_several_times_a_day_in_order():
    r = rule(days=[0, 2], times=(time(9), time(13, 30), time(17)), zone="Africa/Cairo", start=date(2026, 3, 2), end=date(2026, 3, 4))
    assert [d.strftime("%a %H:%M") for d in local(r)] == [
        "Mon 09:00", "Mon 13:30", "Mon 17:00", "Wed 09:00", "Wed 13:30", "Wed 17:00",
    ]
    assert r.count_through_end() == 6
    assert r.summary() == "Mon, Wed at 09:00, 13:30, 17:00 Africa/Cairo until 4 Mar 2026"


def test_skip_dates_never_run():
    r = rule(days=range(7), start=date(2026, 12, 23), end=date(2027, 1, 2), skip=[date(2026, 12, 25), date(2027, 1, 1)])
    days = [d.date() for d in local(r)]
    assert date(2026, 12, 25) not in days and date(2027, 1, 1) not in days
    assert len(days) == r.count_through_end() == 9
    assert r.summary() == "Every day at 09:00 UTC except 25 Dec 2026 and 1 Jan 2027 until 2 Jan 2027"


@pytest.mark.parametrize(
    "zone, day, times, expected",
    [
        # Spring forward in New York (8 March 2026, 02:00 -> 03:00): 02:30 is sent at 03:00, and
        # 02:15/02:45/03:00 all land on 03:00: one occurrence.
        ("America/New_York", date(2026, 3, 8), (time(1, 30), time(2, 15), time(2, 45), time(3, 0), time(4, 0)),
         ["01:30-05:00", "03:00-04:00", "04:00-04:00"]),
        # Berlin (29 March 2026, 02:00 -> 03:00).
        ("Europe/Berlin", date(2026, 3, 29), (time(1, 59), time(2, 30), time(3, 30)),
         ["01:59+01:00", "03:00+02:00", "03:30+02:00"]),
        # Fall back in New York (1 November 2026, 02:00 -> 01:00): 01:30 exists twice, sent once at the first.
        ("America/New_York", date(2026, 11, 1), (time(0, 30), time(1, 30), time(1, 45), time(2, 30)),
         ["00:30-04:00", "01:30-04:00", "01:45-04:00", "02:30-05:00"]),
        # Berlin (25 October 2026, 03:00 -> 02:00).
        ("Europe/Berlin", date(2026, 10, 25), (time(2, 0), time(2, 30), time(3, 0)),
         ["02:00+02:00", "02:30+02:00", "03:00+01:00"]),
    ],
)
def test_several_times_across_dst_changes(zone, day, times, expected):
    r = rule(days=range(7), times=times, zone=zone, start=day, end=day)
    got = local(r)
    assert [d.strftime("%H:%M%z")[:-2] + ":" + d.strftime("%z")[-2:] for d in got] == expected
    assert r.count_through_end() == len(expected)
    assert all(a < b for a, b in zip(got, got[1:]))


@pytest.mark.parametrize("zone", ["America/New_York", "Europe/Berlin"])
def test_counting_matches_iterating_across_a_year_of_dst(zone):
    r = rule(dom=[1, 8, 28, 29, -1], days=[6], times=(time(1, 30), time(2, 15), time(2, 45), time(3, 0)),
             zone=zone, start=date(2026, 1, 1), end=date(2027, 12, 31))
    iterated = [d for _, d in iterate(r, 1, r.next_due(1), 10_000)]
    assert r.count_through_end() == len(iterated)
    every_day = rule(days=range(7), times=(time(2, 0), time(2, 30), time(12, 0)), zone=zone, start=date(2026, 1, 1), end=date(2026, 12, 31))
    # The spring-forward day sends 02:00 and 02:30 at 03:00, once; the fall-back day sends each time once.
    assert every_day.count_through_end() == len(list(iterate(every_day, 1, every_day.next_due(1), 10_000))) == 3 * 365 - 1


def test_counting_matches_iterating_for_random_rules():
    generator = random.Random(14)
    zones = ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Tokyo", "America/Santiago"]
    for _ in range(60):
        weekdays = tuple(sorted(generator.sample(range(7), generator.randint(0, 7))))
        dom = tuple(sorted(generator.sample([*range(1, 32), -1], generator.randint(1, 4)))) if not weekdays or generator.random() < 0.5 else ()
        times = tuple(sorted({time(generator.choice([0, 1, 2, 3, 12, 23]), generator.choice([0, 15, 30, 45])) for _ in range(generator.randint(1, 4))}))
        start = date(2026, 1, 1) + timedelta(days=generator.randint(0, 365))
        end = start + timedelta(days=generator.randint(0, 800))
        skip = {start + timedelta(days=generator.randint(0, 800)) for _ in range(generator.randint(0, 6))}
        r = rule(days=weekdays, dom=dom, times=times, zone=generator.choice(zones), start=start, end=end, skip=skip)
        iterated = [d for _, d in iterate(r, 1, r.next_due(1), 100_000)]
        assert r.count_through_end(limit=10**9) == len(iterated), r
        if iterated:
            a, b = sorted([generator.choice(iterated), generator.choice(iterated)])
            assert r.count_between(a, b, 10**9) == sum(1 for d in iterated if a <= d < b), r


def test_a_far_end_date_counts_fast():
    import time as clock

    r = rule(days=[0, 2], times=(time(9), time(17)), zone="Europe/Berlin", end=date(9999, 12, 31))
    started = clock.monotonic()
    assert r.count_through_end() == 10_001  # the limit: more than a schedule can have
    sparse = rule(days=[0], dom=[31], zone="Europe/Berlin", end=date(9999, 12, 31))
    assert sparse.count_through_end() > 7000
    assert clock.monotonic() - started < 2.0


def test_the_summary_names_the_days_of_the_month():
    assert rule(dom=[1, 15, -1]).summary() == "Day 1, 15 and the last day of the month at 09:00 UTC"
    assert rule(days=[4], dom=[13]).summary() == "Fri on day 13 of the month at 09:00 UTC"
    capped = rule(days=range(7), end=date(2026, 1, 31), count=5)
    assert capped.summary() == "Every day at 09:00 UTC until 31 Jan 2026, at most 5 times"


# ----------------------------------------------------------------------------- through the API

CAIRO = zoneinfo.ZoneInfo("Africa/Cairo")


def test_it_creates_a_schedule_with_days_of_month_times_and_skipped_dates(post_schedule, api):
    calendar = {
        "days_of_month": [1, 15, -1], "send_times": ["17:30", "09:00"], "timezone": "Africa/Cairo",
        "start_date": "2026-04-01", "end_date": "2026-06-30", "skip_dates": ["2026-05-15"],
    }
    response = post_schedule(calendar=calendar)
    assert response.status_code == 202, response.json()
    schedule = Schedule.objects.get(pk=response.json()["schedule"]["schedule_id"])
    # 3 months x 3 days x 2 times, less the skipped day's two.
    assert schedule.max_occurrences == 16 and schedule.days_of_week == []
    detail = api.get(f"/v2/outbound/schedules/{schedule.id}").json()
    assert detail["calendar"] == {
        "days_of_week": [], "days_of_month": [1, 15, -1], "send_time": "09:00", "send_times": ["09:00", "17:30"],
        "skip_dates": ["2026-05-15"], "timezone": "Africa/Cairo", "start_date": "2026-04-01", "end_date": "2026-06-30",
        "dst_gap_policy": "next_valid_time", "dst_overlap_policy": "first",
    }
    assert detail["rule_summary"] == "Day 1, 15 and the last day of the month at 09:00, 17:30 Africa/Cairo except 15 May 2026 until 30 Jun 2026"
    preview = api.get(f"/v2/outbound/schedules/{schedule.id}/preview?count=7").json()["occurrences"]
    assert [o["due_at"][:16] for o in preview] == [
        "2026-04-01T09:00", "2026-04-01T17:30", "2026-04-15T09:00", "2026-04-15T17:30",
        "2026-04-30T09:00", "2026-04-30T17:30", "2026-05-01T09:00",
    ]


def test_a_draft_preview_shows_friday_the_13th(api):
    body = api.post(
        "/v2/outbound/schedules/preview?count=3",
        {"calendar": {"days_of_week": ["friday"], "days_of_month": [13], "send_time": "10:00", "timezone": "Europe/Berlin"}},
        format="json",
    ).json()
    assert [o["due_at"] for o in body["occurrences"]] == [
        "2026-03-13T10:00:00.000+01:00", "2026-11-13T10:00:00.000+01:00", "2027-08-13T10:00:00.000+02:00",
    ]
    assert body["rule_summary"] == "Fri on day 13 of the month at 10:00 Europe/Berlin"


@pytest.mark.clock("2026-03-07T12:00:00+00:00")
def test_a_draft_preview_with_several_times_crosses_spring_forward(api):
    body = api.post(
        "/v2/outbound/schedules/preview?count=5",
        {"calendar": {"days_of_week": ["sunday"], "send_times": ["01:30", "02:30", "03:00"], "timezone": "America/New_York"}},
        format="json",
    ).json()
    # 8 March: 02:30 does not exist and becomes 03:00, which is a time of its own: one occurrence.
    assert [o["due_at"] for o in body["occurrences"]] == [
        "2026-03-08T01:30:00.000-05:00", "2026-03-08T03:00:00.000-04:00",
        "2026-03-15T01:30:00.000-04:00", "2026-03-15T02:30:00.000-04:00", "2026-03-15T03:00:00.000-04:00",
    ]


@pytest.mark.clock("2026-10-31T12:00:00+00:00")
def test_an_ambiguous_time_is_sent_once_through_the_api(post_schedule, api):
    calendar = {"days_of_week": ["sunday"], "send_times": ["01:30", "02:00"], "timezone": "America/New_York", "end_date": "2026-11-01"}
    response = post_schedule(calendar=calendar)
    schedule = Schedule.objects.get(pk=response.json()["schedule"]["schedule_id"])
    assert schedule.max_occurrences == 2
    preview = api.get(f"/v2/outbound/schedules/{schedule.id}/preview").json()["occurrences"]
    assert [o["due_at_ms"] for o in preview] == [
        to_ms(datetime(2026, 11, 1, 5, 30, tzinfo=UTC)), to_ms(datetime(2026, 11, 1, 7, 0, tzinfo=UTC)),
    ]


def test_the_cap_counts_from_the_first_occurrence_not_the_first_day(post_schedule):
    # 09:00 UTC now (the tests' clock): today's 08:00 has passed, today's 10:00 has not.
    calendar = {"days_of_week": ["wednesday"], "send_times": ["08:00", "10:00"], "timezone": "UTC", "end_date": "2026-03-11"}
    schedule = Schedule.objects.get(pk=post_schedule(calendar=calendar).json()["schedule"]["schedule_id"])
    assert schedule.max_occurrences == 3  # today 10:00, next Wednesday 08:00 and 10:00
    assert schedule.rule_summary == "Wed at 08:00, 10:00 UTC until 11 Mar 2026"


def weekend(**extra):
    return {"days_of_week": ["friday", "saturday", "sunday"], "send_time": "14:30", "timezone": "Africa/Cairo", **extra}


@pytest.mark.parametrize(
    "calendar, field, code",
    [
        ({**weekend(days_of_month=[0])}, "schedule.calendar.days_of_month", "invalid_day_of_month"),
        ({**weekend(days_of_month=[32])}, "schedule.calendar.days_of_month", "invalid_day_of_month"),
        ({**weekend(days_of_month=[-2])}, "schedule.calendar.days_of_month", "invalid_day_of_month"),
        ({**weekend(days_of_month=[1, 1])}, "schedule.calendar.days_of_month", "duplicate_days_of_month"),
        ({**weekend(days_of_month=[])}, "schedule.calendar.days_of_month", "min_length"),
        ({**weekend(days_of_month=["1"])}, "schedule.calendar.days_of_month.0", "invalid_type"),
        ({"send_time": "09:00", "timezone": "UTC"}, "schedule.calendar.days_of_week", "required"),
        ({"days_of_week": ["monday"], "timezone": "UTC"}, "schedule.calendar.send_time", "required"),
        ({**weekend(send_times=["09:00"])}, "schedule.calendar.send_times", "send_time_with_send_times"),
        ({"days_of_week": ["monday"], "send_times": ["9am"], "timezone": "UTC"}, "schedule.calendar.send_times", "invalid_send_time"),
        ({"days_of_week": ["monday"], "send_times": ["09:00", "09:00:00"], "timezone": "UTC"}, "schedule.calendar.send_times", "duplicate_send_times"),
        ({"days_of_week": ["monday"], "send_times": [], "timezone": "UTC"}, "schedule.calendar.send_times", "min_length"),
        ({"days_of_week": ["monday"], "send_times": [f"{h:02d}:00" for h in range(24)] + ["23:30"], "timezone": "UTC"},
         "schedule.calendar.send_times", "max_length"),
        ({**weekend(skip_dates=["2026-12-25", "2026-12-25"])}, "schedule.calendar.skip_dates", "duplicate_skip_dates"),
        ({**weekend(skip_dates=["25/12/2026"])}, "schedule.calendar.skip_dates.0", "invalid"),
        ({"days_of_week": ["monday"], "days_of_month": [31], "send_time": "09:00", "timezone": "UTC",
          "start_date": "2026-04-01", "end_date": "2026-04-30"}, "schedule.calendar", "no_occurrences"),
    ],
)
def test_it_refuses_a_bad_rich_calendar(post_schedule, calendar, field, code):
    response = post_schedule(calendar=calendar)
    assert response.status_code == 400, response.json()
    fields = response.json()["error"]["details"]["fields"]
    assert code in [e["code"] for e in fields.get(field, [])], fields
    assert not Schedule.objects.exists()


def test_a_patch_to_an_interval_rule_clears_the_calendar_fields(api, make_schedule):
    schedule = make_schedule(calendar={"days_of_month": [1], "send_times": ["09:00", "10:00"], "timezone": "UTC", "skip_dates": ["2026-05-01"]})
    first = to_ms(datetime(2026, 3, 5, 9, tzinfo=UTC))
    body = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"schedule": {"first_run_at_ms": first}}, format="json").json()
    assert body["kind"] == "interval" and body["calendar"] is None
    schedule.refresh_from_db()
    assert (schedule.days_of_month, schedule.send_times, schedule.skip_dates) == ([], [], [])
