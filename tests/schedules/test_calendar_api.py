"""Calendar schedules through the API, and previews of what will fire."""

import zoneinfo
from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from core.time import to_ms
from schedules.models import Schedule
from schedules.rules import iterate

CAIRO = zoneinfo.ZoneInfo("Africa/Cairo")


def weekend(**extra):
    return {"days_of_week": ["friday", "saturday", "sunday"], "send_time": "14:30", "timezone": "Africa/Cairo", **extra}


@pytest.mark.parametrize(
    "weeks_of_days",
    [
        # Sunday evening, after today's 14:30: today's occurrence has passed (it once read "at most 11 times").
        pytest.param(11, marks=pytest.mark.clock("2026-11-22T20:00:00+00:00"), id="sunday-after-send-time"),
        pytest.param(12, marks=pytest.mark.clock("2026-11-20T08:00:00+00:00"), id="friday-before-send-time"),
        pytest.param(12, marks=pytest.mark.clock("2026-03-04T09:00:00+00:00"), id="wednesday"),
        pytest.param(11, marks=pytest.mark.clock("2026-11-22T12:30:01+00:00"), id="sunday-a-second-after-send-time"),
    ],
)
def test_it_creates_a_calendar_schedule(post_schedule, api, weeks_of_days):
    today = timezone.now().astimezone(CAIRO).date()
    end = today + timedelta(days=27)
    response = post_schedule(calendar=weekend(end_date=end.isoformat()))
    assert response.status_code == 202, response.json()
    part = response.json()["schedule"]
    schedule = Schedule.objects.get(pk=part["schedule_id"])
    assert schedule.kind == "calendar" and part["interval_ms"] is None
    first = datetime.fromtimestamp(part["next_run_at_ms"] / 1000, CAIRO)
    assert first.strftime("%A %H:%M") in {"Friday 14:30", "Saturday 14:30", "Sunday 14:30"}
    assert first > timezone.now()
    # Four weeks of Fri/Sat/Sun from the first one (not counting days already past).
    expected = len(list(iterate(schedule.rule, 1, schedule.first_run_at, 100)))
    assert part["max_occurrences"] == schedule.max_occurrences == expected == weeks_of_days

    detail = api.get(f"/v2/outbound/schedules/{schedule.id}").json()
    assert detail["kind"] == "calendar"
    assert detail["calendar"] == {
        "days_of_week": ["friday", "saturday", "sunday"], "send_time": "14:30", "timezone": "Africa/Cairo",
        "start_date": today.isoformat(), "end_date": end.isoformat(),
        "days_of_month": [], "send_times": ["14:30"], "skip_dates": [],
        "dst_gap_policy": "next_valid_time", "dst_overlap_policy": "first",  # the defaults: as before the choice
    }
    # No cap was set, so the summary claims none, whether or not today's occurrence had passed.
    assert detail["rule_summary"] == f"Fri, Sat, Sun at 14:30 Africa/Cairo until {end.day} {end:%b %Y}"


@pytest.mark.clock("2026-11-22T20:00:00+00:00")
def test_the_summary_states_a_cap_the_client_set(post_schedule, api):
    end = timezone.now().astimezone(CAIRO).date() + timedelta(days=27)
    response = post_schedule(calendar=weekend(end_date=end.isoformat()), max_occurrences=5)
    detail = api.get(f"/v2/outbound/schedules/{response.json()['schedule']['schedule_id']}").json()
    assert detail["max_occurrences"] == 5
    assert detail["rule_summary"] == f"Fri, Sat, Sun at 14:30 Africa/Cairo until {end.day} {end:%b %Y}, at most 5 times"


def test_it_accepts_days_as_the_trackly_object(post_schedule):
    days = {d: d in ("monday", "thursday") for d in ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]}
    response = post_schedule(calendar={"days_of_week": days, "send_time": "09:00", "timezone": "Europe/Berlin"}, max_occurrences=4)
    assert response.status_code == 202, response.json()
    schedule = Schedule.objects.get(pk=response.json()["schedule"]["schedule_id"])
    assert schedule.days_of_week == ["monday", "thursday"] and schedule.max_occurrences == 4


@pytest.mark.parametrize(
    "calendar, field, code",
    [
        (weekend(timezone="Mars/Olympus"), "schedule.calendar.timezone", "invalid_timezone"),
        (weekend(days_of_week=["funday"]), "schedule.calendar.days_of_week", "invalid_day"),
        (weekend(days_of_week=[]), "schedule.calendar.days_of_week", "no_days"),
        (weekend(send_time="25:00"), "schedule.calendar.send_time", "invalid_send_time"),
        (weekend(send_time="2pm"), "schedule.calendar.send_time", "invalid_send_time"),
        (weekend(start_date="2030-01-10", end_date="2030-01-01"), "schedule.calendar.end_date", "end_before_start"),
        (weekend(start_date="2020-01-01", end_date="2020-02-01"), "schedule.calendar", "no_occurrences"),
        (weekend(start_date="2031-01-01"), "schedule.calendar", "first_run_beyond_horizon"),
        (weekend(hour=3), "schedule.calendar.hour", "unknown_field"),
    ],
)
def test_it_refuses_a_bad_calendar(post_schedule, calendar, field, code):
    response = post_schedule(calendar=calendar)
    assert response.status_code == 400, response.json()
    fields = response.json()["error"]["details"]["fields"]
    assert code in [e["code"] for e in fields[field]], fields
    assert not Schedule.objects.exists()


def test_it_refuses_calendar_and_interval_together(post_schedule):
    response = post_schedule(calendar=weekend(), interval_ms=3_600_000)
    assert response.json()["error"]["details"]["fields"]["schedule.calendar"][0]["code"] == "calendar_with_interval"


def test_preview_lists_the_next_due_times_as_they_will_fire(api, make_schedule):
    schedule = make_schedule(calendar=weekend())
    body = api.get(f"/v2/outbound/schedules/{schedule.id}/preview?count=5").json()
    assert body["timezone"] == "Africa/Cairo"
    expected = list(iterate(schedule.rule, 1, schedule.next_run_at, 5))
    assert [(o["occurrence_number"], o["due_at_ms"]) for o in body["occurrences"]] == [(k, to_ms(d)) for k, d in expected]
    first = body["occurrences"][0]["due_at"]
    assert first.endswith("+02:00") or first.endswith("+03:00")  # Cairo, with or without summer time
    assert "T14:30:00.000" in first


def test_preview_of_an_interval_schedule(api, make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3)
    body = api.get(f"/v2/outbound/schedules/{schedule.id}/preview?count=10").json()
    assert [o["due_at_ms"] for o in body["occurrences"]] == [to_ms(schedule.first_run_at) + h * 3_600_000 for h in range(3)]
    assert body["timezone"] == "UTC" and body["occurrences"][0]["due_at"].endswith("Z")


def test_preview_count_is_limited(api, make_schedule):
    schedule = make_schedule()
    response = api.get(f"/v2/outbound/schedules/{schedule.id}/preview?count=101")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"]["count"][0]["code"] == "max_value"


def test_a_draft_rule_can_be_previewed_without_creating_anything(api):
    body = api.post(
        "/v2/outbound/schedules/preview?count=3",
        {"calendar": {"days_of_week": ["monday"], "send_time": "02:30", "timezone": "America/New_York",
                      "start_date": "2026-11-23", "end_date": "2026-12-31"}},
        format="json",
    ).json()
    assert [o["due_at"] for o in body["occurrences"]] == [
        "2026-11-23T02:30:00.000-05:00", "2026-11-30T02:30:00.000-05:00", "2026-12-07T02:30:00.000-05:00",
    ]
    assert body["rule_summary"] == "Mon at 02:30 America/New_York until 31 Dec 2026"
    assert not Schedule.objects.exists()
    bad = api.post("/v2/outbound/schedules/preview", {"calendar": weekend(timezone="Nowhere")}, format="json")
    assert bad.status_code == 400


@pytest.mark.clock("2027-02-20T12:00:00+00:00")
def test_a_draft_preview_crosses_dst_like_the_scheduler(api):
    # Sundays at 02:30 New York from 1 March 2026: 8 March has no 02:30 (spring forward).
    body = api.post(
        "/v2/outbound/schedules/preview?count=3",
        {"calendar": {"days_of_week": ["sunday"], "send_time": "02:30", "timezone": "America/New_York", "start_date": "2027-03-07"}},
        format="json",
    ).json()
    # 2027: DST starts 14 March.
    assert [o["due_at"] for o in body["occurrences"]] == [
        "2027-03-07T02:30:00.000-05:00", "2027-03-14T03:00:00.000-04:00", "2027-03-21T02:30:00.000-04:00",
    ]


def test_calendar_start_date_defaults_to_today_in_the_zone(post_schedule):
    response = post_schedule(calendar={"days_of_week": ["monday"], "send_time": "10:00", "timezone": "Pacific/Kiritimati"})
    schedule = Schedule.objects.get(pk=response.json()["schedule"]["schedule_id"])
    assert schedule.start_date == timezone.now().astimezone(zoneinfo.ZoneInfo("Pacific/Kiritimati")).date()
    assert isinstance(schedule.start_date, date)
