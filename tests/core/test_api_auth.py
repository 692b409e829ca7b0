import uuid

import pytest
from rest_framework.test import APIClient

from core.models import ApiToken
from core.services.tokens import api_token_create, api_token_revoke


def test_it_refuses_a_request_without_token(db):
    response = APIClient().get("/v2/sessions")
    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] == "unauthorized"
    assert body["request_id"] == response["X-Request-ID"]


def test_it_refuses_an_unknown_token(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer wc_not-a-real-token")
    response = client.get("/v2/sessions")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_it_accepts_bearer_and_x_api_key(token, session):
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert bearer.get("/v2/sessions").status_code == 200

    api_key = APIClient()
    api_key.credentials(HTTP_X_API_KEY=token)
    response = api_key.get("/v2/sessions")
    assert response.status_code == 200
    assert [s["id"] for s in response.json()["results"]] == [str(session.id)]


def test_it_stores_only_a_hash_of_the_token(account):
    token, raw = api_token_create(account=account, name="crm")
    stored = ApiToken.objects.get(pk=token.pk)
    assert raw not in (stored.token_hash, stored.prefix)
    assert raw.startswith(stored.prefix)
    assert len(stored.token_hash) == 64


def test_it_refuses_a_revoked_token(account):
    token, raw = api_token_create(account=account)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get("/v2/sessions").status_code == 200
    api_token_revoke(token=token)
    response = client.get("/v2/sessions")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.contract
def test_it_hides_another_accounts_send_as_not_found(api, other_account):
    from outbound.models import Delivery, Send

    theirs = Send.objects.create(account=other_account, session=other_account.sessions.get(), text="x")
    response = api.get(f"/v2/outbound/sends/{theirs.id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    # Same answer as an id that does not exist at all.
    missing = api.get(f"/v2/outbound/sends/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.json()["error"] == response.json()["error"]
    assert not Delivery.objects.exists()


def test_it_echoes_a_plain_client_request_id(api):
    response = api.get("/v2/sessions", HTTP_X_REQUEST_ID="trace-abc-123")
    assert response["X-Request-ID"] == "trace-abc-123"
    assert response.json()["request_id"] == "trace-abc-123"


def test_it_replaces_a_malformed_client_request_id(api):
    response = api.get("/v2/sessions", HTTP_X_REQUEST_ID="bad id with spaces")
    assert response["X-Request-ID"] != "bad id with spaces"
    uuid.UUID(response["X-Request-ID"])


def test_it_answers_unknown_urls_with_the_error_body(api):
    response = api.get("/v2/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
