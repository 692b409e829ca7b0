"""POST /v2/providers/waha/webhook: verified, fresh, once per event; receipts move deliveries forward only."""

import hashlib
import hmac
import json
import time
import uuid

import pytest
from django.test import Client

from core.models import Event
from outbound.models import Delivery, ProviderEvent, Session
from outbound.services.deliveries import delivery_attempt

from .test_delivery_attempt import make_send

KEY = "waha-test-key"
URL = "/v2/providers/waha/webhook"


@pytest.fixture(autouse=True)
def hmac_key(settings):
    settings.WAHA_WEBHOOK_HMAC_KEY = KEY
    settings.WAHA_WEBHOOK_ALLOW_UNSIGNED = False


def post(body: dict | bytes, *, key=KEY, timestamp_ms=None, signature=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"HTTP_X_WEBHOOK_TIMESTAMP": str(timestamp_ms or int(time.time() * 1000))}
    if key is not None:
        headers["HTTP_X_WEBHOOK_HMAC"] = signature or hmac.new(key.encode(), raw, hashlib.sha512).hexdigest()
        headers["HTTP_X_WEBHOOK_HMAC_ALGORITHM"] = "sha512"
    return Client().post(URL, raw, content_type="application/json", **headers)


def ack(message_id: str, level: int, event_id=None) -> dict:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex}", "timestamp": int(time.time() * 1000), "event": "message.ack",
        "session": "sales", "payload": {"id": message_id, "ack": level, "fromMe": True},
    }


@pytest.fixture
def sent(gateway, session, make_groups):
    delivery = make_send(session, make_groups(1)).deliveries.get()
    delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == "sent"
    return delivery


def test_it_checks_the_hmac_with_the_rfc_4231_vector(settings):
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    settings.WAHA_WEBHOOK_HMAC_KEY = "Jefe"
    vector = (
        "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
    )
    accepted = post(b"what do ya want for nothing?", key="Jefe", signature=vector)
    assert accepted.status_code == 400  # past the signature: refused only as not a WAHA event
    assert accepted.json()["error"]["code"] == "malformed_request"
    refused = post(b"what do ya want for nothing?", key="Jefe", signature=vector.replace("1", "2"))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_signature"


def test_it_refuses_unsigned_or_wrongly_signed_callbacks(db, sent):
    assert post(ack(sent.provider_message_id, 2), key=None).json()["error"]["code"] == "invalid_signature"
    assert post(ack(sent.provider_message_id, 2), key="another key").status_code == 401
    assert Delivery.objects.get(pk=sent.pk).status == "sent"


def test_it_refuses_stale_callbacks(db, sent):
    old = int(time.time() * 1000) - 10 * 60 * 1000
    response = post({**ack(sent.provider_message_id, 2), "timestamp": old}, timestamp_ms=old)
    assert response.status_code == 401 and response.json()["error"]["code"] == "stale_webhook"
    assert Delivery.objects.get(pk=sent.pk).status == "sent"


def test_freshness_is_judged_from_the_signed_body_not_the_header(db, sent, clock):
    """A captured callback, sent again later with a new (unsigned) timestamp header, is stale."""
    captured = json.dumps(ack(sent.provider_message_id, 2, event_id="evt_captured")).encode()
    clock.shift(10 * 60)
    ProviderEvent.objects.all().delete()  # its id long purged
    response = post(captured, timestamp_ms=int(time.time() * 1000))
    assert response.status_code == 401 and response.json()["error"]["code"] == "stale_webhook"
    assert Delivery.objects.get(pk=sent.pk).status == "sent"
    # A fresh body is good whatever the header says.
    assert post(ack(sent.provider_message_id, 2), timestamp_ms=1).json()["status"] == "updated"


def test_an_event_id_is_kept_for_as_long_as_its_body_could_be_accepted(settings, db, sent, clock):
    """Even with a retention shorter than that: the id outlives twice the tolerance, so a replay is a duplicate."""
    from outbound.services.retention import provider_events_purge

    settings.RETENTION_PROVIDER_EVENTS_DAYS = 0.001  # 86 s
    tolerance = settings.WAHA_WEBHOOK_TOLERANCE_SECONDS
    body = ack(sent.provider_message_id, 2, event_id="evt_replayed")
    # Stamped as far ahead as is accepted: it stays acceptable for two tolerances from now.
    body["timestamp"] += tolerance * 1000 - 1000
    assert post(body).json()["status"] == "updated"
    clock.shift(2 * tolerance - 5)
    provider_events_purge()
    assert post(body).json()["status"] == "duplicate"
    clock.shift(10)
    provider_events_purge()
    assert not ProviderEvent.objects.filter(pk="evt_replayed").exists()
    assert post(body).json()["error"]["code"] == "stale_webhook"


def test_a_non_ascii_signature_header_is_a_400(db, sent):
    response = post(ack(sent.provider_message_id, 2), signature="é" * 128)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "malformed_signature" and "X-Webhook-Hmac" in error["details"]["fields"]


@pytest.mark.parametrize(
    "change, field",
    [
        ({"payload": {"id": "x", "ack": "two"}}, "payload.ack"),
        ({"payload": {"id": "x", "ack": 7}}, "payload.ack"),
        ({"payload": {"id": "x", "ack": -2}}, "payload.ack"),
        ({"payload": {"id": "x", "ack": True}}, "payload.ack"),
        ({"payload": {"id": "x", "ack": 2.5}}, "payload.ack"),
        ({"payload": {"id": "x", "ack": 10**400}}, "payload.ack"),
        ({"payload": {"id": "x"}}, "payload.ack"),
        ({"payload": {"id": ["x"], "ack": 2}}, "payload.id"),
        ({"payload": {"ack": 2}}, "payload.id"),
        ({"payload": [1, 2]}, "payload"),
        ({"payload": None}, "payload"),
        ({"id": ["evt"]}, "id"),
        ({"id": ""}, "id"),
        ({"id": "evt_\x00"}, "id"),
        ({"id": "e" * 101}, "id"),
        ({"event": 5}, "event"),
        ({"session": {"name": "sales"}}, "session"),
        ({"timestamp": "1772614800000"}, "timestamp"),
        ({"timestamp": 10**400}, "timestamp"),
        ({"timestamp": -1}, "timestamp"),
        ({"timestamp": None}, "timestamp"),
    ],
)
def test_a_hostile_ack_is_a_400_naming_the_field(db, sent, change, field):
    body = {**ack(sent.provider_message_id, 2), **change}
    response = post(body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "malformed_request" and field in error["details"]["fields"], error
    assert Delivery.objects.get(pk=sent.pk).status == "sent"


@pytest.mark.parametrize(
    "raw, field",
    [
        ('{"id":"evt_1","timestamp":NaN,"event":"message.ack","payload":{"id":"x","ack":2}}', "timestamp"),
        ('{"id":"evt_1","timestamp":1e400,"event":"message.ack","payload":{"id":"x","ack":2}}', "timestamp"),
        ('{"id":"evt_1","timestamp":%d,"event":"message.ack","payload":{"id":"x","ack":Infinity}}', "payload.ack"),
        ('{"id":"evt_1","timestamp":%d,"event":"message.ack","payload":{"id":"x","ack":NaN}}', "payload.ack"),
        ('{"id":"evt_1","timestamp":%d}', "event"),
        ('{"timestamp":%d,"event":"message.ack"}', "id"),
        ("[" * 50000 + "]" * 50000, "request"),
        ('"just a string"', "request"),
    ],
)
def test_a_hostile_body_is_a_400_naming_the_field(db, raw, field):
    if "%d" in raw:
        raw = raw % int(time.time() * 1000)
    response = post(raw.encode())
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "malformed_request" and field in error["details"]["fields"], error


@pytest.mark.parametrize(
    "payload, field",
    [({"status": 5}, "payload.status"), ({}, "payload.status"), ({"status": "WORKING", "name": ["sales"]}, "payload.name")],
)
def test_a_hostile_session_status_is_a_400_naming_the_field(session, payload, field):
    event = {"id": "evt_s2", "timestamp": int(time.time() * 1000), "event": "session.status", "session": session.name, "payload": payload}
    response = post(event)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["details"]["fields"]


def test_acks_move_a_delivery_to_delivered_then_read_with_events(sent):
    assert post(ack(sent.provider_message_id, 2)).json()["status"] == "updated"
    delivery = Delivery.objects.get(pk=sent.pk)
    assert delivery.status == "delivered" and delivery.delivered_at is not None
    assert post(ack(sent.provider_message_id, 3)).json()["status"] == "updated"
    delivery.refresh_from_db()
    assert delivery.status == "read" and delivery.read_at is not None
    types = list(Event.objects.filter(data__id=str(sent.id)).order_by("id").values_list("type", flat=True))
    assert types[-2:] == ["message.notification.delivered", "message.notification.read"]


def test_a_late_ack_never_moves_a_delivery_backwards(sent):
    post(ack(sent.provider_message_id, 3))
    events_before = Event.objects.count()
    assert post(ack(sent.provider_message_id, 2)).json()["status"] == "ignored"
    assert post(ack(sent.provider_message_id, 1)).json()["status"] == "ignored"
    assert post(ack(sent.provider_message_id, -1)).json()["status"] == "ignored"
    assert Delivery.objects.get(pk=sent.pk).status == "read"
    assert Event.objects.count() == events_before


def test_an_error_ack_fails_a_sent_delivery(sent):
    assert post(ack(sent.provider_message_id, -1)).json()["status"] == "updated"
    delivery = Delivery.objects.get(pk=sent.pk)
    assert delivery.status == "failed" and delivery.error_code == "gateway_ack_error"


def test_a_duplicate_event_id_counts_once(sent):
    event = ack(sent.provider_message_id, 2, event_id="evt_same")
    assert post(event).json()["status"] == "updated"
    assert post(event).json()["status"] == "duplicate"
    assert ProviderEvent.objects.filter(pk="evt_same").count() == 1


def test_an_ack_for_a_delivery_still_sending_is_retried_later(sent):
    Delivery.objects.filter(pk=sent.pk).update(status="sending")
    event = ack(sent.provider_message_id, 2, event_id="evt_early")
    response = post(event)
    assert response.status_code == 503 and response.json()["error"]["code"] == "not_ready"
    assert not ProviderEvent.objects.filter(pk="evt_early").exists()  # the retry will count
    Delivery.objects.filter(pk=sent.pk).update(status="sent")
    assert post(event).json()["status"] == "updated"


def test_an_ack_proves_an_unconfirmed_failed_delivery_went_out(sent):
    Delivery.objects.filter(pk=sent.pk).update(status="failed", error_code="gateway_timeout", unconfirmed=True)
    assert post(ack(sent.provider_message_id, 2)).json()["status"] == "updated"
    delivery = Delivery.objects.get(pk=sent.pk)
    assert (delivery.status, delivery.error_code, delivery.unconfirmed) == ("delivered", "", False)


def test_acks_for_other_messages_are_ignored(db):
    assert post(ack("true_1203@g.us_ABCDEF", 2)).json()["status"] == "unknown"
    assert post(ack(f"true_1@g.us_3EB0{uuid.uuid4().hex.upper()}0000", 2)).json()["status"] == "unknown"


def test_session_status_updates_the_session(session):
    event = {"id": "evt_s1", "timestamp": int(time.time() * 1000), "event": "session.status", "session": session.name,
             "payload": {"status": "SCAN_QR_CODE"}}
    assert post(event).json()["status"] == "updated"
    assert Session.objects.get(pk=session.pk).status == "SCAN_QR_CODE"


def test_unsigned_callbacks_are_accepted_only_when_allowed(settings, sent):
    settings.WAHA_WEBHOOK_HMAC_KEY = ""
    assert post(ack(sent.provider_message_id, 2), key=None).status_code == 401
    settings.WAHA_WEBHOOK_ALLOW_UNSIGNED = True
    assert post(ack(sent.provider_message_id, 2), key=None).json()["status"] == "updated"
