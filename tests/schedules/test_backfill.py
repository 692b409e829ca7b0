"""POST /v2/outbound/schedules/{id}/backfill: run, once each and in order, occurrences that never ran."""

import threading
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from core.services.tokens import api_token_create
from core.time import to_ms
from outbound.models import Send, Session
from outbound.services.deliveries import delivery_attempt
from schedules.models import Schedule, ScheduleChange
from schedules.services import (
    schedule_backfill,
    schedule_cancel,
    schedule_occurrence_fire,
    schedule_pause,
    schedule_resume,
    schedule_waiting_start,
)

HOUR = 3_600_000
ADVANCE = "schedules.tasks.schedule_advance"


def deliver_all(send):
    for delivery in send.deliveries.all():
        delivery_attempt(delivery_id=delivery.id)


def runs(schedule):
    return [(r.occurrence_number, r.status, r.error_code, r.trigger) for r in schedule.runs.order_by("due_at", "occurrence_number")]


@pytest.fixture
def paused_through_four(make_schedule, clock):
    """Hourly, 6 times: paused before occurrence 1, resumed 3.5 h after it, so 1-4 were skipped."""
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=6)
    schedule_pause(schedule=schedule)
    clock.move_to(schedule.first_run_at + timedelta(hours=3, minutes=30))
    schedule = schedule_resume(schedule=schedule)
    assert [r[:3] for r in runs(schedule)] == [(k, "skipped", "paused") for k in (1, 2, 3, 4)]
    return schedule


def backfill(api, schedule, start, end):
    return api.post(f"/v2/outbound/schedules/{schedule.id}/backfill", {"from_ms": to_ms(start), "to_ms": to_ms(end)}, format="json")


def test_it_queues_what_a_pause_skipped_and_runs_it_in_order(api, paused_through_four, gateway, queued_tasks, django_capture_on_commit_callbacks):
    schedule = paused_through_four
    first = schedule.first_run_at
    queued_tasks()
    with django_capture_on_commit_callbacks(execute=True):
        response = backfill(api, schedule, first + timedelta(hours=1), first + timedelta(hours=3, minutes=1))
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["schedule_id"] == str(schedule.id) and body["from_ms"] == to_ms(first + timedelta(hours=1))
    assert [(o["occurrence_number"], o["due_at_ms"], o["fire_at_ms"], o["was"]) for o in body["occurrences"]] == [
        (k, to_ms(first) + (k - 1) * HOUR, to_ms(first) + (k - 1) * HOUR, "skipped") for k in (2, 3, 4)
    ]
    assert [args for name, args, _ in queued_tasks() if name == ADVANCE] == [[str(schedule.id)]]
    assert runs(schedule) == [(1, "skipped", "paused", "beat")] + [(k, "queued", "", "backfill") for k in (2, 3, 4)]
    detail = api.get(f"/v2/outbound/schedules/{schedule.id}").json()
    assert detail["status"] == "running" and detail["run_count"] == 4

    # One at a time, in due order: each starts when the one before it finished.
    for k in (2, 3, 4):
        run = schedule_waiting_start(schedule_id=schedule.id)
        assert (run.occurrence_number, run.status, run.trigger) == (k, "running", "backfill")
        assert schedule_waiting_start(schedule_id=schedule.id) is None  # k is in progress
        with django_capture_on_commit_callbacks(execute=True):
            deliver_all(run.send)
    assert runs(schedule) == [(1, "skipped", "paused", "beat")] + [(k, "completed", "", "backfill") for k in (2, 3, 4)]
    sends = Send.objects.filter(schedule_id=schedule.id).order_by("created_at")
    assert [s.occurrence_number for s in sends] == [2, 3, 4]
    schedule.refresh_from_db()
    assert (schedule.status, schedule.run_count, schedule.failed_run_count) == ("scheduled", 4, 0)
    change = ScheduleChange.objects.get(schedule=schedule)
    assert change.changes["backfill"][1]["occurrences"] == [2, 3, 4]


def test_an_occurrence_that_ran_is_never_repeated(api, paused_through_four, gateway):
    schedule = paused_through_four
    first = schedule.first_run_at
    assert len(backfill(api, schedule, first, first + timedelta(hours=2)).json()["occurrences"]) == 2
    # Again, and over a wider range: 1 and 2 are queued (taken), only 3 and 4 are new.
    again = backfill(api, schedule, first, first + timedelta(hours=5)).json()["occurrences"]
    assert [o["occurrence_number"] for o in again] == [3, 4]
    assert backfill(api, schedule, first, first + timedelta(hours=5)).json()["occurrences"] == []
    while (run := schedule_waiting_start(schedule_id=schedule.id)) is not None:
        deliver_all(run.send)
    assert backfill(api, schedule, first, first + timedelta(hours=5)).json()["occurrences"] == []
    assert Send.objects.filter(schedule_id=schedule.id).count() == 4


def test_it_runs_missed_occurrences_and_they_no_longer_count_as_failed(api, make_schedule, clock, settings, gateway):
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 60
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=3)
    clock.move_to(schedule.first_run_at + timedelta(hours=2, minutes=30))
    schedule_occurrence_fire(schedule_id=schedule.id)  # 1, 2, 3 are all past the window
    schedule.refresh_from_db()
    assert (schedule.status, schedule.failed_run_count) == ("completed_with_failures", 3)
    body = backfill(api, schedule, schedule.first_run_at, timezone.now()).json()
    assert [(o["occurrence_number"], o["was"]) for o in body["occurrences"]] == [(1, "missed"), (2, "missed"), (3, "missed")]
    schedule.refresh_from_db()
    # The ended schedule is open again while they run.
    assert (schedule.status, schedule.failed_run_count, schedule.completed_at) == ("running", 0, None)
    while (run := schedule_waiting_start(schedule_id=schedule.id)) is not None:
        deliver_all(run.send)
    schedule.refresh_from_db()
    assert (schedule.status, schedule.failed_run_count, schedule.run_count) == ("completed", 0, 3)
    assert schedule.completed_at is not None
    assert [r[:2] for r in runs(schedule)] == [(1, "completed"), (2, "completed"), (3, "completed")]


@pytest.mark.clock("2026-03-04T09:00:00+00:00")
def test_a_calendar_rule_backfills_occurrences_before_occurrence_1(api, make_schedule, gateway):
    # Every day at 08:00 UTC from 1 March; created on 4 March at 09:00, so occurrence 1 is 5 March.
    calendar = {"days_of_week": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
                "send_time": "08:00", "timezone": "UTC", "start_date": "2026-03-01"}
    schedule = make_schedule(calendar=calendar)
    assert schedule.first_run_at == datetime(2026, 3, 5, 8, tzinfo=dt_timezone.utc)
    body = backfill(api, schedule, datetime(2026, 3, 2, tzinfo=dt_timezone.utc), datetime(2026, 3, 10, tzinfo=dt_timezone.utc)).json()
    # 2, 3 and 4 March: the rule's 2nd, 3rd and 4th occurrences from its start date; the end is now (4 March 09:00).
    assert [(o["occurrence_number"], o["due_at_ms"], o["was"]) for o in body["occurrences"]] == [
        (10_002, to_ms(datetime(2026, 3, 2, 8, tzinfo=dt_timezone.utc)), "not_run"),
        (10_003, to_ms(datetime(2026, 3, 3, 8, tzinfo=dt_timezone.utc)), "not_run"),
        (10_004, to_ms(datetime(2026, 3, 4, 8, tzinfo=dt_timezone.utc)), "not_run"),
    ]
    assert to_ms(datetime(2026, 3, 4, 9, tzinfo=dt_timezone.utc)) <= body["to_ms"] <= to_ms(timezone.now())
    # The same numbers whoever asks again: 1 March is new, 2-4 are taken.
    again = backfill(api, schedule, datetime(2026, 3, 1, tzinfo=dt_timezone.utc), datetime(2026, 3, 4, 9, tzinfo=dt_timezone.utc)).json()
    assert [o["occurrence_number"] for o in again["occurrences"]] == [10_001]
    order = []
    while (run := schedule_waiting_start(schedule_id=schedule.id)) is not None:
        order.append(run.occurrence_number)
        deliver_all(run.send)
    assert order == [10_001, 10_002, 10_003, 10_004]  # in due order
    schedule.refresh_from_db()
    assert (schedule.run_count, schedule.next_occurrence, schedule.status) == (4, 1, "scheduled")
    assert schedule.next_run_at == datetime(2026, 3, 5, 8, tzinfo=dt_timezone.utc)  # its own occurrences go on
    # A resume after a pause continues from its own occurrences, not the backfilled ones.
    schedule_pause(schedule=schedule)
    assert schedule_resume(schedule=schedule).next_run_at == datetime(2026, 3, 5, 8, tzinfo=dt_timezone.utc)


def test_an_interval_rule_has_nothing_before_occurrence_1(api, make_schedule):
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=3)
    body = backfill(api, schedule, timezone.now() - timedelta(days=30), timezone.now()).json()
    assert body["occurrences"] == []
    assert not ScheduleChange.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_backfills_at_once_claim_each_occurrence_once(paused_through_four):
    schedule = paused_through_four
    barrier = threading.Barrier(4)
    results = []

    def run_one():
        barrier.wait()
        results.append([o.occurrence_number for o in schedule_backfill(
            schedule=schedule, start=schedule.first_run_at, end=timezone.now())])
        connection.close()

    threads = [threading.Thread(target=run_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results, key=len) == [[], [], [], [1, 2, 3, 4]]
    assert schedule.runs.filter(status="queued").count() == 4


def test_a_paused_schedule_holds_its_backfill_until_resumed(api, paused_through_four, queued_tasks, django_capture_on_commit_callbacks):
    schedule = schedule_pause(schedule=paused_through_four)
    backfill(api, schedule, schedule.first_run_at, timezone.now())
    assert schedule_waiting_start(schedule_id=schedule.id) is None
    assert Schedule.objects.get(pk=schedule.pk).status == "paused"
    queued_tasks()
    with django_capture_on_commit_callbacks(execute=True):
        schedule_resume(schedule=schedule)
    assert [args for name, args, _ in queued_tasks() if name == ADVANCE] == [[str(schedule.id)]]
    assert schedule_waiting_start(schedule_id=schedule.id).occurrence_number == 1


def test_a_cancel_skips_what_is_still_queued(api, paused_through_four):
    schedule = paused_through_four
    backfill(api, schedule, schedule.first_run_at, timezone.now())
    started = schedule_waiting_start(schedule_id=schedule.id)
    schedule_cancel(schedule=schedule)
    assert [r[:3] for r in runs(schedule)] == [(1, "running", "")] + [(k, "skipped", "canceled") for k in (2, 3, 4)]
    assert started.occurrence_number == 1
    assert schedule_waiting_start(schedule_id=schedule.id) is None
    refused = backfill(api, schedule, schedule.first_run_at, timezone.now())
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "schedule_canceled"


def test_a_backfilled_run_that_cannot_start_fails_and_the_next_is_tried(api, paused_through_four, session):
    schedule = paused_through_four
    backfill(api, schedule, schedule.first_run_at, timezone.now())
    Session.objects.filter(pk=session.pk).update(status=Session.Status.STOPPED)
    run = schedule_waiting_start(schedule_id=schedule.id)
    assert run is not None and run.status == "failed"
    # Each failed in turn (the session is stopped), and then the failure policy paused the schedule.
    assert [r[:3] for r in runs(schedule)] == [(k, "failed", "session_not_working") for k in (1, 2, 3, 4)]
    schedule.refresh_from_db()
    assert (schedule.failed_run_count, schedule.status) == (4, "paused")


def test_more_than_100_is_refused_and_nothing_is_queued(api, make_schedule, clock, settings):
    settings.SCHEDULE_MIN_INTERVAL_MS = 1000
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 1
    schedule = make_schedule(interval_ms=1000, max_occurrences=200)
    clock.move_to(schedule.first_run_at + timedelta(seconds=150))
    schedule_occurrence_fire(schedule_id=schedule.id)
    assert schedule.runs.filter(error_code="missed").count() > 100
    response = backfill(api, schedule, schedule.first_run_at, timezone.now())
    assert response.status_code == 422, response.json()
    error = response.json()["error"]
    assert error["code"] == "too_many_occurrences" and error["details"]["max"] == 100
    assert not schedule.runs.filter(status="queued").exists()
    assert backfill(api, schedule, schedule.first_run_at, schedule.first_run_at + timedelta(seconds=50)).status_code == 202


@pytest.mark.parametrize(
    "body, field, code",
    [
        ({"from_ms": 2, "to_ms": 1}, "to_ms", "empty_range"),
        ({"from_ms": 1, "to_ms": 1}, "to_ms", "empty_range"),
        ({"from_ms": "1", "to_ms": 2}, "from_ms", "invalid_type"),
        ({"to_ms": 2}, "from_ms", "required"),
        ({"from_ms": -1, "to_ms": 2}, "from_ms", "min_value"),
        ({"from_ms": 1, "to_ms": 10**16}, "to_ms", "max_value"),
        ({"from_ms": 1, "to_ms": 2, "until": 3}, "until", "unknown_field"),
    ],
)
def test_it_refuses_a_bad_range(api, make_schedule, body, field, code):
    schedule = make_schedule()
    response = api.post(f"/v2/outbound/schedules/{schedule.id}/backfill", body, format="json")
    assert response.status_code == 400, response.json()
    assert code in [e["code"] for e in response.json()["error"]["details"]["fields"][field]]


def test_it_needs_the_schedules_write_scope_and_hides_other_accounts(account, user, make_schedule, other_account):
    schedule = make_schedule()
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(account=account, user=user, scopes=['read'])[1]}")
    body = {"from_ms": 0, "to_ms": 1}
    refused = reader.post(f"/v2/outbound/schedules/{schedule.id}/backfill", body, format="json")
    assert refused.status_code == 403 and refused.json()["error"]["details"]["required_scope"] == "schedules:write"
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(account=other_account)[1]}")
    assert theirs.post(f"/v2/outbound/schedules/{schedule.id}/backfill", body, format="json").status_code == 404


def test_the_schema_lists_the_backfill_and_its_refusals(db):
    import io

    import yaml
    from django.core.management import call_command

    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    operation = schema["paths"]["/v2/outbound/schedules/{schedule_id}/backfill"]["post"]
    assert operation["operationId"] == "outbound_schedules_backfill"
    assert {"202", "400", "404", "409", "415", "422"} <= set(operation["responses"])
    assert "schedule_canceled" in operation["responses"]["409"]["description"]
    assert "too_many_occurrences" in operation["responses"]["422"]["description"]
    request = schema["components"]["schemas"]["BackfillInputRequest"]
    assert request["required"] == ["from_ms", "to_ms"] and request["additionalProperties"] is False
