"""GET /readyz: the database, the broker and the beat leader, each checked for real; 503 names what fails."""

import socket
from datetime import timedelta

import pytest
from django.db import connections
from django.db.models.functions import Now
from rest_framework.test import APIClient

from schedules.leader import lease_renew
from schedules.models import BeatLease

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_port():
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def beat_polled():
    """A beat leader that polled just now (the lease a beat renews every poll, on the database's clock)."""
    assert lease_renew(name=BeatLease.BEAT, holder="beat-1:4242:9f2c1a7e", seconds=5)


METRICS_TOKEN = "metrics-token-1"


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = METRICS_TOKEN


def readyz(*, operator=True, **headers):
    """GET /readyz, by default as the operator's scraper (the METRICS_TOKEN bearer), who sees every check."""
    if operator:
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {METRICS_TOKEN}")
    response = APIClient().get("/readyz", **headers)
    return response, response.json()


def test_it_answers_200_with_every_check(beat_polled):
    response, body = readyz()
    assert response.status_code == 200
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "broker", "beat"}
    assert all(check["ok"] and check["ms"] >= 0 for check in body["checks"].values())
    beat = body["checks"]["beat"]
    assert beat["holder"] == "beat-1:4242:9f2c1a7e" and beat["term"] >= 1
    assert 0 <= beat["last_poll_seconds_ago"] < beat["limit_seconds"]


def test_it_names_the_database_when_it_cannot_connect(beat_polled, closed_port):
    real = connections["default"]
    unreachable = real.__class__({**real.settings_dict, "HOST": "127.0.0.1", "PORT": closed_port}, "default")
    connections["default"] = unreachable
    try:
        response, body = readyz()
    finally:
        connections["default"] = real
        unreachable.close()
    assert response.status_code == 503
    assert body["status"] == "unavailable" and "database" in body["failing"]
    assert "broker" not in body["failing"]
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["database"]["error"].startswith("OperationalError")


def test_it_names_the_broker_when_it_cannot_connect(beat_polled, closed_port, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port}/0"
    response, body = readyz()
    assert response.status_code == 503
    assert body["failing"] == ["broker"]
    assert body["checks"]["broker"]["ok"] is False and body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ms"] < 3000  # no retries with backoff: a probe answers at once


def test_it_checks_the_filesystem_brokers_folders(beat_polled, settings, tmp_path):
    folders = {"data_folder_in": tmp_path / "queue", "data_folder_out": tmp_path / "queue", "processed_folder": tmp_path / "processed"}
    (tmp_path / "queue").mkdir()
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {name: str(path) for name, path in folders.items()}
    response, body = readyz()
    assert response.status_code == 503 and body["failing"] == ["broker"]
    assert "processed" in body["checks"]["broker"]["error"]
    (tmp_path / "processed").mkdir()
    response, body = readyz()
    assert response.status_code == 200 and body["checks"]["broker"]["ok"] is True


def test_it_names_the_beat_before_any_beat_ran():
    BeatLease.objects.all().delete()
    response, body = readyz()
    assert response.status_code == 503
    assert body["failing"] == ["beat"]
    assert body["checks"]["beat"]["error"] == "no beat has ever run"


def test_it_names_the_beat_when_its_leader_stopped_polling(beat_polled, settings):
    limit = 3 * settings.SCHEDULE_POLL_SECONDS
    # Moved on the database's clock, which the check reads (the test's clock is not the database's).
    BeatLease.objects.filter(name=BeatLease.BEAT).update(renewed_at=Now() - timedelta(seconds=limit + 2))
    response, body = readyz()
    assert response.status_code == 503
    assert body["failing"] == ["beat"]
    assert body["checks"]["beat"]["last_poll_seconds_ago"] > limit

    BeatLease.objects.filter(name=BeatLease.BEAT).update(renewed_at=Now() - timedelta(seconds=limit - 1))
    assert readyz()[0].status_code == 200  # within 3 polls: still fine


def test_it_is_outside_the_api_schema_and_needs_no_token():
    paths = APIClient().get("/v2/schema", HTTP_ACCEPT="application/json").json()["paths"]
    assert not any(path.endswith(("readyz", "healthz", "metrics")) for path in paths)


@pytest.fixture
def production(settings):
    settings.DEBUG = False


def without_request_id(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "request_id"}


def test_it_tells_an_anonymous_caller_only_the_status(beat_polled, production):
    response, body = readyz(operator=False)
    assert response.status_code == 200 and without_request_id(body) == {"status": "ok"}
    BeatLease.objects.all().delete()
    response, body = readyz(operator=False)
    assert response.status_code == 503 and without_request_id(body) == {"status": "unavailable"}
    # A wrong token is no operator: still the status alone, never a 401 a probe would trip on.
    response, body = readyz(HTTP_AUTHORIZATION="Bearer wrong")
    assert response.status_code == 503 and without_request_id(body) == {"status": "unavailable"}


def test_it_shows_the_details_to_the_metrics_token(beat_polled, production):
    response, body = readyz()
    assert response.status_code == 200 and body["failing"] == []
    assert body["checks"]["beat"]["holder"] == "beat-1:4242:9f2c1a7e"


@pytest.mark.parametrize("is_staff, sees", [(True, True), (False, False)], ids=["staff", "customer-user"])
def test_it_shows_the_details_to_a_staff_session_only(beat_polled, production, account, is_staff, sees):
    from outbound.models import User

    client = APIClient()
    client.force_login(User.objects.create(username="op", is_staff=is_staff, account=None if is_staff else account))
    body = client.get("/readyz").json()
    assert ("checks" in body) is sees and body["status"] == "ok"
