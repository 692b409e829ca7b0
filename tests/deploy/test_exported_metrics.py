"""The metrics added for the alerts and the dashboard: whether the database and the broker answer, and the web's requests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from tests.deploy.exported import scrape_text

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def samples(text: str) -> dict:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict, name: str, **labels) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def test_the_database_and_the_broker_are_up_when_they_answer(settings):
    scraped = samples(scrape_text(settings))
    assert value(scraped, "outbound_dependency_up", dependency="database") == 1
    assert value(scraped, "outbound_dependency_up", dependency="broker") == 1


def test_an_unreachable_broker_is_a_zero_not_a_gap(settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    scraped = samples(scrape_text(settings))
    assert ("outbound_dependency_up", frozenset({"dependency": "broker"}.items())) in scraped
    assert value(scraped, "outbound_dependency_up", dependency="broker") == 0
    assert value(scraped, "outbound_dependency_up", dependency="database") == 1


def test_an_unreachable_database_is_a_zero_and_the_scrape_still_answers():
    """A process whose database does not answer (port 1) still reports what it counts, and the database as down."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": "postgres://postgres@127.0.0.1:1/outbound?connect_timeout=2"}
    code = (
        "import django; django.setup()\n"
        "from prometheus_client import generate_latest\n"
        "from config.metrics import registry_build\n"
        "print(generate_latest(registry_build()).decode())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    scraped = samples(result.stdout)
    assert value(scraped, "outbound_dependency_up", dependency="database") == 0
    assert value(scraped, "outbound_dependency_up", dependency="broker") == 1
    assert not any(name == "outbound_sessions" for name, _ in scraped)  # what the database holds is left out, not made up


def test_requests_are_counted_by_surface_and_status_class_and_probes_are_not(settings, api):
    def counts():
        scraped = samples(scrape_text(settings))
        return {
            "api 2xx": value(scraped, "outbound_http_requests_total", surface="api", status_class="2xx"),
            "api 4xx": value(scraped, "outbound_http_requests_total", surface="api", status_class="4xx"),
            "admin 3xx": value(scraped, "outbound_http_requests_total", surface="admin", status_class="3xx"),
            "api timed": value(scraped, "outbound_http_request_duration_seconds_count", surface="api"),
            "other": sum(v for (name, labels), v in scraped.items() if name == "outbound_http_requests_total" and ("surface", "other") in labels),
        }

    before = counts()
    assert api.get("/v2/sessions").status_code == 200
    assert APIClient().get("/v2/sessions").status_code == 401
    assert APIClient().get("/admin/").status_code == 302  # to the login page
    for probe in ("/healthz", "/readyz"):
        APIClient().get(probe)
    after = counts()
    assert {key: after[key] - before[key] for key in before} == {"api 2xx": 1, "api 4xx": 1, "admin 3xx": 1, "api timed": 2, "other": 0}
