"""An unhealthy session pauses its two schedules; resuming them applies each one's catch-up window.

Real worker and beat processes, on an injected clock: the stack is started
again with OUTBOUND_CLOCK_OFFSET_SECONDS moved hours ahead (outbound/clock.py),
so an outage of 5 minutes and a pause of 3 hours take seconds. The test
process moves its own service clock the same way for the resume (the API
runs in this process).

Timeline (T0: the first occurrence; hourly):
  T0            occurrence 1 of both is sent; then the session stops
  +5.5 min      beat's health check: STOPPED for over 300 s -> unhealthy, both paused
  T0+3h05       still paused: occurrences 2, 3, 4 fell due, nothing fired
  resume        A (window 2 h): 2 skipped, 3 and 4 sent late; B (window 60 s): 2, 3, 4 skipped, 5 next
"""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Event
from core.time import from_ms, to_ms
from outbound.services.sessions import session_status_set
from schedules.models import Run, Schedule

from .stack import wait_until

pytestmark = pytest.mark.e2e

HOUR_MS = 3_600_000
UNHEALTHY_AFTER_S = 300


def test_an_unhealthy_session_pauses_two_schedules_and_their_resume_catches_up(
    stack, api, session, make_groups, ledger, settings
):
    stack.env.update(OUTBOUND_SESSION_UNHEALTHY_AFTER_SECONDS=str(UNHEALTHY_AFTER_S), OUTBOUND_SESSION_HEALTH_CHECK_SECONDS="0.5")
    group_a, group_b = make_groups(2)
    first = from_ms(to_ms(timezone.now() + timedelta(seconds=3)))  # the API's precision

    def create(group, window_ms):
        body = {
            "session_id": str(session.id), "group_ids": [str(group.id)], "idempotency_key": f"e2e-{uuid.uuid4()}",
            "text": "Hourly hello",
            "schedule": {"first_run_at_ms": to_ms(first), "interval_ms": HOUR_MS, "max_occurrences": 10,
                         "catchup_window_ms": window_ms},
        }
        response = api.post("/v2/outbound/sends", body, format="json")
        assert response.status_code == 202, response.json()
        return Schedule.objects.get(pk=response.json()["schedule"]["schedule_id"])

    a, b = create(group_a, 2 * HOUR_MS), create(group_b, 60_000)

    def run(schedule, k):
        return Run.objects.filter(schedule=schedule, occurrence_number=k).first()

    def restart(offset_s: float):
        """Worker and beat again, their clock offset_s ahead of this process's."""
        stack.stop()
        stack.env["OUTBOUND_CLOCK_OFFSET_SECONDS"] = str(offset_s)
        return stack.start_worker(), stack.start_beat()

    # Occurrence 1 of both is sent on time.
    restart(0)
    wait_until(lambda: all(getattr(run(s, 1), "status", None) == "completed" for s in (a, b)), timeout=40,
               message="occurrence 1 of both schedules to complete")
    assert ledger.per_chat() == {group_a.chat_id: 1, group_b.chat_id: 1}

    # The session stops (the gateway says so too, so the periodic refresh agrees).
    ledger.configure(sessions={session.name: "STOPPED"})
    session_status_set(session=session, status="STOPPED")
    stopped_at = timezone.now()

    # 5.5 minutes later by the injected clock: beat's health check judges it unhealthy and both pause.
    restart((stopped_at - timezone.now()).total_seconds() + UNHEALTHY_AFTER_S + 30)
    paused = wait_until(lambda: Schedule.objects.filter(pk__in=[a.pk, b.pk], status="paused").count() == 2, timeout=40,
                        message="both schedules to pause")
    assert paused
    for schedule in Schedule.objects.filter(pk__in=[a.pk, b.pk]):
        assert schedule.pause_source == "session_unhealthy" and schedule.next_run_at is None
        assert f"Session {session.name} is unhealthy: STOPPED since" in schedule.pause_reason
    [event] = Event.objects.filter(type="session.unhealthy")
    assert event.data["session_id"] == str(session.id) and event.data["code"] == "not_working"
    session.refresh_from_db()
    assert session.unhealthy_since is not None

    # Three hours and five minutes after T0, still paused: occurrences 2-4 fell due and nothing fired.
    offset = (first + timedelta(hours=3, minutes=5) - timezone.now()).total_seconds()
    worker, _ = restart(offset)
    # The worker has run beat's health check twice at the new time: beat has polled the schedules many times.
    wait_until(lambda: stack.log_of(worker).count("outbound.tasks.sessions_health_check") >= 4, timeout=30,
               message="two health checks at the new time")
    assert Run.objects.filter(schedule__in=[a, b]).count() == 2
    assert len(ledger.messages()) == 2

    # The session works again; an operator resumes both through the API, at the stack's time.
    ledger.configure(sessions={session.name: "WORKING"})
    settings.OUTBOUND_CLOCK_OFFSET_SECONDS = offset  # this process's service clock: the stack's
    session_status_set(session=session, status="WORKING")
    for schedule in (a, b):
        response = api.post(f"/v2/outbound/schedules/{schedule.id}/resume")
        assert response.status_code == 200 and response.json()["status"] == "scheduled", response.json()

    # A: occurrence 2 (2 h 05 ago) is past its 2 h window and skipped; 3 and 4 are sent now, one after the other.
    wait_until(lambda: all(getattr(run(a, k), "status", None) == "completed" for k in (3, 4)), timeout=60,
               message="A's occurrences 3 and 4 to be sent")
    a.refresh_from_db()
    assert [(r.occurrence_number, r.status, r.error_code) for r in a.runs.order_by("occurrence_number")] == [
        (1, "completed", ""), (2, "skipped", "paused"), (3, "completed", ""), (4, "completed", ""),
    ]
    # Late: 3 certainly; 4 too unless it waited for 3 to finish (buffer_one: late by design, not counted).
    assert a.next_occurrence == 5 and a.status == "scheduled" and a.late_run_count in (1, 2)
    # B: its 60 s window keeps none of them; its next is occurrence 5, in an hour.
    b.refresh_from_db()
    assert [(r.occurrence_number, r.status) for r in b.runs.order_by("occurrence_number")] == [
        (1, "completed"), (2, "skipped"), (3, "skipped"), (4, "skipped"),
    ]
    assert b.next_occurrence == 5 and b.next_run_at == first + timedelta(hours=4)
    # Nothing lost, nothing twice: A's group got 1 + 2 messages, B's 1.
    assert ledger.per_chat() == {group_a.chat_id: 3, group_b.chat_id: 1}
    detail = api.get(f"/v2/outbound/schedules/{a.id}").json()
    assert detail["stats"] == {"missed": 0, "skipped": 1, "late": a.late_run_count, "late_after_ms": 5000}
