"""Real beat and worker processes fire schedules: on time, once, and never after a cancel."""

import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from core.time import to_ms
from outbound.models import Session
from outbound.services.sessions import session_status_set
from schedules.models import Schedule

from .stack import wait_until

pytestmark = pytest.mark.e2e

INTERVAL_MS = 2000


@pytest.fixture
def schedule_of(api, session, make_groups, settings):
    settings.SCHEDULE_MIN_INTERVAL_MS = 1000  # the API runs in this process

    def create(groups, *, occurrences=3, start_in=2.0):
        first = to_ms(timezone.now() + timedelta(seconds=start_in))
        body = {
            "session_id": str(session.id),
            "group_ids": [str(g.id) for g in groups],
            "idempotency_key": f"e2e-{uuid.uuid4()}",
            "text": "Scheduled hello",
            "schedule": {"first_run_at_ms": first, "interval_ms": INTERVAL_MS, "max_occurrences": occurrences},
        }
        response = api.post("/v2/outbound/sends", body, format="json")
        assert response.status_code == 202, response.json()
        return Schedule.objects.get(pk=response.json()["schedule"]["schedule_id"])

    return create


def wait_for_status(schedule, statuses, timeout=40):
    return wait_until(
        lambda: Schedule.objects.filter(pk=schedule.pk, status__in=statuses).first(),
        timeout=timeout,
        message=f"schedule to reach {statuses}",
    )


def test_a_schedule_runs_each_occurrence_once_and_on_time(stack, api, make_groups, ledger, schedule_of):
    stack.start_worker()
    stack.start_beat()
    groups = make_groups(2)
    schedule = schedule_of(groups)
    done = wait_for_status(schedule, ["completed", "completed_with_failures"])
    assert done.status == "completed"
    assert (done.run_count, done.failed_run_count, done.next_run_at) == (3, 0, None)
    messages = ledger.messages()
    assert len(messages) == 3 * len(groups)
    assert ledger.per_chat() == {g.chat_id: 3 for g in groups}
    # Never early: each occurrence's messages reached the gateway at or after its due time.
    first_ms = to_ms(schedule.first_run_at)
    received = sorted(m["received_at_ms"] for m in messages)
    for k in range(3):
        batch = received[k * len(groups):(k + 1) * len(groups)]
        assert min(batch) >= first_ms + k * INTERVAL_MS
    runs = list(done.runs.order_by("occurrence_number"))
    assert [r.occurrence_number for r in runs] == [1, 2, 3]
    assert all(r.status == "completed" and r.started_at >= r.due_at for r in runs)
    detail = api.get(f"/v2/outbound/schedules/{schedule.id}").json()
    assert detail["status"] == "completed" and detail["run_count"] == 3 and len(detail["runs"]) == 3


def test_a_canceled_schedule_sends_nothing_more(stack, api, make_groups, ledger, schedule_of):
    stack.start_worker()
    stack.start_beat()
    groups = make_groups(2)
    schedule = schedule_of(groups, start_in=1.0)
    wait_until(lambda: len(ledger.messages()) == len(groups), timeout=30, message="the first occurrence")
    assert api.post(f"/v2/outbound/schedules/{schedule.id}/cancel").status_code == 200
    # Wait past the two remaining due times.
    wait_until(lambda: timezone.now() > schedule.first_run_at + timedelta(milliseconds=2 * INTERVAL_MS + 2000), timeout=30)
    assert len(ledger.messages()) == len(groups)
    schedule.refresh_from_db()
    assert schedule.status == "canceled" and schedule.run_count == 1


def test_a_session_stopped_midway_fails_the_remaining_runs(stack, api, session, make_groups, ledger, schedule_of):
    stack.start_worker()
    stack.start_beat()
    groups = make_groups(2)
    schedule = schedule_of(groups, start_in=1.0)
    wait_until(lambda: schedule.runs.filter(status="completed").exists(), timeout=30, message="the first run")
    # The session drops: the gateway says so and so does our record of it.
    ledger.configure(sessions={session.name: "STOPPED"})
    session_status_set(session=session, status=Session.Status.STOPPED)
    done = wait_for_status(schedule, ["completed", "completed_with_failures"])
    assert done.status == "completed_with_failures"
    assert (done.run_count, done.failed_run_count) == (3, 2)
    failed = done.runs.filter(status="failed").order_by("occurrence_number")
    assert [(r.occurrence_number, r.error_code) for r in failed] == [(2, "session_not_working"), (3, "session_not_working")]
    assert len(ledger.messages()) == len(groups)


def test_preview_equals_what_beat_fires(stack, api, make_groups, ledger, schedule_of):
    stack.start_worker()
    stack.start_beat()
    groups = make_groups(1)
    schedule = schedule_of(groups, start_in=1.5)
    previewed = [o["due_at_ms"] for o in api.get(f"/v2/outbound/schedules/{schedule.id}/preview?count=10").json()["occurrences"]]
    done = wait_for_status(schedule, ["completed", "completed_with_failures"])
    fired = [to_ms(r.due_at) for r in done.runs.order_by("occurrence_number")]
    assert fired == previewed and len(fired) == 3
    received = sorted(m["received_at_ms"] for m in ledger.messages())
    assert all(got >= due for got, due in zip(received, previewed))


def test_a_calendar_occurrence_fires_at_its_previewed_local_time(stack, api, session, make_groups, ledger):
    import zoneinfo

    stack.start_worker()
    stack.start_beat()
    zone = zoneinfo.ZoneInfo("America/New_York")
    target = (timezone.now() + timedelta(seconds=4)).astimezone(zone)
    calendar = {
        "days_of_week": [target.strftime("%A").lower()],
        "send_time": target.strftime("%H:%M:%S"),
        "timezone": "America/New_York",
        "start_date": target.date().isoformat(),
    }
    draft = api.post("/v2/outbound/schedules/preview?count=2", {"calendar": calendar}, format="json").json()["occurrences"]
    groups = make_groups(1)
    body = {
        "session_id": str(session.id), "group_ids": [str(g.id) for g in groups], "idempotency_key": f"e2e-{uuid.uuid4()}",
        "text": "Calendar hello", "schedule": {"calendar": calendar, "max_occurrences": 2},
    }
    created = api.post("/v2/outbound/sends", body, format="json").json()["schedule"]
    assert created["next_run_at_ms"] == draft[0]["due_at_ms"]
    schedule = Schedule.objects.get(pk=created["schedule_id"])
    wait_until(lambda: schedule.runs.filter(status="completed").exists(), timeout=30, message="the calendar occurrence")
    run = schedule.runs.get()
    assert to_ms(run.due_at) == draft[0]["due_at_ms"] and run.started_at >= run.due_at
    schedule.refresh_from_db()
    # The next one is a week later at the same local time, as the preview said.
    assert to_ms(schedule.next_run_at) == draft[1]["due_at_ms"]
    assert [m["received_at_ms"] >= draft[0]["due_at_ms"] for m in ledger.messages()] == [True]


def test_a_herd_due_in_the_same_second_goes_out_in_a_few_messages_and_each_runs_once(stack, api, session, make_groups, ledger):
    worker = stack.start_worker()
    stack.start_beat()
    groups = make_groups(120)
    ids = []
    for group in groups:
        body = {
            "session_id": str(session.id), "group_ids": [str(group.id)], "idempotency_key": f"e2e-{uuid.uuid4()}",
            "text": "Herd", "schedule": {"first_run_at_ms": to_ms(timezone.now() + timedelta(minutes=5))},
        }
        ids.append(api.post("/v2/outbound/sends", body, format="json").json()["schedule"]["schedule_id"])
    # All due at the same instant, as clients scheduling the same second would leave them.
    due = timezone.now() + timedelta(seconds=3)
    Schedule.objects.filter(pk__in=ids).update(first_run_at=due, next_run_at=due)

    wait_until(lambda: Schedule.objects.filter(pk__in=ids, status="completed").count() == len(ids), timeout=60,
               message="every schedule of the herd to complete")
    assert ledger.per_chat() == {g.chat_id: 1 for g in groups}
    assert all(r.started_at >= due for s in Schedule.objects.filter(pk__in=ids) for r in s.runs.all())
    # Beat published what fell due in one tick 50 to a message, not one message per occurrence.
    fire_messages = re.findall(r"schedules_fire\[([0-9a-f-]+)\] received", stack.log_of(worker))
    assert 3 <= len(fire_messages) <= 6
