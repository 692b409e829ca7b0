"""Daily caps and quiet hours with real worker processes, on an injected clock.

The worker's clock is shifted (OUTBOUND_CLOCK_OFFSET_SECONDS, outbound/clock.py)
so that it stands 30 seconds before a local midnight, or before a quiet-hours
end, whatever the real time: the test never depends on the date or the hour.
The fake gateway stamps what it receives with the real clock; "before the
boundary" below is the boundary minus the shift.
"""

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.models import Event
from outbound.models import Delivery, Send, Session

from .stack import wait_until

pytestmark = pytest.mark.e2e

LEAD = timedelta(seconds=30)  # how long before the boundary the workers start (their start-up takes seconds on a busy machine)


def shift_to(stack, *, local: time, zone: ZoneInfo) -> tuple[datetime, float]:
    """Shift the worker's clock so that it reads `local` (in `zone`) LEAD from now; (the boundary instant, shift in s)."""
    real_now = datetime.now(UTC)
    boundary_day = (real_now + LEAD).astimezone(zone).date() + timedelta(days=1)
    boundary = datetime.combine(boundary_day, local, tzinfo=zone).astimezone(UTC)
    offset = (boundary - LEAD - real_now).total_seconds()
    stack.env["OUTBOUND_CLOCK_OFFSET_SECONDS"] = str(offset)
    return boundary, offset


def post_send(api, session, groups, text):
    body = {"session_id": str(session.id), "group_ids": [str(g.id) for g in groups],
            "idempotency_key": f"e2e-{uuid.uuid4()}", "text": text}
    response = api.post("/v2/outbound/sends", body, format="json")
    assert response.status_code == 202, response.json()
    return response.json()["send"]["send_id"]


def test_a_cap_reached_is_carried_to_the_next_local_day(stack, api, session, make_groups, ledger):
    zone = ZoneInfo("Asia/Kolkata")  # +05:30: its midnight is no UTC hour
    Session.objects.filter(pk=session.pk).update(time_zone="Asia/Kolkata", daily_message_cap=3, messages_per_minute=120, send_delay_max_ms=0)
    midnight, offset = shift_to(stack, local=time(0), zone=zone)
    real_midnight_ms = (midnight.timestamp() - offset) * 1000
    stack.start_worker(concurrency=2)
    groups = make_groups(5)
    send_id = post_send(api, session, groups, "Capped")

    # Three go today; two wait for tomorrow, queued, with the reason and the time.
    def deferred():
        results = api.get(f"/v2/outbound/sends/{send_id}").json()["results"]
        waiting = [r for r in results if r["deferred_reason"] == "daily_cap"]
        return waiting if len(waiting) == 2 and sum(r["status"] == "sent" for r in results) == 3 else None

    waiting = wait_until(deferred, timeout=15, message="three sent and two deferred")
    assert {(r["status"], r["not_before_at_ms"], r["attempts"]) for r in waiting} == {("queued", int(midnight.timestamp() * 1000), 0)}
    assert len(ledger.messages()) == 3
    assert Event.objects.filter(type="message.notification.deferred").count() == 2

    wait_until(lambda: Send.objects.filter(pk=send_id, status="completed").exists(), timeout=60, message="the send to complete")
    received = sorted(m["received_at_ms"] for m in ledger.messages())
    assert len(received) == 5
    assert all(t < real_midnight_ms for t in received[:3])
    assert all(t >= real_midnight_ms - 50 for t in received[3:])  # 50 ms: the worker's clock is the database's
    assert received[4] - received[3] >= 500  # the new day's messages leave at the session's pace
    session.refresh_from_db()
    assert (session.cap_day, session.cap_day_count) == (midnight.astimezone(zone).date(), 2)
    assert set(Delivery.objects.filter(send_id=send_id).values_list("attempts", "error_code")) == {(1, "")}


def test_a_quiet_hours_window_is_held_then_released_spread_by_pacing(stack, api, session, make_groups, ledger):
    zone = ZoneInfo("Europe/Berlin")
    Session.objects.filter(pk=session.pk).update(
        time_zone="Europe/Berlin", quiet_hours_start=time(1), quiet_hours_end=time(6), messages_per_minute=60, send_delay_max_ms=0
    )
    end, offset = shift_to(stack, local=time(6), zone=zone)
    real_end_ms = (end.timestamp() - offset) * 1000
    stack.start_worker(concurrency=2)
    stack.start_worker(concurrency=2)
    groups = make_groups(4)
    send_id = post_send(api, session, groups, "Good morning")

    def held():
        results = api.get(f"/v2/outbound/sends/{send_id}").json()["results"]
        return all(r["deferred_reason"] == "quiet_hours" for r in results) and results

    results = wait_until(held, timeout=15, message="every delivery held by the quiet hours")
    assert {r["not_before_at_ms"] for r in results} == {int(end.timestamp() * 1000)}
    assert ledger.messages() == []

    wait_until(lambda: Send.objects.filter(pk=send_id, status="completed").exists(), timeout=60, message="the send to complete")
    received = sorted(m["received_at_ms"] for m in ledger.messages())
    assert len(received) == 4
    assert received[0] >= real_end_ms - 50
    # No burst at the window's end: one a second (plus the guard), across two worker processes.
    assert min(b - a for a, b in zip(received, received[1:])) >= 1000
    assert received[-1] - received[0] < 6000
