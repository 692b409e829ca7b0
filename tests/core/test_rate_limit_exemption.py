"""API_RATE_LIMIT_EXEMPT_CREDENTIALS: the credentials an operator lists are never throttled; every other one still is."""

import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from config.settings import credential_ids_setting
from core.api.throttling import _is_exempt
from core.services.credentials import api_secret_create
from core.services.tokens import api_token_create


def _client(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client


def test_an_exempt_token_is_not_throttled_and_others_still_are(settings, account, user):
    settings.API_RATE_LIMIT_PER_TOKEN = "2/1 minute"
    settings.API_RATE_LIMIT_PER_ACCOUNT = "3/1 minute"
    exempt, exempt_raw = api_token_create(account=account, user=user)
    _, other_raw = api_token_create(account=account, user=user)
    settings.API_RATE_LIMIT_EXEMPT_CREDENTIALS = frozenset({str(exempt.id)})

    assert {_client(exempt_raw).get("/v2/sessions").status_code for _ in range(10)} == {200}
    # Its requests did not use up the account's allowance either.
    other = _client(other_raw)
    assert [other.get("/v2/sessions").status_code for _ in range(3)] == [200, 200, 429]


def test_an_api_secret_can_be_exempt_too(settings, account):
    secret, _ = api_secret_create(account=account, name="fuzz", scopes=["read"])
    settings.API_RATE_LIMIT_EXEMPT_CREDENTIALS = frozenset({str(secret.id)})

    class Principal:
        credential_key = f"secret:{secret.id}"  # as core.api.auth names an API secret's requests

    assert _is_exempt(Principal())
    Principal.credential_key = f"secret:{uuid.uuid4()}"
    assert not _is_exempt(Principal())


def test_the_setting_takes_uuids_only(monkeypatch):
    monkeypatch.setenv("API_RATE_LIMIT_EXEMPT_CREDENTIALS", "019cb813-52dc-77e8-834b-83026c3d2178, 019CB81352DC77E8834B83026C3D2179")
    assert credential_ids_setting("API_RATE_LIMIT_EXEMPT_CREDENTIALS") == {
        "019cb813-52dc-77e8-834b-83026c3d2178", "019cb813-52dc-77e8-834b-83026c3d2179",
    }
    monkeypatch.setenv("API_RATE_LIMIT_EXEMPT_CREDENTIALS", "fuzz-token")
    with pytest.raises(ImproperlyConfigured):
        credential_ids_setting("API_RATE_LIMIT_EXEMPT_CREDENTIALS")
