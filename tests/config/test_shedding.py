"""Load shedding: a worker busy without a break for too long refuses fast, and serves again after a pause."""

import json
import time

from config.shedding import LoadShedder


def slow_app(environ, start_response):
    time.sleep(0.03)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]


def call(app, path="/v2/sessions"):
    answer = {}

    def start_response(status, headers):
        answer.update(status=status, headers=dict(headers))

    answer["body"] = b"".join(app({"PATH_INFO": path}, start_response))
    return answer


def test_it_refuses_once_busy_without_a_break_past_its_limit_and_serves_after_a_pause():
    app = LoadShedder(slow_app, busy_limit_seconds=0.05)
    # Back to back, as a worker with a backlog takes them: 0, 30, 60 ms into the busy stretch.
    statuses = [call(app)["status"] for _ in range(3)]
    assert statuses == ["200 OK", "200 OK", "503 Service Unavailable"]
    refused = call(app)
    assert refused["status"].startswith("503") and refused["headers"]["Retry-After"] == "1"
    body = json.loads(refused["body"])
    assert body["error"]["code"] == "overloaded" and body["request_id"] == refused["headers"]["X-Request-ID"]
    time.sleep(0.02)  # the worker waited for a request: the backlog is empty
    assert call(app)["status"] == "200 OK"


def test_it_never_refuses_health_checks():
    app = LoadShedder(slow_app, busy_limit_seconds=0.01)
    assert [call(app, "/healthz")["status"] for _ in range(4)] == ["200 OK"] * 4


def test_it_can_be_turned_off():
    app = LoadShedder(slow_app, busy_limit_seconds=0)
    assert [call(app)["status"] for _ in range(4)] == ["200 OK"] * 4
