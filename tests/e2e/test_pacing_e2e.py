"""Pacing across worker processes: a session limited to N a minute gets no more, whoever sends."""

import uuid

import pytest

from outbound.models import Delivery, Send, Session

from .stack import wait_until

pytestmark = pytest.mark.e2e


def test_two_workers_together_keep_a_sessions_rate(stack, api, session, make_groups, ledger):
    Session.objects.filter(pk=session.pk).update(messages_per_minute=60, send_delay_max_ms=0)  # one a second
    stack.start_worker(concurrency=2)
    stack.start_worker(concurrency=2)
    groups = make_groups(12)
    body = {"session_id": str(session.id), "group_ids": [str(g.id) for g in groups],
            "idempotency_key": f"e2e-{uuid.uuid4()}", "text": "Paced"}
    send_id = api.post("/v2/outbound/sends", body, format="json").json()["send"]["send_id"]
    wait_until(lambda: Send.objects.filter(pk=send_id, status="completed").exists(), timeout=60, message="the paced send")

    received = sorted(m["received_at_ms"] for m in ledger.messages())
    assert len(received) == 12
    # Scaled down "no more than N in any minute": no more than 10 in any 10 s
    # (slots are 1.05 s apart; a message may arrive some milliseconds after its slot).
    assert max(sum(1 for t in received if start <= t < start + 10_000) for start in received) <= 10
    # ...and not much slower than that either: 11 gaps of 1.05 s.
    assert received[-1] - received[0] < 13_000
    # Waiting for a slot used no attempt, and both workers did some of the work.
    assert set(Delivery.objects.filter(send_id=send_id).values_list("attempts", flat=True)) == {1}
    logs = [stack.log_of(p) for _, p, _ in stack.processes]
    assert all("deliveries_attempt" in log and "succeeded" in log for log in logs)
