"""Ids are written one way (canonical, hyphenated) everywhere, on PostgreSQL and on SQLite.

SQLite stores a UUID as 32 hex digits; every path that reads one back must
turn it into a uuid.UUID before it reaches an event, a webhook, a log line or
an API answer. bin/test runs this file on SQLite too (marker `contract`).
"""

import json
import logging
import re

import pytest

from core.models import Event
from outbound.models import Send
from outbound.services.deliveries import delivery_attempt
from schedules.models import Schedule
from schedules.services import schedule_occurrence_fire
from tests.schedules.conftest import make_due_now, post_schedule  # noqa: F401 (a fixture)
from webhooks.services.dispatch import endpoint_dispatch
from webhooks.services.endpoints import endpoint_create
from webhooks.services.relay import events_relay

pytestmark = pytest.mark.contract

# 32 hex digits standing alone: a UUID written without its hyphens. (A
# webhook-id, `msg_<32 hex>`, is Standard Webhooks' prefixed form, the same
# on every database.)
BARE_HEX = re.compile(r"(?<![0-9A-Za-z_])[0-9a-f]{32}(?![0-9A-Za-z])")


def bare_ids(text: str) -> list[str]:
    return BARE_HEX.findall(text)


def deliver(send_id):
    from outbound.models import Delivery

    for delivery_id in Delivery.objects.filter(send_id=send_id).values_list("id", flat=True):
        assert delivery_attempt(delivery_id=delivery_id) is None


@pytest.fixture
def hooks(account):
    from tests.webhooks.conftest import Receiver

    receiver = Receiver()
    endpoint = endpoint_create(account=account, url=receiver.url, events=["*"])
    yield receiver, endpoint
    receiver.server.shutdown()


def test_it_writes_every_id_canonically_in_events_webhooks_logs_and_answers(api, gateway, session, make_groups, hooks, caplog):
    receiver, endpoint = hooks
    groups = make_groups(2)
    body = {"session_id": str(session.id), "group_ids": [str(g.id) for g in groups], "idempotency_key": "ids-1", "text": "Hi"}
    with caplog.at_level(logging.INFO):
        created = api.post("/v2/outbound/sends", body, format="json")
        assert created.status_code == 202, created.json()
        send_id = Send.objects.get(account=session.account).id
        deliver(send_id)
        events_relay()
        endpoint_dispatch(endpoint_id=endpoint.id)
    answers = [created.content.decode(), api.get(f"/v2/outbound/sends/{send_id}").content.decode()]

    events = [json.dumps(e.data) for e in Event.objects.order_by("id")]
    assert {e.type for e in Event.objects.all()} >= {"message.notification.scheduled", "message.notification.sent"}
    assert [bare_ids(e) for e in events] == [[] for _ in events]
    webhooks = [r["body"].decode() for r in receiver.requests]
    assert webhooks and [bare_ids(w) for w in webhooks] == [[] for _ in webhooks]
    sent = [json.loads(w)["data"] for w in webhooks if json.loads(w)["event"] == "message.notification.sent"]
    assert {d["group_id"] for d in sent} == {str(g.id) for g in groups}
    assert [bare_ids(a) for a in answers] == [[], []]
    lines = [json.dumps(vars(r), default=str) for r in caplog.records]
    assert [line for line in lines if bare_ids(line)] == []


def test_a_scheduled_occurrence_carries_canonical_ids(api, gateway, session, make_groups, post_schedule, hooks, caplog):
    receiver, endpoint = hooks
    created = post_schedule(interval_ms=3_600_000, max_occurrences=2)
    assert created.status_code == 202, created.json()
    schedule = Schedule.objects.get(pk=created.json()["schedule"]["schedule_id"])
    make_due_now(schedule)
    with caplog.at_level(logging.INFO):
        run = schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1)
        deliver(run.send_id)
        events_relay()
        endpoint_dispatch(endpoint_id=endpoint.id)
    answer = api.get(f"/v2/outbound/schedules/{schedule.id}").content.decode()
    answer += api.get(f"/v2/outbound/schedules/{schedule.id}/runs").content.decode()

    events = Event.objects.order_by("id")
    assert [bare_ids(json.dumps(e.data)) for e in events] == [[] for _ in events]
    assert any(e.data.get("schedule_id") == str(schedule.id) for e in events)
    webhooks = [r["body"].decode() for r in receiver.requests]
    assert webhooks and [bare_ids(w) for w in webhooks] == [[] for _ in webhooks]
    assert bare_ids(answer) == []
    lines = [json.dumps(vars(r), default=str) for r in caplog.records]
    assert [line for line in lines if bare_ids(line)] == []
