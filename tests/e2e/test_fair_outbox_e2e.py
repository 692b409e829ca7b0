"""With real worker and beat processes: another account's 20,000-event backlog does not hold up a send's webhook,
and an account without endpoints leaves no events waiting for the relay."""

import time
import uuid

import pytest
from rest_framework.test import APIClient

from core.models import Account, Event
from core.services.tokens import api_token_create
from outbound.models import Group, Session, User
from tests.webhooks.conftest import Receiver, events_backlog
from webhooks.models import WebhookMessage
from webhooks.services.endpoints import endpoint_create

from .stack import wait_until

pytestmark = pytest.mark.e2e


def client_of(account: Account) -> APIClient:
    user = User.objects.create(username=f"user-{uuid.uuid4().hex[:8]}", account=account)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(account=account, user=user, name='e2e')[1]}")
    return client


def send_now(api, session, groups) -> dict:
    body = {"session_id": str(session.id), "group_ids": [str(g.id) for g in groups], "idempotency_key": f"e2e-{uuid.uuid4()}", "text": "Hi"}
    response = api.post("/v2/outbound/sends", body, format="json")
    assert response.status_code == 202, response.json()
    return response.json()["send"]


def test_a_sends_webhook_arrives_within_seconds_behind_another_accounts_20000_event_backlog(stack, api, account, session, make_groups, ledger):
    receiver_a, receiver_b = Receiver(), Receiver()
    busy = Account.objects.create(name="Busy")
    quiet = Account.objects.create(name="Quiet")  # no endpoint
    quiet_session = Session.objects.create(account=quiet, name=f"quiet-{uuid.uuid4().hex[:8]}", status=Session.Status.WORKING)
    quiet_group = Group.objects.create(account=quiet, chat_id="120363888888888888@g.us", name="Quiet group")
    quiet_group.sessions.add(quiet_session)
    try:
        endpoint_create(account=account, url=receiver_a.url, events=["*"])
        endpoint_create(account=busy, url=receiver_b.url, events=["*"])
        groups = make_groups(2)
        stack.start_worker()
        stack.start_beat()

        events_backlog(busy, 20_000)
        # B's backlog is being worked on (the backstop relays it, B's dispatcher sends it) when A sends.
        wait_until(lambda: receiver_b.requests, timeout=30, message="tenant B's backlog to start moving")
        started = time.monotonic()
        send = send_now(api, session, groups)
        wait_until(lambda: len(receiver_a.requests) >= 2, timeout=30, message="tenant A's webhooks")
        delay = time.monotonic() - started
        busy_waiting = Event.objects.filter(account=busy, relayed=False).count() + WebhookMessage.objects.filter(
            endpoint__account=busy, status="pending"
        ).count()
        print(f"tenant A's webhooks behind tenant B's 20,000 events: {delay:.2f} s; B still waiting: {busy_waiting}")
        assert {r["json"]["data"]["id"] for r in receiver_a.requests[:2]} == {r["recipient_send_id"] for r in send["results"]}
        assert delay < 5, f"tenant A's webhooks took {delay:.2f} s"
        assert busy_waiting > 0  # A did not wait for B's backlog to drain

        # An account without endpoints: its events are written relayed, nothing waits.
        quiet_send = send_now(client_of(quiet), quiet_session, [quiet_group])
        assert Event.objects.filter(account=quiet, relayed=False).count() == 0
        wait_until(
            lambda: Event.objects.filter(account=quiet, type="message.notification.sent").exists(),
            timeout=30, message="the quiet account's delivery",
        )
        assert Event.objects.filter(account=quiet, data__send_id=quiet_send["send_id"]).count() == 2
        assert Event.objects.filter(account=quiet, relayed=False).count() == 0
        # And tenant A's messages all go out, sent events included.
        wait_until(lambda: receiver_a.events().count("message.notification.sent") == 2, timeout=30, message="A's sent events")
    finally:
        receiver_a.server.shutdown()
        receiver_b.server.shutdown()
