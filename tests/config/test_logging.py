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


def test_a_delivery_the_gateway_failed_is_a_warning_line_with_when_it_is_tried_again(session, make_groups, gateway, json_lines):
    import httpx

    from outbound.services.sends import send_create, send_targets_resolve

    httpx.post(f"{gateway.base_url}/_fake/config", json={"error_rate": 1.0}).raise_for_status()
    targets = send_targets_resolve(account=session.account, session_id=session.id, group_ids=[make_groups(1)[0].id])
    send = send_create(targets=targets, text="Hi", media=[], actor_user=None).send
    delivery = send.deliveries.get()
    delivery_attempt(delivery_id=delivery.id)
    [retrying] = [line for line in json_lines() if line.get("event") == "delivery.retrying"]
    assert retrying["level"] == "WARNING" and retrying["message"] == "delivery retrying: gateway_error"
    assert (retrying["delivery_id"], retrying["send_id"], retrying["attempt"]) == (str(delivery.id), str(send.id), 1)
    assert retrying["error_code"] == "gateway_error" and 0 < retrying["retry_in_s"] <= 10


def test_each_change_to_a_schedule_is_one_line_with_its_request(api, make_schedule, json_lines, django_capture_on_commit_callbacks):  # noqa: F811
    with django_capture_on_commit_callbacks(execute=True):
        schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3, text="Old")
        for path, request_id in (("pause", "req-p"), ("resume", "req-r")):
            api.post(f"/v2/outbound/schedules/{schedule.id}/{path}", HTTP_X_REQUEST_ID=request_id)
        api.patch(f"/v2/outbound/schedules/{schedule.id}", {"text": "New"}, format="json", HTTP_X_REQUEST_ID="req-e")
        api.post(f"/v2/outbound/schedules/{schedule.id}/cancel", HTTP_X_REQUEST_ID="req-c")
    lines = [line for line in json_lines() if line.get("event", "").startswith("schedule.")]
    assert [(line["event"], line["message"], line["status"]) for line in lines] == [
        ("schedule.created", "schedule created", "scheduled"),
        ("schedule.paused", "schedule paused", "paused"),
        ("schedule.resumed", "schedule resumed", "scheduled"),
        ("schedule.updated", "schedule updated", "scheduled"),
        ("schedule.canceled", "schedule canceled", "canceled"),
    ]
    assert {line["schedule_id"] for line in lines} == {str(schedule.id)}
    assert [line["request_id"] for line in lines[1:]] == ["req-p", "req-r", "req-e", "req-c"]
    assert lines[0]["kind"] == "interval" and lines[0]["next_run_at"]
    assert lines[3]["changed"] == ["text"] and "New" not in json.dumps(lines[3])  # names, not texts
    assert {line["level"] for line in lines} == {"INFO"}


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


# What the LOGGING setting makes of Celery's per-task lines and of an operator's line, in a process of its
# own (dictConfig replaces the root logger's handlers, pytest's among them). The messages are Celery's own.
_LOG_SOME_LINES = """
import logging.config, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
from django.conf import settings
from celery.app import trace
logging.config.dictConfig(settings.LOGGING)
task = {"id": "t-1", "name": "webhooks.tasks.events_relay", "args": "()", "kwargs": "{}", "eta": None}
logging.getLogger("celery.worker.strategy").info(trace.LOG_RECEIVED, task, extra={"data": task})
trace.info(trace.LOG_SUCCESS, {**task, "return_value": 0, "runtime": 0.004})
logging.getLogger("celery.beat").info("beat: Starting...")
logging.getLogger("celery.beat").info("Scheduler: Sending due task %s (%s)", "webhooks-relay-events", task["name"])
logging.getLogger("celery.app.trace").error("Task %s[%s] raised unexpected: %s", task["name"], "t-2", "boom")
logging.getLogger("outbound.services.deliveries").info("delivery sent", extra={"event": "delivery.sent", "delivery_id": "d-1"})
"""


def _lines_logged(**env) -> list[str]:
    import os
    import subprocess
    import sys

    environment = {key: value for key, value in os.environ.items() if not key.startswith("LOG_")}
    result = subprocess.run(
        [sys.executable, "-c", _LOG_SOME_LINES], env={**environment, "DJANGO_DEBUG": "1", **env},
        capture_output=True, text=True, timeout=60, check=True,
    )
    return result.stderr.splitlines()


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_by_default_celery_per_task_lines_are_not_logged_and_an_operators_lines_are(log_format):
    lines = _lines_logged(LOG_FORMAT=log_format)
    text = "\n".join(lines)
    assert "received" not in text and "succeeded in" not in text and "Sending due task" not in text
    assert "beat: Starting..." in text  # process managers and the e2e tests wait for it
    assert "raised unexpected: boom" in text  # a task failing is an operator's line
    assert "delivery sent" in text
    assert len(lines) == 3
    if log_format == "json":
        assert [json.loads(line)["level"] for line in lines] == ["INFO", "ERROR", "INFO"]


@pytest.mark.parametrize("env", [{"LOG_LEVEL": "DEBUG"}, {"LOG_LEVEL": "debug"}, {"LOG_CELERY_TASKS": "1"}], ids=["DEBUG", "debug", "LOG_CELERY_TASKS"])
def test_celery_per_task_lines_are_debug_lines_shown_when_asked_for(env):
    lines = [json.loads(line) for line in _lines_logged(LOG_FORMAT="json", **env)]
    by_message = {line["message"].split(":")[0].split("[")[0]: line for line in lines}
    received = [line for line in lines if line["message"].endswith("received")]
    succeeded = [line for line in lines if "succeeded in" in line["message"]]
    sending = [line for line in lines if line["message"].startswith("Scheduler: Sending due task webhooks-relay-events")]
    assert len(received) == len(succeeded) == len(sending) == 1
    assert {received[0]["level"], succeeded[0]["level"], sending[0]["level"]} == {"DEBUG"}
    assert received[0]["logger"] == "celery.worker.strategy" and succeeded[0]["logger"] == "celery.app.trace"
    assert by_message["beat"]["level"] == "INFO" and by_message["delivery sent"]["level"] == "INFO"
