"""overlap_policy: what an occurrence does when it falls due while the previous run is still sending."""

from datetime import timedelta

import pytest
from django.utils import timezone

from outbound.models import Send
from outbound.services.deliveries import delivery_attempt
from schedules.models import Run, Schedule, ScheduleChange
from schedules.services import (
    schedule_occurrence_fire,
    schedule_pause,
    schedule_resume,
    schedule_waiting_start,
)

MINUTE = 60_000
ADVANCE = "schedules.tasks.schedule_advance"


def fire_due(schedule, clock, occurrence=None):
    """Let the clock reach the schedule's next fire time and fire it, as beat would."""
    schedule.refresh_from_db()
    clock.move_to(max(schedule.next_run_at, timezone.now()))
    return schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=occurrence)


def deliver_all(send):
    for delivery in send.deliveries.all():
        delivery_attempt(delivery_id=delivery.id)


def runs(schedule):
    return [(r.occurrence_number, r.status, r.error_code) for r in schedule.runs.order_by("occurrence_number")]


def test_the_default_is_buffer_one(api, make_schedule):
    schedule = make_schedule(interval_ms=MINUTE, max_occurrences=3)
    assert schedule.overlap_policy == "buffer_one"
    assert api.get(f"/v2/outbound/schedules/{schedule.id}").json()["overlap_policy"] == "buffer_one"


def test_allow_all_starts_an_occurrence_while_the_previous_sends(make_schedule, clock):
    schedule = make_schedule(interval_ms=MINUTE, max_occurrences=3, overlap_policy="allow_all")
    fire_due(schedule, clock, 1)
    second = fire_due(schedule, clock, 2)
    assert second.occurrence_number == 2 and second.status == "running"
    assert runs(schedule) == [(1, "running", ""), (2, "running", "")]
    assert Send.objects.count() == 2


def test_skip_records_the_occurrence_as_skipped(api, make_schedule, clock):
    schedule = make_schedule(interval_ms=MINUTE, max_occurrences=4, overlap_policy="skip")
    fire_due(schedule, clock, 1)
    assert fire_due(schedule, clock, 2) is None
    assert runs(schedule) == [(1, "running", ""), (2, "skipped", "overlap")]
    skipped = schedule.runs.get(occurrence_number=2)
    assert skipped.send is None and "still sending" in skipped.error_message
    schedule.refresh_from_db()
    assert (schedule.next_occurrence, schedule.run_count, schedule.failed_run_count) == (3, 2, 0)
    assert schedule.next_run_at == schedule.first_run_at + timedelta(minutes=2)
    assert Send.objects.count() == 1
    body = api.get(f"/v2/outbound/schedules/{schedule.id}/runs/2").json()
    assert (body["status"], body["error_code"], body["send_id"]) == ("skipped", "overlap", None)


def test_skip_skips_every_occurrence_due_while_the_run_sends(make_schedule, clock):
    schedule = make_schedule(interval_ms=MINUTE, max_occurrences=6, overlap_policy="skip")
    fire_due(schedule, clock, 1)
    clock.move_to(schedule.first_run_at + timedelta(minutes=3, seconds=1))  # 2, 3, 4 are due (beat was slow)
    schedule_occurrence_fire(schedule_id=schedule.id)
    assert runs(schedule) == [(1, "running", ""), (2, "skipped", "overlap"), (3, "skipped", "overlap"), (4, "skipped", "overlap")]
    assert Schedule.objects.get(pk=schedule.pk).next_occurrence == 5


def test_skip_starts_the_next_once_the_previous_finished(make_schedule, clock, gateway):
    schedule = make_schedule(interval_ms=MINUTE, max_occurrences=3, overlap_policy="skip")
    run = fire_due(schedule, clock, 1)
    deliver_all(run.send)
    assert fire_due(schedule, clock, 2).status == "running"


def test_buffer_one_waits_for_the_run_in_progress_then_starts(make_schedule, clock, gateway, queued_tasks, django_capture_on_commit_callbacks):
    schedule = make_schedule(interval_ms=MINUTE, max_occurrences=6)
    first = fire_due(schedule, clock, 1)
    assert fire_due(schedule, clock, 2) is None  # occurrence 1 is still sending: 2 waits
    schedule.refresh_from_db()
    waiting_since = schedule.buffered_at
    assert waiting_since is not None and schedule.next_occurrence == 2
    assert schedule.next_run_at == schedule.first_run_at + timedelta(minutes=1)  # still its own fire time
    # Beat fires it again (its republish): it keeps waiting, since the same moment.
    assert schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=2) is None
    assert Schedule.objects.get(pk=schedule.pk).buffered_at == waiting_since
    assert runs(schedule) == [(1, "running", "")]

    # Occurrence 3 falls due too while 2 waits: the one buffer place is taken.
    clock.move_to(schedule.first_run_at + timedelta(minutes=2, seconds=30))
    queued_tasks()
    with django_capture_on_commit_callbacks(execute=True):
        deliver_all(first.send)  # occurrence 1 finishes ...
    assert [args for name, args, _ in queued_tasks() if name == ADVANCE] == [[str(schedule.id)]]  # ... and says so
    second = schedule_waiting_start(schedule_id=schedule.id)  # what that task does
    assert second.occurrence_number == 2 and second.status == "running"
    assert second.due_at == schedule.first_run_at + timedelta(minutes=1) and second.started_at > second.due_at
    assert runs(schedule) == [(1, "completed", ""), (2, "running", ""), (3, "skipped", "overlap")]
    schedule.refresh_from_db()
    assert (schedule.next_occurrence, schedule.buffered_at) == (4, None)
    assert schedule.next_run_at == schedule.first_run_at + timedelta(minutes=3)


def test_the_waiting_occurrence_is_exempt_from_the_catch_up_window(make_schedule, clock, gateway, settings):
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 60
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3)
    first = fire_due(schedule, clock, 1)
    fire_due(schedule, clock, 2)  # waits
    clock.move_to(schedule.first_run_at + timedelta(hours=1, minutes=30))  # far past the window
    deliver_all(first.send)
    second = schedule_waiting_start(schedule_id=schedule.id)
    assert second.occurrence_number == 2 and second.status == "running"
    assert not schedule.runs.filter(error_code="missed").exists()


def test_nothing_starts_while_a_run_is_in_progress(make_schedule, clock):
    schedule = make_schedule(interval_ms=MINUTE, max_occurrences=3)
    fire_due(schedule, clock, 1)
    fire_due(schedule, clock, 2)
    assert schedule_waiting_start(schedule_id=schedule.id) is None
    assert runs(schedule) == [(1, "running", "")]


def test_an_operator_run_now_starts_the_waiting_occurrence_at_once(make_schedule, clock):
    schedule = make_schedule(interval_ms=MINUTE, max_occurrences=3)
    fire_due(schedule, clock, 1)
    fire_due(schedule, clock, 2)
    run = schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=2, trigger=Run.Trigger.OPERATOR)
    assert run.occurrence_number == 2 and run.trigger == "operator"
    schedule.refresh_from_db()
    assert schedule.buffered_at is None and schedule.next_occurrence == 3


def test_a_pause_drops_the_wait_and_resume_skips_what_fell_due(make_schedule, clock):
    schedule = make_schedule(interval_ms=MINUTE, max_occurrences=5)
    fire_due(schedule, clock, 1)
    fire_due(schedule, clock, 2)
    schedule_pause(schedule=schedule)
    assert Schedule.objects.get(pk=schedule.pk).buffered_at is None
    clock.move_to(schedule.first_run_at + timedelta(minutes=2, seconds=30))
    schedule_resume(schedule=schedule)
    assert runs(schedule) == [(1, "running", ""), (2, "skipped", "paused"), (3, "skipped", "paused")]


def test_a_failed_run_is_not_in_progress(make_schedule, clock, session):
    from outbound.models import Session

    schedule = make_schedule(interval_ms=MINUTE, max_occurrences=3, overlap_policy="skip")
    Session.objects.filter(pk=session.pk).update(status=Session.Status.STOPPED)
    assert fire_due(schedule, clock, 1).status == "failed"
    Session.objects.filter(pk=session.pk).update(status=Session.Status.WORKING)
    assert fire_due(schedule, clock, 2).status == "running"


def test_the_policy_can_be_changed_by_patch_and_is_audited(api, make_schedule):
    schedule = make_schedule(calendar={"days_of_week": ["monday"], "send_time": "09:00", "timezone": "UTC"})
    body = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"schedule": {"overlap_policy": "skip"}}, format="json").json()
    assert body["overlap_policy"] == "skip" and body["kind"] == "calendar"
    assert body["next_run_at_ms"] == api.get(f"/v2/outbound/schedules/{schedule.id}").json()["next_run_at_ms"]
    assert ScheduleChange.objects.get(schedule=schedule).changes == {"overlap_policy": ["buffer_one", "skip"]}


@pytest.mark.parametrize("value, code", [("never", "invalid_choice"), (1, "invalid_type"), (None, "null")])
def test_it_refuses_an_unknown_policy(post_schedule, value, code):
    response = post_schedule(interval_ms=MINUTE, max_occurrences=2, overlap_policy=value)
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["error"]["details"]["fields"]["schedule.overlap_policy"]] == [code]
