"""Rate limits per credential and per account, counted in Redis: 429 rate_limited with Retry-After."""

import time

import pytest
from rest_framework.test import APIClient

from core.services.tokens import api_token_create


@pytest.fixture
def token_client(account, user):
    def make() -> APIClient:
        _, raw = api_token_create(account=account, user=user)
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=raw)
        return client

    return make


def assert_rate_limited(response):
    assert response.status_code == 429, response.json()
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60


def test_a_token_over_its_limit_is_refused_with_retry_after(settings, token_client):
    settings.API_RATE_LIMIT_PER_TOKEN = "3/1 minute"
    client = token_client()
    assert [client.get("/v2/sessions").status_code for _ in range(3)] == [200, 200, 200]
    assert_rate_limited(client.get("/v2/sessions"))
    # Another credential of the same account has its own count.
    assert token_client().get("/v2/sessions").status_code == 200


def test_an_account_is_limited_across_its_credentials(settings, token_client):
    settings.API_RATE_LIMIT_PER_TOKEN = None
    settings.API_RATE_LIMIT_PER_ACCOUNT = "4/1 minute"
    first, second = token_client(), token_client()
    assert [c.get("/v2/sessions").status_code for c in (first, second, first, second)] == [200] * 4
    assert_rate_limited(first.get("/v2/sessions"))
    assert_rate_limited(second.get("/v2/sessions"))


def test_the_limit_frees_up_as_the_window_slides(settings, token_client):
    settings.API_RATE_LIMIT_PER_TOKEN = "2/1 second"
    client = token_client()
    assert [client.get("/v2/sessions").status_code for _ in range(3)] == [200, 200, 429]
    # Real time: the windows live in Redis and expire on its clock, which no test can move.
    time.sleep(2.1)
    assert client.get("/v2/sessions").status_code == 200


def test_requests_without_a_credential_are_not_counted_against_anyone(settings, token_client, db):
    settings.API_RATE_LIMIT_PER_TOKEN = "1/1 minute"
    for _ in range(3):
        assert APIClient().get("/v2/sessions").status_code == 401
    assert token_client().get("/v2/sessions").status_code == 200


def test_the_limits_are_counted_in_redis_shared_by_every_web_process(settings):
    # Every web process reads the same counters: the storage is the shared Redis, not process memory.
    assert settings.API_RATE_LIMIT_STORAGE_URL.startswith("redis://")
