"""Pause and resume (no burst), and audited edits through PATCH."""

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from core.time import to_ms
from outbound.models import Send
from schedules.models import Run, Schedule, ScheduleChange
from schedules.services import schedule_occurrence_fire, schedule_pause, schedule_resume
from tests.api_asserts import assert_unknown_field

from .conftest import make_due_now


def test_pause_stops_occurrences_and_resume_skips_what_fell_due(api, make_schedule):
    schedule = make_schedule(interval_ms=60_000, max_occurrences=10)
    make_due_now(schedule)
    schedule_occurrence_fire(schedule_id=schedule.id)  # occurrence 1 ran

    paused = api.post(f"/v2/outbound/schedules/{schedule.id}/pause").json()
    assert paused["status"] == "paused" and paused["next_run_at_ms"] is None and paused["paused_at_ms"]
    # A fire already in flight does nothing while paused.
    assert schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=2) is None

    # Three and a half minutes pass: occurrences 2, 3 and 4 fall due.
    shift = timedelta(minutes=3, seconds=30)
    Schedule.objects.filter(pk=schedule.pk).update(first_run_at=schedule.first_run_at - shift)
    resumed = api.post(f"/v2/outbound/schedules/{schedule.id}/resume").json()
    # Occurrence 1 is still sending (no worker here), so the schedule is running again.
    assert resumed["status"] == "running" and resumed["paused_at_ms"] is None
    skipped = Run.objects.filter(schedule=schedule, status="skipped").order_by("occurrence_number")
    assert [(r.occurrence_number, r.error_code) for r in skipped] == [(2, "paused"), (3, "paused"), (4, "paused")]
    assert all(r.send is None for r in skipped)
    # No burst: nothing was sent for them, and the next one is in the future.
    assert Send.objects.count() == 1
    schedule.refresh_from_db()
    assert schedule.next_occurrence == 5 and schedule.next_run_at > timezone.now()
    assert (schedule.run_count, schedule.failed_run_count) == (4, 0)
    assert [r["status"] for r in resumed["runs"]] == ["running", "skipped", "skipped", "skipped"]


def test_pause_and_resume_are_idempotent_and_refused_once_ended(api, make_schedule):
    schedule = make_schedule()
    assert api.post(f"/v2/outbound/schedules/{schedule.id}/resume").json()["status"] == "scheduled"
    api.post(f"/v2/outbound/schedules/{schedule.id}/pause")
    again = api.post(f"/v2/outbound/schedules/{schedule.id}/pause")
    assert again.status_code == 200 and again.json()["status"] == "paused"
    api.post(f"/v2/outbound/schedules/{schedule.id}/cancel")
    refused = api.post(f"/v2/outbound/schedules/{schedule.id}/resume")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "schedule_canceled"


def test_a_paused_schedule_can_be_canceled(make_schedule):
    from schedules.services import schedule_cancel

    schedule = schedule_pause(schedule=make_schedule())
    assert schedule_cancel(schedule=schedule).status == "canceled"


def test_resume_after_the_last_occurrence_fell_due_completes(make_schedule):
    schedule = make_schedule()
    schedule_pause(schedule=schedule)
    Schedule.objects.filter(pk=schedule.pk).update(first_run_at=timezone.now() - timedelta(minutes=1))
    schedule = schedule_resume(schedule=schedule)
    assert schedule.status == "completed" and schedule.next_run_at is None
    assert schedule.runs.get().status == "skipped"


def test_preview_of_a_paused_schedule_shows_where_resume_would_continue(api, make_schedule):
    schedule = make_schedule(interval_ms=60_000, max_occurrences=10)
    schedule_pause(schedule=schedule)
    Schedule.objects.filter(pk=schedule.pk).update(first_run_at=timezone.now() - timedelta(minutes=2, seconds=30))
    body = api.get(f"/v2/outbound/schedules/{schedule.id}/preview?count=2").json()
    assert [o["occurrence_number"] for o in body["occurrences"]] == [4, 5]
    resumed = schedule_resume(schedule=schedule)
    assert to_ms(resumed.next_run_at) == body["occurrences"][0]["due_at_ms"]


def test_patch_changes_text_groups_and_timing_and_is_audited(api, make_schedule, make_groups, user):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3, text="Old")
    new_groups = make_groups(3)
    new_first = to_ms(timezone.now() + timedelta(days=1))
    response = api.patch(
        f"/v2/outbound/schedules/{schedule.id}",
        {"text": "New text", "group_ids": [str(g.id) for g in new_groups], "schedule": {"first_run_at_ms": new_first, "interval_ms": 7_200_000}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["next_run_at_ms"] == new_first and body["interval_ms"] == 7_200_000
    assert body["max_occurrences"] == 3  # not given: kept
    assert body["text_sha256"] == hashlib.sha256(b"New text").hexdigest()
    assert sorted(body["group_ids"]) == sorted(str(g.id) for g in new_groups)
    change = ScheduleChange.objects.get(schedule=schedule)
    assert change.actor_user == user and change.source == "api"
    assert set(change.changes) == {"text", "groups", "first_run_at", "interval_ms"}
    # The audit never holds the text in clear.
    assert change.changes["text"][1] == {"sha256": hashlib.sha256(b"New text").hexdigest(), "length": 8}
    assert "New text" not in str(change.changes)


def test_patch_switches_to_a_calendar(api, make_schedule):
    schedule = make_schedule()
    calendar = {"days_of_week": ["monday"], "send_time": "09:00", "timezone": "Europe/Berlin"}
    body = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"schedule": {"calendar": calendar, "max_occurrences": 2}}, format="json").json()
    assert body["kind"] == "calendar" and body["max_occurrences"] == 2
    assert body["rule_summary"].startswith("Mon at 09:00 Europe/Berlin")


@pytest.mark.parametrize(
    "patch, status, code",
    [
        ({}, 400, "validation_error"),
        ({"sendtime": "x"}, 400, "validation_error"),
        ({"schedule": {"first_run_at_ms": 1}}, 400, "validation_error"),
        ({"schedule": {"interval_ms": 10}}, 400, "validation_error"),
        ({"group_ids": ["00000000-0000-7000-8000-000000000000"]}, 422, "group_not_found"),
    ],
)
def test_patch_refuses_bad_changes_and_writes_nothing(api, make_schedule, patch, status, code):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3)
    before = Schedule.objects.get(pk=schedule.pk)
    response = api.patch(f"/v2/outbound/schedules/{schedule.id}", patch, format="json")
    assert response.status_code == status and response.json()["error"]["code"] == code
    after = Schedule.objects.get(pk=schedule.pk)
    assert (after.first_run_at, after.interval_ms, after.text, after.updated_at) == (
        before.first_run_at, before.interval_ms, before.text, before.updated_at,
    )
    assert not ScheduleChange.objects.exists()


def test_patch_refuses_timing_that_puts_the_next_run_in_the_past(api, make_schedule):
    schedule = make_schedule(interval_ms=60_000, max_occurrences=5)
    make_due_now(schedule)
    schedule_occurrence_fire(schedule_id=schedule.id)
    # Occurrence 2 would be due at first + 1 min - 10 min: in the past.
    response = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"schedule": {"interval_ms": 60_000, "max_occurrences": 5, "first_run_at_ms": to_ms(timezone.now())}}, format="json")
    assert response.status_code == 200  # first run now, occurrence 2 a minute from now: fine
    response = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"schedule": {"max_occurrences": 0}}, format="json")
    assert response.status_code == 400


def test_patch_of_an_ended_schedule_is_a_conflict(api, make_schedule):
    schedule = make_schedule()
    api.post(f"/v2/outbound/schedules/{schedule.id}/cancel")
    response = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"text": "x"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "schedule_not_editable"


def test_an_unknown_field_is_refused_in_a_schedule_patch(api, make_schedule):
    in_an_hour = to_ms(timezone.now() + timedelta(hours=1))
    schedule = make_schedule(first_run_at_ms=in_an_hour)
    before = Schedule.objects.values().get(pk=schedule.pk)
    response = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"text": "New", "grups": []}, format="json")
    assert_unknown_field(response, "grups")
    nested = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"schedule": {"first_run_at_ms": in_an_hour, "x": 1}}, format="json")
    assert_unknown_field(nested, "schedule.x")
    assert Schedule.objects.values().get(pk=schedule.pk) == before
    assert not ScheduleChange.objects.exists()


def test_an_unknown_field_is_refused_in_a_draft_preview(api):
    draft = {"first_run_at_ms": to_ms(timezone.now() + timedelta(hours=1)), "every": 5}
    response = api.post("/v2/outbound/schedules/preview", draft, format="json")
    assert_unknown_field(response, "every")
