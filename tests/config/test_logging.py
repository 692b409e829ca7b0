"""Log lines: one JSON object per state change, with the ids to find it by; plain text with the same fields for local runs."""

import io
import json
import logging

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from config.logging import RequestIdFilter, TextFormatter
from outbound.services.deliveries import delivery_attempt
from schedules.services import schedule_occurrence_fire
from tests.schedules.conftest import make_due_now, make_schedule, post_schedule  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines(settings):
    """What the stderr handler of the LOGGING setting writes with LOG_FORMAT=json, as parsed JSON objects."""
    from pythonjsonlogger.json import JsonFormatter

    options = dict(settings.LOGGING["formatters"]["json"])
    assert options.pop("()") == "pythonjsonlogger.json.JsonFormatter"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(**options))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def test_a_send_and_its_delivery_are_json_lines_with_their_ids(api, session, make_groups, gateway, json_lines, django_capture_on_commit_callbacks):
    group = make_groups(1)[0]
    body = {"session_id": str(session.id), "group_ids": [str(group.id)], "idempotency_key": "log-1", "text": "Hi"}
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post("/v2/outbound/sends", body, format="json", HTTP_X_REQUEST_ID="req-log-1").json()
    delivery_id = answer["send"]["results"][0]["recipient_send_id"]
    delivery_attempt(delivery_id=delivery_id)

    lines = json_lines()
    [accepted] = [line for line in lines if line.get("event") == "send.accepted"]
    assert accepted["level"] == "INFO" and accepted["logger"] == "outbound.services.sends" and accepted["time"]
    assert accepted["message"] == "send accepted"
    assert accepted["send_id"] == answer["send"]["send_id"] and accepted["request_id"] == "req-log-1"
    assert (accepted["queued"], accepted["skipped"], accepted["schedule_id"]) == (1, 0, None)

    [sent] = [line for line in lines if line.get("event") == "delivery.sent"]
    assert sent["message"] == "delivery sent" and sent["logger"] == "outbound.services.deliveries"
    assert sent["delivery_id"] == delivery_id and sent["send_id"] == answer["send"]["send_id"]
    # Logged by a worker, outside any request: the send's own request id ties it to the API call.
    assert sent["request_id"] == "req-log-1"


def test_a_fire_is_a_json_line_with_its_schedule_and_occurrence(make_schedule, json_lines):  # noqa: F811
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2)
    make_due_now(schedule)
    run = schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1)
    [fired] = [line for line in json_lines() if line.get("event") == "occurrence.fired"]
    assert (fired["schedule_id"], fired["occurrence"], fired["run_id"]) == (str(schedule.id), 1, str(run.id))
    assert fired["send_id"] == str(run.send_id) and fired["trigger"] == "beat" and fired["request_id"] == schedule.request_id


@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_a_line_logged_while_serving_a_request_carries_its_id(json_lines):
    APIClient().get("/readyz", HTTP_X_REQUEST_ID="req-probe-7")  # the broker check fails and says so
    [warning] = [line for line in json_lines() if line["message"].startswith("readyz: broker check failed")]
    assert warning["level"] == "WARNING" and warning["request_id"] == "req-probe-7"
    logging.getLogger("elsewhere").warning("outside a request")
    assert "request_id" not in json_lines()[-1]


def test_text_lines_show_the_same_fields(settings):
    formatter = TextFormatter(settings.LOGGING["formatters"]["text"]["format"])
    record = logging.LogRecord("outbound.services.deliveries", logging.INFO, __file__, 1, "delivery %s", ("sent",), None)
    record.__dict__.update(event="delivery.sent", delivery_id="d-1", schedule_id=None)
    line = formatter.format(record)
    assert line.endswith("INFO outbound.services.deliveries delivery sent event=delivery.sent delivery_id=d-1")
    # Other lines: only their request id (a library's own `extra=` is for JSON readers).
    record = logging.LogRecord("celery.app.trace", logging.INFO, __file__, 1, "Task succeeded", (), None)
    record.__dict__.update(data={"args": "()"}, request_id="req-9")
    assert formatter.format(record).endswith("INFO celery.app.trace Task succeeded request_id=req-9")
