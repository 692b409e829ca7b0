"""POST /v2/outbound/sends with `schedule`: the seed's `schedule` response and every validation rule."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from core.time import to_ms
from outbound.models import Delivery, IdempotencyKey, Send
from schedules.models import Schedule

# API contract: bin/test runs these on SQLite too (tests/conftest.py).
pytestmark = pytest.mark.contract


def test_it_creates_an_interval_schedule(post_schedule):
    first = to_ms(timezone.now() + timedelta(hours=2))
    response = post_schedule(first_run_at_ms=first, interval_ms=3_600_000, max_occurrences=3)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert set(body) == {"status", "schedule", "request_id"}
    assert body["status"] == "accepted"
    part = body["schedule"]
    assert set(part) == {"status", "schedule_id", "workflow_id", "next_run_at_ms", "interval_ms", "max_occurrences"}
    assert part["status"] == "accepted"
    assert part["workflow_id"] == f"outbound:text-send-schedule:{part['schedule_id']}"
    assert (part["next_run_at_ms"], part["interval_ms"], part["max_occurrences"]) == (first, 3_600_000, 3)

    schedule = Schedule.objects.get(pk=part["schedule_id"])
    assert schedule.status == "scheduled" and schedule.next_occurrence == 1
    assert schedule.groups.count() == 2
    # Nothing is sent now.
    assert not Send.objects.exists() and not Delivery.objects.exists()


def test_it_registers_the_schedule_with_django_celery_beat(post_schedule):
    first = to_ms(timezone.now() + timedelta(hours=2))
    part = post_schedule(first_run_at_ms=first).json()["schedule"]
    task = PeriodicTask.objects.get(name=part["workflow_id"])
    assert task.task == "schedules.tasks.schedule_fire"
    assert json.loads(task.kwargs) == {"schedule_id": part["schedule_id"]}
    assert task.enabled and task.one_off
    assert to_ms(task.clocked.clocked_time) == first
    assert Schedule.objects.get(pk=part["schedule_id"]).periodic_task == task


def test_a_one_shot_defaults_to_one_occurrence_and_no_interval(post_schedule):
    part = post_schedule().json()["schedule"]
    assert (part["max_occurrences"], part["interval_ms"]) == (1, None)


def test_it_replays_a_duplicate_schedule_request(post_schedule):
    first = to_ms(timezone.now() + timedelta(hours=2))
    one = post_schedule(first_run_at_ms=first, idempotency_key="weekly").json()
    two = post_schedule(first_run_at_ms=first, idempotency_key="weekly").json()
    assert two["status"] == "duplicate_accepted"
    assert two["schedule"] == one["schedule"]
    assert Schedule.objects.count() == 1


def test_it_refuses_a_reused_key_with_another_rule(post_schedule):
    post_schedule(idempotency_key="k", max_occurrences=1)
    response = post_schedule(idempotency_key="k", max_occurrences=2, interval_ms=120_000)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"


def _refused(response, field, code):
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert code in [e["code"] for e in error["details"]["fields"][field]], error
    assert not Schedule.objects.exists()
    assert not PeriodicTask.objects.filter(task="schedules.tasks.schedule_fire").exists()
    assert not IdempotencyKey.objects.exists()


def test_it_refuses_a_first_run_in_the_past(post_schedule):
    _refused(post_schedule(first_run_at_ms=to_ms(timezone.now() - timedelta(minutes=1))), "schedule.first_run_at_ms", "first_run_in_past")


def test_it_tolerates_small_clock_skew(post_schedule, settings):
    settings.SCHEDULE_CLOCK_SKEW_MS = 5000
    assert post_schedule(first_run_at_ms=to_ms(timezone.now() - timedelta(seconds=2))).status_code == 202


def test_it_refuses_a_first_run_beyond_the_horizon(post_schedule, settings):
    settings.SCHEDULE_HORIZON_DAYS = 30
    late = to_ms(timezone.now() + timedelta(days=31))
    _refused(post_schedule(first_run_at_ms=late), "schedule.first_run_at_ms", "first_run_beyond_horizon")


def test_it_refuses_an_interval_below_the_minimum(post_schedule):
    _refused(post_schedule(interval_ms=59_999, max_occurrences=2), "schedule.interval_ms", "interval_too_short")


def test_the_minimum_interval_is_configurable(post_schedule, settings):
    settings.SCHEDULE_MIN_INTERVAL_MS = 1000
    assert post_schedule(interval_ms=1000, max_occurrences=2).status_code == 202


@pytest.mark.parametrize("count", [0, 10_001])
def test_it_refuses_max_occurrences_out_of_range(post_schedule, count):
    code = "min_value" if count == 0 else "max_value"
    _refused(post_schedule(max_occurrences=count, interval_ms=60_000), "schedule.max_occurrences", code)


def test_it_requires_an_interval_for_several_occurrences(post_schedule):
    _refused(post_schedule(max_occurrences=2), "schedule.interval_ms", "interval_required")


def test_it_requires_first_run_at_ms(post_schedule):
    response = post_schedule(first_run_at_ms=None)
    _refused(response, "schedule.first_run_at_ms", "null")


def test_it_refuses_unknown_schedule_fields(post_schedule):
    _refused(post_schedule(first_run_at=123), "schedule.first_run_at", "unknown_field")


def test_it_refuses_a_schedule_that_is_not_an_object(api, session, make_groups):
    body = {"session_id": str(session.id), "group_ids": [str(make_groups(1)[0].id)], "idempotency_key": "k", "text": "x", "schedule": [1]}
    _refused(api.post("/v2/outbound/sends", body, format="json"), "schedule", "invalid")


def test_it_refuses_a_schedule_for_a_session_that_is_not_working(post_schedule, session):
    session.status = "STOPPED"
    session.save()
    response = post_schedule()
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "session_not_working"
    assert not Schedule.objects.exists()


def test_a_retry_after_the_first_run_passed_gets_the_first_answer(post_schedule, clock):
    # A client times out, retries an hour later: the send had been accepted,
    # so the answer is the first one, not first_run_in_past.
    first = to_ms(timezone.now() + timedelta(seconds=30))
    accepted = post_schedule(first_run_at_ms=first, idempotency_key="retry-1").json()
    clock.shift(timedelta(hours=1))
    replay = post_schedule(first_run_at_ms=first, idempotency_key="retry-1")
    assert replay.status_code == 202, replay.json()
    assert replay.json()["status"] == "duplicate_accepted"
    assert replay.json()["schedule"] == accepted["schedule"]
    assert Schedule.objects.count() == 1


def test_a_changed_retry_after_the_first_run_passed_is_a_reused_key(post_schedule, clock):
    first = to_ms(timezone.now() + timedelta(seconds=30))
    post_schedule(first_run_at_ms=first, idempotency_key="retry-2")
    clock.shift(timedelta(hours=1))
    response = post_schedule(first_run_at_ms=first, idempotency_key="retry-2", text="Other text")
    assert response.status_code == 422 and response.json()["error"]["code"] == "idempotency_key_reused"
    # A new key with the same past time is validated as usual.
    fresh = post_schedule(first_run_at_ms=first, idempotency_key="retry-3")
    assert fresh.status_code == 400
    assert fresh.json()["error"]["details"]["fields"]["schedule.first_run_at_ms"][0]["code"] == "first_run_in_past"
