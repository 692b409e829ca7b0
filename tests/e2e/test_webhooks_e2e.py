"""A scheduled send's lifecycle reaches a customer's webhook receiver, in order, signed.

The whole loop runs for real: beat fires, the worker sends to the fake
gateway, the gateway calls our WAHA webhook back with signed acks (delivered,
read), and every event goes out through the outbox to the receiver.
"""

import uuid
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from core.time import to_ms
from schedules.models import Schedule
from tests.webhooks.conftest import Receiver

from .stack import wait_until

pytestmark = pytest.mark.e2e


def test_a_scheduled_sends_events_arrive_in_order_with_valid_signatures(stack, live_server, api, session, make_groups, gateway, settings):
    settings.WAHA_WEBHOOK_HMAC_KEY = "e2e-waha-key"
    settings.SCHEDULE_MIN_INTERVAL_MS = 1000
    httpx.post(f"{gateway.base_url}/_fake/config", json={
        "webhook_url": f"{live_server.url}/v2/providers/waha/webhook", "webhook_hmac_key": "e2e-waha-key", "ack_delay_ms": 300,
    }).raise_for_status()
    receiver = Receiver()
    endpoint = api.post("/v2/webhooks", {"url": receiver.url, "events": ["*"]}, format="json").json()
    stack.start_worker()
    stack.start_beat()

    groups = make_groups(2)
    body = {
        "session_id": str(session.id), "group_ids": [str(g.id) for g in groups], "idempotency_key": f"e2e-{uuid.uuid4()}",
        "text": "Hooked", "schedule": {"first_run_at_ms": to_ms(timezone.now() + timedelta(seconds=2)), "interval_ms": 3000, "max_occurrences": 2},
    }
    schedule_id = api.post("/v2/outbound/sends", body, format="json").json()["schedule"]["schedule_id"]

    def complete():
        events = receiver.events()
        return events.count("message.notification.read") == 4 and "schedule.completed" in events

    try:
        wait_until(complete, timeout=60, message="every event at the receiver")
    finally:
        receiver.server.shutdown()
    assert Schedule.objects.get(pk=schedule_id).status == "completed"

    # Every request verifies with the endpoint's secret (Standard Webhooks).
    for request in receiver.requests:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert Webhook(endpoint["secret"]).verify(request["body"], headers) == request["json"]
    events = [(r["json"]["event"], r["json"]["data"]) for r in receiver.requests]
    # Each message's lifecycle in order: queued, sent, delivered, read.
    by_delivery = {}
    for type, data in events:
        if type.startswith("message.notification."):
            by_delivery.setdefault(data["id"], []).append(type.rsplit(".", 1)[1])
    assert len(by_delivery) == 4
    assert all(steps == ["scheduled", "sent", "delivered", "read"] for steps in by_delivery.values()), by_delivery
    # Each run started before it completed; the schedule completed after both runs.
    types = [type for type, _ in events]
    runs = [(type, data["occurrence_number"]) for type, data in events if type.startswith("schedule.run.")]
    assert runs.index(("schedule.run.started", 1)) < runs.index(("schedule.run.completed", 1))
    assert runs.index(("schedule.run.started", 2)) < runs.index(("schedule.run.completed", 2))
    assert types.index("schedule.completed") > max(i for i, t in enumerate(types) if t == "schedule.run.completed")
    assert types.count("schedule.completed") == 1
    # Nothing was sent twice: every webhook-id once.
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(ids) == len(set(ids))
