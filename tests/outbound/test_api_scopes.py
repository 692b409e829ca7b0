"""Scopes: what a token or an API secret may do; 403 insufficient_scope and nothing written otherwise."""

import time

import jwt
import pytest
from rest_framework.test import APIClient

from core.models import ApiSecret
from core.services.credentials import api_secret_create
from core.services.tokens import api_token_create
from outbound.models import Send
from schedules.models import Schedule
from webhooks.models import WebhookEndpoint


@pytest.fixture
def client_with(account, user):
    def make(*scopes) -> APIClient:
        _, raw = api_token_create(account=account, user=user, scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return make


def _send_body(session, groups, **extra):
    return {"session_id": str(session.id), "group_ids": [str(g.id) for g in groups], "idempotency_key": "k", "text": "Hi", **extra}


def assert_insufficient(response, scope):
    assert response.status_code == 403, response.json()
    error = response.json()["error"]
    assert error["code"] == "insufficient_scope" and error["details"]["required_scope"] == scope


def test_a_read_only_token_reads_but_cannot_send(client_with, session, make_groups):
    reader = client_with("read")
    assert reader.get("/v2/sessions").status_code == 200
    assert_insufficient(reader.post("/v2/outbound/sends", _send_body(session, make_groups(1)), format="json"), "sends:write")
    assert not Send.objects.exists()
    # A draft preview only computes: reading is enough.
    preview = reader.post("/v2/outbound/schedules/preview", {"first_run_at_ms": int(time.time() * 1000) + 60_000}, format="json")
    assert preview.status_code == 200, preview.json()


def test_a_send_only_token_sends_but_cannot_read(client_with, session, make_groups):
    sender = client_with("sends:write")
    assert sender.post("/v2/outbound/sends", _send_body(session, make_groups(1)), format="json").status_code == 202
    assert_insufficient(sender.get("/v2/sessions"), "read")


def test_editing_schedules_needs_schedules_write(client_with, session, make_groups):
    sender = client_with("sends:write", "read")
    body = _send_body(session, make_groups(1), schedule={"first_run_at_ms": int(time.time() * 1000) + 3_600_000})
    schedule_id = sender.post("/v2/outbound/sends", body, format="json").json()["schedule"]["schedule_id"]
    assert_insufficient(sender.post(f"/v2/outbound/schedules/{schedule_id}/pause"), "schedules:write")
    assert_insufficient(sender.patch(f"/v2/outbound/schedules/{schedule_id}", {"text": "x"}, format="json"), "schedules:write")
    assert Schedule.objects.get().status == "scheduled"
    assert client_with("schedules:write").post(f"/v2/outbound/schedules/{schedule_id}/pause").status_code == 200


def test_account_settings_need_settings_write(client_with, session):
    hook = {"url": "http://127.0.0.1:9/hook"}  # loopback is allowed in tests; nothing is sent to it
    writer = client_with("read", "sends:write", "schedules:write")
    assert_insufficient(writer.post("/v2/webhooks", hook, format="json"), "settings:write")
    assert_insufficient(writer.patch(f"/v2/sessions/{session.id}", {"messages_per_minute": 5}, format="json"), "settings:write")
    assert_insufficient(writer.post("/v2/api-secrets", {"name": "x", "scopes": ["read"]}, format="json"), "settings:write")
    assert not WebhookEndpoint.objects.exists() and not ApiSecret.objects.exists()
    assert client_with("settings:write").post("/v2/webhooks", hook, format="json").status_code == 201


def test_a_credential_cannot_grant_scopes_it_does_not_hold(client_with):
    admin = client_with("settings:write", "read")
    response = admin.post("/v2/api-secrets", {"name": "x", "scopes": ["read", "sends:write"]}, format="json")
    assert_insufficient(response, "sends:write")
    assert not ApiSecret.objects.exists()
    assert admin.post("/v2/api-secrets", {"name": "x", "scopes": ["read"]}, format="json").status_code == 201


def test_a_jwt_has_its_secrets_scopes(account, session, make_groups):
    secret, key = api_secret_create(account=account, name="reader", scopes=["read"])
    token = jwt.encode({"iss": str(secret.id), "iat": int(time.time())}, f"{secret.id}||{key}", algorithm="HS256")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/v2/sessions").status_code == 200
    assert_insufficient(client.post("/v2/outbound/sends", _send_body(session, make_groups(1)), format="json"), "sends:write")


def test_tokens_made_before_scopes_keep_every_scope(account):
    token, _ = api_token_create(account=account)
    assert sorted(token.scopes) == sorted(["read", "sends:write", "schedules:write", "settings:write"])
