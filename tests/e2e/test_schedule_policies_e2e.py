"""Overlap policies and backfill with real beat and worker processes and a slow gateway.

The fake gateway takes LATENCY_S to answer each message, longer than the
schedules' interval, so occurrences fall due while the previous run is
still sending. Assertions are about order and overlap (which hold however
slow the machine is), with margins for a busy two-core machine.
"""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from core.time import to_ms
from schedules.models import Run, Schedule

from .stack import wait_until

pytestmark = pytest.mark.e2e

INTERVAL_MS = 1000
LATENCY_S = 2.5  # under the stack's WAHA_TIMEOUT_SECONDS (5)
ENDED = ("completed", "completed_with_failures")


@pytest.fixture
def schedule_with(api, session, make_groups, settings):
    settings.SCHEDULE_MIN_INTERVAL_MS = 1000  # the API runs in this process

    def create(*, occurrences, policy, start_in=1.5, **rule):
        first = to_ms(timezone.now() + timedelta(seconds=start_in))
        body = {
            "session_id": str(session.id),
            "group_ids": [str(g.id) for g in make_groups(1)],
            "idempotency_key": f"e2e-{uuid.uuid4()}",
            "text": "Policy hello",
            "schedule": {"first_run_at_ms": first, "interval_ms": INTERVAL_MS, "max_occurrences": occurrences,
                         "overlap_policy": policy, **rule},
        }
        response = api.post("/v2/outbound/sends", body, format="json")
        assert response.status_code == 202, response.json()
        return Schedule.objects.get(pk=response.json()["schedule"]["schedule_id"])

    return create


def wait_ended(schedule, timeout=60):
    return wait_until(lambda: Schedule.objects.filter(pk=schedule.pk, status__in=ENDED).first(), timeout=timeout,
                      message="the schedule to end")


def sent_runs(schedule):
    return list(schedule.runs.exclude(send=None).order_by("started_at"))


def assert_one_at_a_time(runs):
    for before, after in zip(runs, runs[1:]):
        assert after.started_at >= before.completed_at, (before.occurrence_number, after.occurrence_number)


def test_buffer_one_runs_one_at_a_time_the_waiting_one_right_after(stack, ledger, schedule_with):
    ledger.configure(latency_ms=int(LATENCY_S * 1000))
    stack.start_worker()
    stack.start_beat()
    schedule = schedule_with(occurrences=5, policy="buffer_one")
    done = wait_ended(schedule)
    runs = list(done.runs.order_by("occurrence_number"))
    assert len(runs) == 5 and done.run_count == 5
    sent = sent_runs(done)
    skipped = [r for r in runs if r.status == "skipped"]
    assert all(r.status == "completed" for r in sent) and sent[0].occurrence_number == 1
    assert skipped and all(r.error_code == "overlap" and r.send_id is None for r in skipped)
    assert not done.runs.filter(error_code="missed").exists()
    # The defining property: never two sending at once ...
    assert_one_at_a_time(sent)
    # ... and the one that waited starts as soon as the one before it finished (not at its next poll).
    for before, after in zip(sent, sent[1:]):
        assert after.started_at - before.completed_at < timedelta(seconds=2), (before.occurrence_number, after.occurrence_number)
        assert after.started_at > after.fire_at  # it waited
    assert len(ledger.messages()) == len(sent)


def test_skip_records_what_fell_due_while_a_run_was_sending(stack, ledger, schedule_with):
    ledger.configure(latency_ms=int(LATENCY_S * 1000))
    stack.start_worker()
    stack.start_beat()
    schedule = schedule_with(occurrences=5, policy="skip")
    done = wait_ended(schedule)
    runs = list(done.runs.order_by("occurrence_number"))
    assert len(runs) == 5 and runs[0].status == "completed"
    sent = sent_runs(done)
    assert_one_at_a_time(sent)
    skipped = [r for r in runs if r.status == "skipped"]
    # Occurrences 2 and 3 fell due within the first run's 2.5 s: skipped at their fire time, not later.
    assert [r.occurrence_number for r in skipped][:2] == [2, 3]
    assert all(r.error_code == "overlap" for r in skipped)
    for run in skipped:
        assert run.started_at - run.fire_at < timedelta(seconds=3)
    # Nothing waited: every run that sent started on time.
    assert all(r.started_at - r.fire_at < timedelta(seconds=3) for r in sent)


def test_allow_all_sends_while_the_previous_is_still_sending(stack, ledger, schedule_with):
    ledger.configure(latency_ms=int(LATENCY_S * 1000))
    stack.start_worker(concurrency=3)
    stack.start_beat()
    schedule = schedule_with(occurrences=3, policy="allow_all")
    done = wait_ended(schedule)
    runs = list(done.runs.order_by("occurrence_number"))
    assert [r.status for r in runs] == ["completed"] * 3
    # Occurrence 2 started (on time) before occurrence 1 finished.
    assert runs[1].started_at < runs[0].completed_at
    assert all(r.started_at - r.fire_at < timedelta(seconds=3) for r in runs)


def test_a_backfill_runs_what_a_pause_skipped_once_each_in_order(stack, api, ledger, schedule_with):
    ledger.configure(latency_ms=1500)
    stack.start_worker()
    stack.start_beat()
    schedule = schedule_with(occurrences=3, policy="buffer_one", start_in=3.0)
    assert api.post(f"/v2/outbound/schedules/{schedule.id}/pause").status_code == 200
    wait_until(lambda: timezone.now() > schedule.first_run_at + timedelta(seconds=2.5), timeout=30, message="3 due times")
    resumed = api.post(f"/v2/outbound/schedules/{schedule.id}/resume").json()
    assert resumed["status"] == "completed" and [r["status"] for r in resumed["runs"]] == ["skipped"] * 3
    assert ledger.messages() == []

    body = {"from_ms": to_ms(schedule.first_run_at), "to_ms": to_ms(timezone.now())}
    first = api.post(f"/v2/outbound/schedules/{schedule.id}/backfill", body, format="json")
    again = api.post(f"/v2/outbound/schedules/{schedule.id}/backfill", body, format="json")
    assert first.status_code == 202 and [o["occurrence_number"] for o in first.json()["occurrences"]] == [1, 2, 3]
    assert again.status_code == 202 and again.json()["occurrences"] == []  # claimed already: never twice
    done = wait_ended(schedule)
    assert done.status == "completed"
    runs = list(done.runs.order_by("occurrence_number"))
    assert [(r.status, r.trigger) for r in runs] == [("completed", Run.Trigger.BACKFILL)] * 3
    assert [r.occurrence_number for r in sorted(runs, key=lambda r: r.started_at)] == [1, 2, 3]
    assert_one_at_a_time(runs)
    assert len(ledger.messages()) == 3


def test_each_schedule_catches_up_within_its_own_window(stack, ledger, schedule_with):
    """Beat and workers are down when two occurrences fall due; they come back 11 s later.

    The schedule with a 10 s window records its occurrence missed; the one
    without a window of its own runs late under the global grace (600 s).
    """
    strict = schedule_with(occurrences=1, policy="buffer_one", catchup_window_ms=10_000)
    lenient = schedule_with(occurrences=1, policy="buffer_one")
    wait_until(lambda: timezone.now() > strict.first_run_at + timedelta(seconds=11), timeout=30, message="11 s late")
    stack.start_worker()
    stack.start_beat()
    strict_done, lenient_done = wait_ended(strict), wait_ended(lenient)
    missed = strict_done.runs.get()
    assert (missed.status, missed.error_code, missed.send_id) == ("failed", "missed", None)
    late = lenient_done.runs.get()
    assert late.status == "completed" and late.started_at - late.fire_at > timedelta(seconds=11)
    assert len(ledger.messages()) == 1


def test_jitter_fires_each_occurrence_at_its_own_offset_never_before(stack, ledger, schedule_with):
    stack.start_worker()
    stack.start_beat()
    schedule = schedule_with(occurrences=3, policy="allow_all", interval_ms=4000, jitter_ms=2000)
    done = wait_ended(schedule, timeout=90)
    runs = list(done.runs.order_by("occurrence_number"))
    assert [r.status for r in runs] == ["completed"] * 3
    offsets = [schedule.jitter_offset_ms(r.occurrence_number) for r in runs]
    assert [r.jitter_offset_ms for r in runs] == offsets and any(offsets)  # fixed per occurrence, shown on the run
    for run, offset in zip(runs, offsets):
        assert run.fire_at == run.due_at + timedelta(milliseconds=offset)
        assert run.started_at >= run.fire_at  # never before its fire time, so never before its due time
        assert run.started_at - run.fire_at < timedelta(seconds=3)
