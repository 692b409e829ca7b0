"""Human-like sends with a real worker: seen, typing, stop, send in that order, and no worker held while a session types."""

import uuid

import httpx
import pytest

from outbound.models import Delivery, Send, Session

from .stack import wait_until

pytestmark = pytest.mark.e2e

TYPING_MS = 3000


def chat_actions(gateway, chat_id):
    return httpx.get(f"{gateway.base_url}/_fake/chat_actions", params={"chat_id": chat_id}).json()["actions"]


def send(api, session, groups, text):
    body = {"session_id": str(session.id), "group_ids": [str(g.id) for g in groups],
            "idempotency_key": f"e2e-{uuid.uuid4()}", "text": text}
    response = api.post("/v2/outbound/sends", body, format="json")
    assert response.status_code == 202, response.json()
    return response.json()["send"]["send_id"]


def test_one_worker_sends_for_another_session_while_one_types(stack, api, account, session, make_groups, gateway, ledger):
    Session.objects.filter(pk=session.pk).update(
        human_like=True, typing_ms_min=TYPING_MS, typing_ms_max=TYPING_MS, typing_ms_per_char=0
    )
    plain = Session.objects.create(
        account=account, name=f"plain-{uuid.uuid4().hex[:6]}", status=Session.Status.WORKING,
        messages_per_minute=None, send_delay_max_ms=0, human_like=False,
    )
    (typed_group,) = make_groups(1)
    plain_groups = make_groups(3, in_session=plain)
    stack.start_worker(concurrency=1)  # one process: if typing held it, nothing else could go out

    typed_send = send(api, session, [typed_group], "Typed by a human")
    wait_until(lambda: len(chat_actions(gateway, typed_group.chat_id)) >= 2, timeout=30, message="typing to start")
    plain_send = send(api, plain, plain_groups, "Sent at once")
    for send_id in (plain_send, typed_send):
        wait_until(lambda: Send.objects.filter(pk=send_id, status="completed").exists(), timeout=30, message="the sends")

    actions = chat_actions(gateway, typed_group.chat_id)
    messages = ledger.messages()
    (typed,) = [m for m in messages if m["chatId"] == typed_group.chat_id]
    plain_received = [m["received_at_ms"] for m in messages if m["chatId"] != typed_group.chat_id]
    # The order a person's phone shows: seen, typing..., typing stops, the message.
    assert [a["kind"] for a in actions] == ["seen", "typing_start", "typing_stop"]
    seen, started, stopped = actions
    assert seen["at_ms"] <= started["at_ms"] <= stopped["at_ms"] <= typed["received_at_ms"] + 1
    assert stopped["messages_before"] < typed["seq"]
    # The typing time lies between typing and the message...
    assert TYPING_MS - 5 <= typed["received_at_ms"] - started["at_ms"] < TYPING_MS + 2500
    # ...and the only worker process sent the other session's messages meanwhile.
    assert len(plain_received) == 3
    assert all(started["at_ms"] <= t < typed["received_at_ms"] for t in plain_received)
    delivery = Delivery.objects.get(send_id=typed_send)
    assert (delivery.status, delivery.attempts, delivery.typing_ms) == ("sent", 1, TYPING_MS)
