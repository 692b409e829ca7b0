"""DST policy of calendar rules: what a local time in a spring-forward gap or a fall-back overlap does.

Five zones, both hemispheres: New York and Sydney change at 02:00/03:00,
London at 01:00, Santiago at midnight (24:00 -> 01:00, 24:00 -> 23:00 the
day before), Lord Howe by 30 minutes.
"""

import zoneinfo
from datetime import date, datetime, time, timedelta, timezone

import pytest

from schedules.models import Schedule
from schedules.rules import CalendarRule, iterate, local_due, local_dues

UTC = timezone.utc

# (zone, local day, send time, what each policy gives in UTC): the gap days, then the overlap days, of 2026.
GAPS = [
    # zone, day, time, next_valid_time, shift_forward
    ("America/New_York", date(2026, 3, 8), time(2, 30), "2026-03-08T07:00", "2026-03-08T07:30"),
    ("Australia/Sydney", date(2026, 10, 4), time(2, 30), "2026-10-03T16:00", "2026-10-03T16:30"),
    ("Europe/London", date(2026, 3, 29), time(1, 30), "2026-03-29T01:00", "2026-03-29T01:30"),
    ("America/Santiago", date(2026, 9, 6), time(0, 30), "2026-09-06T04:00", "2026-09-06T04:30"),
    ("Australia/Lord_Howe", date(2026, 10, 4), time(2, 15), "2026-10-03T15:30", "2026-10-03T15:45"),
]
OVERLAPS = [
    # zone, day, time, first instance, second instance
    ("America/New_York", date(2026, 11, 1), time(1, 30), "2026-11-01T05:30", "2026-11-01T06:30"),
    ("Australia/Sydney", date(2026, 4, 5), time(2, 30), "2026-04-04T15:30", "2026-04-04T16:30"),
    ("Europe/London", date(2026, 10, 25), time(1, 30), "2026-10-25T00:30", "2026-10-25T01:30"),
    ("America/Santiago", date(2026, 4, 4), time(23, 30), "2026-04-05T02:30", "2026-04-05T03:30"),
    ("Australia/Lord_Howe", date(2026, 4, 5), time(1, 45), "2026-04-04T14:45", "2026-04-04T15:15"),
]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def daily(zone, at, start, end, **policies):
    return CalendarRule(days_of_week=tuple(range(7)), send_time=at, timezone=zone, start_date=start, end_date=end,
                        max_occurrences=10_000, **policies)


@pytest.mark.parametrize("zone, day, at, next_valid, shifted", GAPS, ids=[g[0] for g in GAPS])
def test_a_time_in_the_gap_follows_the_gap_policy(zone, day, at, next_valid, shifted):
    tz = zoneinfo.ZoneInfo(zone)
    # The default is what the service did before there was a choice (local_due).
    assert local_dues(day, at, tz) == [local_due(day, at, tz)] == [utc(next_valid)]
    assert local_dues(day, at, tz, gap="shift_forward") == [utc(shifted)]
    assert local_dues(day, at, tz, gap="skip") == []
    # The overlap policy has nothing to say about a gap.
    assert local_dues(day, at, tz, gap="skip", overlap="both") == []


@pytest.mark.parametrize("zone, day, at, first, second", OVERLAPS, ids=[o[0] for o in OVERLAPS])
def test_a_time_that_exists_twice_follows_the_overlap_policy(zone, day, at, first, second):
    tz = zoneinfo.ZoneInfo(zone)
    assert local_dues(day, at, tz) == [local_due(day, at, tz)] == [utc(first)]
    assert local_dues(day, at, tz, overlap="second") == [utc(second)]
    assert local_dues(day, at, tz, overlap="both") == [utc(first), utc(second)]
    assert local_dues(day, at, tz, gap="skip", overlap="first") == [utc(first)]  # the gap policy has nothing to say here
    assert utc(second) - utc(first) == (timedelta(minutes=30) if zone == "Australia/Lord_Howe" else timedelta(hours=1))


@pytest.mark.parametrize("zone, day, at, next_valid, shifted", GAPS, ids=[g[0] for g in GAPS])
def test_a_daily_rule_through_the_gap(zone, day, at, next_valid, shifted):
    start, end = day - timedelta(days=2), day + timedelta(days=2)
    default = [d for _, d in iterate(daily(zone, at, start, end), 1, daily(zone, at, start, end).next_due(1), 10)]
    assert len(default) == 5 and utc(next_valid) in default
    skip = daily(zone, at, start, end, dst_gap_policy="skip")
    skipped = [d for _, d in iterate(skip, 1, skip.next_due(1), 10)]
    assert skipped == [d for d in default if d != utc(next_valid)]
    assert skip.count_through_end() == 4  # the closed-form count agrees
    shift = daily(zone, at, start, end, dst_gap_policy="shift_forward")
    assert utc(shifted) in [d for _, d in iterate(shift, 1, shift.next_due(1), 10)] and shift.count_through_end() == 5
    assert skip.dst_effect(default[0]) is None
    assert shift.dst_effect(utc(shifted)) == "gap_shift_forward"


@pytest.mark.parametrize("zone, day, at, first, second", OVERLAPS, ids=[o[0] for o in OVERLAPS])
def test_a_daily_rule_through_the_overlap(zone, day, at, first, second):
    start, end = day - timedelta(days=2), day + timedelta(days=2)
    for policy, expected in (("first", [utc(first)]), ("second", [utc(second)]), ("both", [utc(first), utc(second)])):
        rule = daily(zone, at, start, end, dst_overlap_policy=policy)
        dues = [d for _, d in iterate(rule, 1, rule.next_due(1), 10)]
        assert [d for d in dues if d.astimezone(rule.zone).date() == day] == expected, policy
        assert len(dues) == 4 + len(expected) == rule.count_through_end(), policy
        assert all(a < b for a, b in zip(dues, dues[1:]))
    both = daily(zone, at, start, end, dst_overlap_policy="both")
    assert [both.dst_effect(utc(first)), both.dst_effect(utc(second))] == ["overlap_first", "overlap_second"]


def test_several_times_a_day_with_both_instances_stay_in_order():
    # New York, 1 November 2026: 01:30 and 01:45 each exist twice.
    rule = daily("America/New_York", time(1, 30), date(2026, 11, 1), date(2026, 11, 1), dst_overlap_policy="both")
    rule = CalendarRule(**{**rule.__dict__, "send_times": (time(1, 30), time(1, 45))})
    dues = [d.strftime("%H:%M") for _, d in iterate(rule, 1, rule.next_due(1), 10)]
    assert dues == ["05:30", "05:45", "06:30", "06:45"]  # 01:30 EDT, 01:45 EDT, 01:30 EST, 01:45 EST
    assert rule.count_through_end() == 4


@pytest.mark.parametrize("zone", ["America/New_York", "Australia/Sydney", "Europe/London", "America/Santiago", "Australia/Lord_Howe"])
@pytest.mark.parametrize("gap, overlap", [("skip", "both"), ("shift_forward", "second"), ("skip", "first")])
def test_counting_matches_iterating_across_two_years(zone, gap, overlap):
    times = (time(0, 30), time(1, 45), time(2, 15), time(2, 30), time(23, 30))
    rule = CalendarRule(days_of_week=tuple(range(7)), send_time=times[0], timezone=zone, start_date=date(2026, 1, 1),
                        end_date=date(2027, 12, 31), max_occurrences=10_000, send_times=times,
                        dst_gap_policy=gap, dst_overlap_policy=overlap)
    iterated = [d for _, d in iterate(rule, 1, rule.next_due(1), 10_000)]
    assert rule.count_through_end() == len(iterated)
    assert rule.count_between(utc("2026-03-01T00:00"), utc("2026-11-15T00:00")) == sum(
        1 for d in iterated if utc("2026-03-01T00:00") <= d < utc("2026-11-15T00:00"))


def test_the_summary_names_a_policy_that_is_not_the_default():
    rule = daily("Europe/London", time(1, 30), date(2026, 1, 1), None, dst_gap_policy="skip", dst_overlap_policy="both")
    assert rule.summary() == (
        "Every day at 01:30 Europe/London, times in a DST gap skipped, repeated times at both instances"
    )
    assert daily("Europe/London", time(1, 30), date(2026, 1, 1), None).summary() == "Every day at 01:30 Europe/London"


# Through the API ---------------------------------------------------------------------------------------------


def sundays(zone, at, **policies):
    return {"days_of_week": ["sunday"], "send_time": at, "timezone": zone, "start_date": "2026-10-18", **policies}


@pytest.mark.clock("2026-10-01T12:00:00+00:00")
def test_a_draft_preview_shows_the_policies_effect(api):
    def preview(**policies):
        response = api.post("/v2/outbound/schedules/preview?count=3",
                            {"calendar": sundays("Europe/London", "01:30", **policies)}, format="json")
        assert response.status_code == 200, response.json()
        return response.json()

    default = preview()
    assert [(o["due_at"], o["dst"]) for o in default["occurrences"]] == [
        ("2026-10-18T01:30:00.000+01:00", None),
        ("2026-10-25T01:30:00.000+01:00", "overlap_first"),  # clocks go back at 02:00 BST that day
        ("2026-11-01T01:30:00.000+00:00", None),
    ]
    both = preview(dst_overlap_policy="both")
    assert [(o["due_at"], o["dst"]) for o in both["occurrences"]] == [
        ("2026-10-18T01:30:00.000+01:00", None),
        ("2026-10-25T01:30:00.000+01:00", "overlap_first"),
        ("2026-10-25T01:30:00.000+00:00", "overlap_second"),
    ]
    assert both["rule_summary"].endswith("repeated times at both instances")


@pytest.mark.clock("2026-08-20T12:00:00+00:00")
def test_a_schedule_skipping_the_gap_is_created_and_shown(post_schedule, api):
    # Santiago's clocks go from 24:00 to 01:00 on Sunday 6 September 2026: its 00:30 does not exist.
    response = post_schedule(calendar={"days_of_week": ["sunday"], "send_time": "00:30", "timezone": "America/Santiago",
                                       "start_date": "2026-08-30", "end_date": "2026-09-13", "dst_gap_policy": "skip"})
    assert response.status_code == 202, response.json()
    schedule = Schedule.objects.get(pk=response.json()["schedule"]["schedule_id"])
    assert (schedule.dst_gap_policy, schedule.dst_overlap_policy) == ("skip", "first")
    assert schedule.max_occurrences == 2  # 30 August and 13 September: 6 September has no 00:30
    detail = api.get(f"/v2/outbound/schedules/{schedule.id}").json()
    assert detail["calendar"]["dst_gap_policy"] == "skip" and detail["calendar"]["dst_overlap_policy"] == "first"
    dues = [o["due_at"] for o in api.get(f"/v2/outbound/schedules/{schedule.id}/preview?count=5").json()["occurrences"]]
    assert dues == ["2026-08-30T00:30:00.000-04:00", "2026-09-13T00:30:00.000-03:00"]
    # A PATCH to the default sends 6 September at 01:00 (the first valid minute).
    patch = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"schedule": {"calendar": {
        "days_of_week": ["sunday"], "send_time": "00:30", "timezone": "America/Santiago",
        "start_date": "2026-08-30", "end_date": "2026-09-13"}}}, format="json")
    assert patch.status_code == 200, patch.json()
    schedule.refresh_from_db()
    assert schedule.dst_gap_policy == "next_valid_time" and schedule.max_occurrences == 3


@pytest.mark.parametrize("field, value", [("dst_gap_policy", "later"), ("dst_overlap_policy", "twice"), ("dst_gap_policy", None)])
def test_a_bad_policy_is_a_field_named_400(post_schedule, field, value):
    response = post_schedule(calendar=sundays("Europe/London", "01:30", **{field: value}))
    assert response.status_code == 400
    body = response.json()
    assert f"schedule.calendar.{field}" in str(body), body


def test_a_policy_outside_a_calendar_is_refused(post_schedule):
    # The policies belong to the calendar object, as every calendar-only field does.
    response = post_schedule(dst_gap_policy="skip")
    assert response.status_code == 400
    assert "schedule.dst_gap_policy" in str(response.json()), response.json()


# In the admin -------------------------------------------------------------------------------------------------


def test_an_operator_sets_the_policies_in_the_admin(client, make_schedule):
    from outbound.models import User
    from tests.schedules.test_admin import change_page, edit_form

    client.force_login(User.objects.create_superuser("dst-operator", "dst@example.com", "pw", time_zone="UTC"))
    schedule = make_schedule(calendar={"days_of_week": ["sunday"], "send_time": "01:30", "timezone": "Europe/London"})
    page = change_page(client, schedule)
    assert 'name="dst_gap_policy"' in page and 'name="dst_overlap_policy"' in page
    form = edit_form(
        client, schedule, days_of_week=["sunday"], send_time="01:30", timezone="Europe/London",
        start_date=schedule.start_date.isoformat(), first_run_at_0="", first_run_at_1="",
        dst_gap_policy="skip", dst_overlap_policy="both",
    )
    response = client.post(f"/admin/schedules/schedule/{schedule.id}/change/", form)
    assert response.status_code == 302, response.content.decode()[-3000:]
    schedule.refresh_from_db()
    assert (schedule.dst_gap_policy, schedule.dst_overlap_policy) == ("skip", "both")
    assert set(schedule.changes.get().changes) >= {"dst_gap_policy", "dst_overlap_policy"}
    assert schedule.rule_summary.endswith("times in a DST gap skipped, repeated times at both instances")
