"""API -> real Celery worker process -> fake gateway over HTTP: every group gets the message once."""

import uuid

import pytest

from outbound.models import Delivery, Send

from .stack import wait_until

pytestmark = pytest.mark.e2e


def post_send(api, session, groups, **extra):
    body = {
        "session_id": str(session.id),
        "group_ids": [str(g.id) for g in groups],
        "idempotency_key": f"e2e-{uuid.uuid4()}",
        "text": "Hello from the e2e test",
        **extra,
    }
    response = api.post("/v2/outbound/sends", body, format="json")
    assert response.status_code == 202, response.json()
    return response.json()["send"]["send_id"]


def wait_for_send(send_id, timeout=60):
    return wait_until(
        lambda: Send.objects.filter(pk=send_id).exclude(status="accepted").first(),
        timeout=timeout,
        message=f"send {send_id} to finish",
    )


def test_every_group_gets_the_message_exactly_once(stack, api, session, make_groups, ledger):
    stack.start_worker()
    groups = make_groups(5)
    send_id = post_send(api, session, groups)
    assert wait_for_send(send_id).status == "completed"
    assert ledger.per_chat() == {g.chat_id: 1 for g in groups}
    assert {m["text"] for m in ledger.messages()} == {"Hello from the e2e test"}
    assert api.get(f"/v2/outbound/sends/{send_id}").json()["results"][0]["status"] == "sent"


@pytest.mark.parametrize(
    "faults",
    [
        pytest.param({"error_rate": 0.3, "seed": 7}, id="30-percent-errors"),
        # The gateway takes the message and still answers 500: a blind retry would duplicate it.
        pytest.param({"accept_then_fail_rate": 0.3, "seed": 11}, id="30-percent-accepted-then-500"),
    ],
)
def test_with_the_gateway_failing_still_exactly_once(stack, api, session, make_groups, ledger, faults):
    ledger.configure(**faults)
    stack.start_worker()
    groups = make_groups(20)
    send_id = post_send(api, session, groups)
    assert wait_for_send(send_id).status == "completed"
    assert ledger.per_chat() == {g.chat_id: 1 for g in groups}
    # The faults were really met: some deliveries needed more than one attempt.
    assert Delivery.objects.filter(send_id=send_id, attempts__gt=1).exists()
