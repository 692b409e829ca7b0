"""POST /v2/outbound/sends: the contract of seeds/watchcollect-post-sends.txt."""

import uuid

import pytest
from django.db import connection

from core.locks import lock_key
from core.models import Event
from outbound.models import Delivery, IdempotencyKey, Send

# API contract: bin/test runs these on SQLite too (tests/conftest.py).
pytestmark = pytest.mark.contract


def _body(session, groups, **extra):
    return {
        "session_id": str(session.id),
        "group_ids": [str(g.id) for g in groups],
        "idempotency_key": extra.pop("idempotency_key", f"key-{uuid.uuid4()}"),
        "text": "Hello groups",
        **extra,
    }


def test_it_accepts_a_send_with_the_seed_response_shape(api, session, make_groups, queued_tasks):
    groups = make_groups(3)
    response = api.post("/v2/outbound/sends", _body(session, groups), format="json")
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"status", "send", "request_id"}
    assert body["status"] == "accepted"
    assert body["request_id"] == response["X-Request-ID"]
    send = body["send"]
    assert set(send) == {"status", "send_id", "event_ids", "results", "request_id"}
    assert send["status"] == "accepted"
    assert [r["group_id"] for r in send["results"]] == [str(g.id) for g in groups]
    for result in send["results"]:
        assert set(result) == {"recipient_send_id", "group_id", "ok", "status"}
        assert result["ok"] is True and result["status"] == "queued"
    # Ids are UUIDv7 (time-ordered), as in the seed examples.
    assert uuid.UUID(send["send_id"]).version == 7
    assert uuid.UUID(send["results"][0]["recipient_send_id"]).version == 7

    stored = Send.objects.get(pk=send["send_id"])
    assert stored.text == "Hello groups"
    deliveries = {str(d.id): d for d in stored.deliveries.all()}
    assert set(deliveries) == {r["recipient_send_id"] for r in send["results"]}
    assert all(d.status == "queued" and d.chat_id.endswith("@g.us") for d in deliveries.values())
    events = Event.objects.filter(pk__in=send["event_ids"])
    assert events.count() == 3
    assert {e.type for e in events} == {"message.notification.scheduled"}
    assert {e.data["id"] for e in events} == set(deliveries)
    # The fan-out is enqueued only after the transaction committed.
    assert queued_tasks() == []


def test_it_queues_the_deliveries_in_batches_after_commit(
    api, session, make_groups, queued_tasks, django_capture_on_commit_callbacks, settings
):
    settings.OUTBOUND_DELIVERY_BATCH_SIZE = 2
    groups = make_groups(3)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post("/v2/outbound/sends", _body(session, groups), format="json")
    assert queued_tasks() == []  # nothing before the commit
    for callback in callbacks:
        callback()
    ids = [r["recipient_send_id"] for r in response.json()["send"]["results"]]
    assert queued_tasks() == [
        ("outbound.tasks.deliveries_attempt", [ids[:2]], {}),
        ("outbound.tasks.deliveries_attempt", [ids[2:]], {}),
    ]


def test_it_accepts_x_api_key_and_media_urls(token, session, make_groups, public_dns):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_X_API_KEY=token)
    media = [{"url": "https://cdn.example.com/a.png", "mimetype": "image/png"}, {"url": "https://cdn.example.com/b.jpg"}]
    response = client.post("/v2/outbound/sends", _body(session, make_groups(1), media=media, text=""), format="json")
    assert response.status_code == 202
    send = Send.objects.get(pk=response.json()["send"]["send_id"])
    assert [m["url"] for m in send.media] == [m["url"] for m in media]
    assert send.deliveries.get().parts_total == 2


def test_it_replays_a_duplicate_without_sending_twice(api, session, make_groups):
    groups = make_groups(2)
    body = _body(session, groups, idempotency_key="frontend-outbound-1")
    first = api.post("/v2/outbound/sends", body, format="json").json()
    second_response = api.post("/v2/outbound/sends", body, format="json")
    assert second_response.status_code == 202
    second = second_response.json()
    assert second["status"] == "duplicate_accepted"
    assert second["send"]["send_id"] == first["send"]["send_id"]
    assert second["send"]["results"] == first["send"]["results"]
    assert second["request_id"] == second_response["X-Request-ID"] != first["request_id"]
    assert Send.objects.count() == 1
    assert Delivery.objects.count() == 2


def test_it_refuses_a_reused_key_with_a_different_payload(api, session, make_groups):
    groups = make_groups(2)
    api.post("/v2/outbound/sends", _body(session, groups, idempotency_key="k1"), format="json")
    response = api.post("/v2/outbound/sends", _body(session, groups, idempotency_key="k1", text="Other"), format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Send.objects.count() == 1


@pytest.mark.postgresql
def test_it_answers_409_while_the_same_key_is_in_flight(api, account, session, make_groups):
    # Another request holding the key's lock is exactly what "in flight" means.
    import psycopg2

    params = connection.settings_dict
    other = psycopg2.connect(
        dbname=params["NAME"], user=params["USER"], host=params["HOST"], port=params["PORT"]
    )
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [lock_key("idempotency", account.pk, "busy-key")])
        response = api.post("/v2/outbound/sends", _body(session, make_groups(1), idempotency_key="busy-key"), format="json")
    finally:
        other.close()
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_flight"
    assert not Send.objects.exists()
    assert not IdempotencyKey.objects.exists()


def test_it_keeps_keys_per_account(api, session, make_groups, other_account):
    from core.services.tokens import api_token_create
    from rest_framework.test import APIClient

    api.post("/v2/outbound/sends", _body(session, make_groups(1), idempotency_key="shared"), format="json")
    theirs = APIClient()
    theirs.credentials(HTTP_X_API_KEY=api_token_create(account=other_account)[1])
    their_session = other_account.sessions.get()
    body = _body(their_session, list(their_session.groups.all()), idempotency_key="shared")
    response = theirs.post("/v2/outbound/sends", body, format="json")
    assert response.json()["status"] == "accepted"


def test_it_frees_an_expired_key(api, session, make_groups):
    from datetime import timedelta

    from django.utils import timezone

    groups = make_groups(1)
    api.post("/v2/outbound/sends", _body(session, groups, idempotency_key="old"), format="json")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api.post("/v2/outbound/sends", _body(session, groups, idempotency_key="old", text="new"), format="json")
    assert response.json()["status"] == "accepted"
    assert Send.objects.count() == 2


def test_it_purges_expired_keys(api, session, make_groups):
    from datetime import timedelta

    from django.utils import timezone

    from outbound.services.idempotency import idempotency_keys_purge

    groups = make_groups(1)
    api.post("/v2/outbound/sends", _body(session, groups, idempotency_key="a"), format="json")
    api.post("/v2/outbound/sends", _body(session, groups, idempotency_key="b"), format="json")
    IdempotencyKey.objects.filter(key="a").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["b"]


def test_a_twin_that_committed_first_wins_and_this_request_writes_nothing(api, session, make_groups, monkeypatch):
    # The twin committed between this request's lookup and its lock: the key's
    # upsert finds a live key, everything this request wrote rolls back, and it
    # answers with the twin's response.
    from sending import api as sends_api
    from outbound.services import idempotency

    groups = make_groups(2)
    body = _body(session, groups, idempotency_key="twin")
    first = api.post("/v2/outbound/sends", body, format="json").json()
    looked_up = []

    def lookup_before_the_twin_committed(**kwargs):
        if not looked_up:
            looked_up.append(kwargs)
            return None  # the twin had not committed yet when this request looked
        return idempotency.idempotent_replay(**kwargs)

    monkeypatch.setattr(sends_api, "idempotent_replay", lookup_before_the_twin_committed)
    response = api.post("/v2/outbound/sends", body, format="json")
    assert response.status_code == 202 and response.json()["status"] == "duplicate_accepted"
    assert response.json()["send"]["send_id"] == first["send"]["send_id"]
    assert Send.objects.count() == 1 and Delivery.objects.count() == 2 and IdempotencyKey.objects.count() == 1
