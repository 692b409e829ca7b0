"""The fake WAHA gateway calling back: webhooks to a real receiver over loopback."""

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from outbound.fake_gateway import start_in_thread
from outbound.management.commands.run_fake_gateway import Command

GROUP = "120363040000000001@g.us"
DEFAULT_WEBHOOK_CONFIG = {"webhook_url": None, "webhook_hmac_key": None, "ack_delay_ms": 200, "acks": [1, 2, 3]}


class Receiver:
    """A stdlib webhook receiver that remembers every request it got.

    Answers 500 to the first `fail_first` requests, and can hold each answer
    for `hang_s` to play a slow receiver.
    """

    def __init__(self, fail_first=0, hang_s=0):
        self.fail_first = fail_first
        self.hang_s = hang_s
        self.requests = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._cond:
                    receiver.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "at": time.monotonic(),
                        }
                    )
                    failing = len(receiver.requests) <= receiver.fail_first
                    receiver._cond.notify_all()
                time.sleep(receiver.hang_s)
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/waha/webhook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for(self, count, timeout=5.0):
        with self._cond:
            self._cond.wait_for(lambda: len(self.requests) >= count, timeout)
            return list(self.requests)

    def bodies(self):
        with self._cond:
            return [json.loads(r["body"]) for r in self.requests]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def gateway():
    server, base_url = start_in_thread()
    with httpx.Client(base_url=base_url, timeout=10) as http:
        yield http
    server.stop()


def configure(http, **config):
    response = http.post("/_fake/config", json=config)
    assert response.status_code == 200, response.text
    return response.json()


def send_text(http, text="hello", **extra):
    return http.post("/api/sendText", json={"session": "sales", "chatId": GROUP, "text": text, **extra})


def callbacks(http):
    return http.get("/_fake/callbacks").json()


def wait_for_callbacks(http, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        listed = callbacks(http)
        if listed["count"] >= count or time.monotonic() > deadline:
            return listed
        time.sleep(0.02)


def test_it_emits_acks_in_the_configured_order_spaced_by_the_delay(gateway, receiver):
    # Shorter than the worker takes to build its HTTP client, so a late first
    # ack must not eat into the gap before the second.
    configure(gateway, webhook_url=receiver.url, ack_delay_ms=60)

    sent_at = time.monotonic()
    assert send_text(gateway).status_code == 201
    requests = receiver.wait_for(3)

    assert [json.loads(r["body"])["payload"]["ack"] for r in requests] == [1, 2, 3]
    assert [json.loads(r["body"])["payload"]["ackName"] for r in requests] == ["SERVER", "DEVICE", "READ"]
    arrivals = [sent_at] + [r["at"] for r in requests]
    assert all(later - earlier >= 0.06 * 0.8 for earlier, later in zip(arrivals, arrivals[1:])), arrivals
    assert all(r["method"] == "POST" and r["path"] == "/waha/webhook" for r in requests)


def test_it_emits_acks_out_of_order_when_told_to(gateway, receiver):
    configure(gateway, webhook_url=receiver.url, ack_delay_ms=20, acks=[3, 2])

    send_text(gateway)

    assert [json.loads(r["body"])["payload"]["ackName"] for r in receiver.wait_for(2)] == ["READ", "DEVICE"]


def test_it_sends_wahas_body_and_headers_with_the_ledger_id(gateway, receiver):
    configure(gateway, webhook_url=receiver.url, ack_delay_ms=0, acks=[2])
    before_ms = int(time.time() * 1000)

    send_text(gateway, id="3EB0AAAAAAAAAAAAAAAAAAAA")
    request = receiver.wait_for(1)[0]

    entry = gateway.get("/_fake/ledger").json()["messages"][0]
    body = json.loads(request["body"])
    assert re.fullmatch(r"evt_[0-9a-f]{32}", body["id"])
    assert before_ms <= body["timestamp"] <= int(time.time() * 1000)
    assert body == {
        "id": body["id"],
        "timestamp": body["timestamp"],
        "event": "message.ack",
        "session": "sales",
        "me": None,
        "engine": "WEBJS",
        "environment": {
            "version": "fake",
            "engine": "WEBJS",
            "tier": "CORE",
            "browser": "/usr/bin/chromium",
            "platform": "linux/x64",
            "worker": {"id": "fake-gateway"},
        },
        "payload": {
            "id": entry["serialized"],
            "from": entry["from"],
            "to": GROUP,
            "participant": entry["from"],
            "fromMe": True,
            "ack": 2,
            "ackName": "DEVICE",
        },
    }
    assert entry["serialized"] == f"true_{GROUP}_3EB0AAAAAAAAAAAAAAAAAAAA"
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    assert uuid.UUID(headers["X-Webhook-Request-Id"]).version == 4
    assert headers["X-Webhook-Timestamp"] == str(body["timestamp"])


def test_it_signs_the_raw_body_with_hmac_sha512_when_given_a_key(gateway, receiver):
    configure(gateway, webhook_url=receiver.url, webhook_hmac_key="s3cret", ack_delay_ms=0, acks=[1, 2])

    send_text(gateway)
    requests = receiver.wait_for(2)

    for request in requests:
        expected = hmac.new(b"s3cret", request["body"], hashlib.sha512).hexdigest()
        assert request["headers"]["X-Webhook-Hmac"] == expected
        assert request["headers"]["X-Webhook-Hmac-Algorithm"] == "sha512"
    assert requests[0]["headers"]["X-Webhook-Request-Id"] != requests[1]["headers"]["X-Webhook-Request-Id"]


def test_it_sends_no_hmac_headers_without_a_key(gateway, receiver):
    configure(gateway, webhook_url=receiver.url, ack_delay_ms=0, acks=[1])

    send_text(gateway)
    headers = receiver.wait_for(1)[0]["headers"]

    assert "X-Webhook-Hmac" not in headers and "X-Webhook-Hmac-Algorithm" not in headers


def test_it_emits_session_status_when_config_changes_a_session(gateway, receiver):
    configure(gateway, webhook_url=receiver.url)

    configure(gateway, sessions={"sales": "STOPPED"})
    receiver.wait_for(1)
    configure(gateway, sessions={"sales": "WORKING", "support": "WORKING"})  # support was already WORKING
    requests = receiver.wait_for(2)

    bodies = [json.loads(r["body"]) for r in requests]
    assert [(b["event"], b["session"], b["payload"]["name"], b["payload"]["status"]) for b in bodies] == [
        ("session.status", "sales", "sales", "STOPPED"),
        ("session.status", "sales", "sales", "WORKING"),
    ]
    # WAHA's `statuses`: the recent changes, oldest first, ending with this one.
    stopped, working = bodies[0]["payload"]["statuses"], bodies[1]["payload"]["statuses"]
    assert [point["status"] for point in stopped] == ["STOPPED"]
    assert [point["status"] for point in working] == ["STOPPED", "WORKING"]
    assert working[0] == stopped[0] and working[0]["timestamp"] <= working[1]["timestamp"]
    time.sleep(0.1)
    assert len(receiver.requests) == 2


def test_it_retries_a_failed_webhook_with_the_same_event_id():
    receiver = Receiver(fail_first=1)
    server, base_url = start_in_thread(webhook_url=receiver.url, ack_delay_ms=0, acks=[1])
    try:
        with httpx.Client(base_url=base_url, timeout=10) as http:
            send_text(http)
            first, retry = receiver.wait_for(2)
            listed = wait_for_callbacks(http, 1)
    finally:
        server.stop()
        receiver.stop()

    assert first["body"] == retry["body"]
    assert retry["at"] - first["at"] >= 0.4
    assert first["headers"]["X-Webhook-Request-Id"] != retry["headers"]["X-Webhook-Request-Id"]
    assert listed["callbacks"][0]["id"] == json.loads(first["body"])["id"]
    assert listed["callbacks"][0]["status_code"] == 200
    assert listed["callbacks"][0]["attempts"] == 2


def test_it_lists_the_callbacks_it_sent(gateway, receiver):
    configure(gateway, webhook_url=receiver.url, ack_delay_ms=0)

    send_text(gateway)
    receiver.wait_for(3)
    listed = wait_for_callbacks(gateway, 3)

    assert listed["count"] == 3
    sent_ids = [b["id"] for b in receiver.bodies()]
    assert [c["id"] for c in listed["callbacks"]] == sent_ids
    first = listed["callbacks"][0]
    assert set(first) == {"id", "event", "session", "payload", "status_code", "attempts", "sent_at_ms"}
    assert first["event"] == "message.ack" and first["session"] == "sales"
    assert first["payload"]["ack"] == 1
    assert first["status_code"] == 200 and first["attempts"] == 1
    assert first["sent_at_ms"] == receiver.bodies()[0]["timestamp"]


def test_it_acks_an_accepted_then_failed_send_but_not_a_refused_one(gateway, receiver):
    configure(gateway, webhook_url=receiver.url, ack_delay_ms=0, acks=[1], error_rate=1.0)
    assert send_text(gateway, "refused").status_code == 500
    configure(gateway, error_rate=0.0, accept_then_fail_rate=1.0)

    assert send_text(gateway, "ambiguous", id="3EB0EEEEEEEEEEEEEEEEEEEE").status_code == 500
    receiver.wait_for(1)
    time.sleep(0.1)

    assert [b["payload"]["id"] for b in receiver.bodies()] == [f"true_{GROUP}_3EB0EEEEEEEEEEEEEEEEEEEE"]


def test_it_emits_one_webhook_on_request(gateway, receiver):
    configure(gateway, webhook_url=receiver.url, acks=[])
    send_text(gateway, id="3EB0BBBBBBBBBBBBBBBBBBBB")
    raw, serialized = "3EB0BBBBBBBBBBBBBBBBBBBB", f"true_{GROUP}_3EB0BBBBBBBBBBBBBBBBBBBB"

    by_raw = gateway.post("/_fake/emit", json={"event": "message.ack", "message_id": raw, "ack": 4})
    by_serialized = gateway.post("/_fake/emit", json={"event": "message.ack", "message_id": serialized, "ack": -1})
    status = gateway.post("/_fake/emit", json={"event": "session.status", "session": "sales", "status": "STOPPED"})

    assert [r.status_code for r in (by_raw, by_serialized, status)] == [200, 200, 200]
    # Delivered before the answer, so the receiver already has all three.
    bodies = receiver.bodies()
    me = gateway.get("/_fake/ledger").json()["messages"][0]["from"]
    ack = {"id": serialized, "from": me, "to": GROUP, "participant": me, "fromMe": True}
    assert [(b["event"], b["payload"]) for b in bodies] == [
        ("message.ack", {**ack, "ack": 4, "ackName": "PLAYED"}),
        ("message.ack", {**ack, "ack": -1, "ackName": "ERROR"}),
        ("session.status", {"name": "sales", "status": "STOPPED", "statuses": bodies[2]["payload"]["statuses"]}),
    ]
    assert [point["status"] for point in bodies[2]["payload"]["statuses"]] == ["STOPPED"]
    assert by_raw.json()["id"] == bodies[0]["id"] and by_raw.json()["status_code"] == 200
    assert callbacks(gateway)["count"] == 3


def test_it_answers_emit_errors(gateway, receiver):
    unknown = {"event": "message.ack", "message_id": "3EB0DDDDDDDDDDDDDDDDDDDD", "ack": 2}
    configure(gateway, webhook_url=receiver.url)

    assert gateway.post("/_fake/emit", json=unknown).status_code == 404
    assert gateway.post("/_fake/emit", json={"event": "message.any"}).status_code == 400
    assert gateway.post("/_fake/emit", json={**unknown, "ack": 7}).status_code == 400
    configure(gateway, webhook_url=None)
    status = {"event": "session.status", "session": "sales", "status": "STOPPED"}
    assert gateway.post("/_fake/emit", json=status).status_code == 409
    assert receiver.requests == []


def test_it_calls_back_no_one_without_a_webhook_url(gateway, receiver):
    configure(gateway, ack_delay_ms=0)

    send_text(gateway)
    configure(gateway, sessions={"sales": "STOPPED"})
    time.sleep(0.2)

    assert receiver.requests == []
    assert callbacks(gateway) == {"count": 0, "callbacks": []}


def test_it_resets_the_webhook_config_the_callbacks_and_pending_acks(gateway, receiver):
    configure(gateway, webhook_url=receiver.url, webhook_hmac_key="k", ack_delay_ms=0, acks=[1])
    send_text(gateway)
    wait_for_callbacks(gateway, 1)
    configure(gateway, ack_delay_ms=300, acks=[2])
    send_text(gateway)  # its ack is still due when the reset comes

    config = gateway.post("/_fake/reset").json()
    time.sleep(0.5)

    assert {key: config[key] for key in DEFAULT_WEBHOOK_CONFIG} == DEFAULT_WEBHOOK_CONFIG
    assert callbacks(gateway) == {"count": 0, "callbacks": []}
    assert len(receiver.requests) == 1


def test_it_resets_to_the_webhook_config_it_was_started_with(receiver):
    server, base_url = start_in_thread(webhook_url=receiver.url, webhook_hmac_key="k", ack_delay_ms=5, acks=[3])
    try:
        with httpx.Client(base_url=base_url) as http:
            configure(http, webhook_url=None, webhook_hmac_key=None, ack_delay_ms=1, acks=[])
            config = http.post("/_fake/reset").json()
    finally:
        server.stop()

    assert config["webhook_url"] == receiver.url
    assert (config["webhook_hmac_key"], config["ack_delay_ms"], config["acks"]) == ("k", 5, [3])


def test_it_rejects_a_bad_webhook_config(gateway):
    for bad in (
        {"webhook_url": "ftp://example.test/hook"},
        {"webhook_url": 3},
        {"webhook_hmac_key": 3},
        {"ack_delay_ms": -1},
        {"ack_delay_ms": 1.5},
        {"acks": [5]},
        {"acks": [True]},
        {"acks": "1,2"},
    ):
        assert gateway.post("/_fake/config", json=bad).status_code == 400, bad
    assert {key: gateway.get("/_fake/config").json()[key] for key in DEFAULT_WEBHOOK_CONFIG} == DEFAULT_WEBHOOK_CONFIG


def test_it_stops_promptly_with_acks_still_pending(receiver):
    server, base_url = start_in_thread(webhook_url=receiver.url, ack_delay_ms=10_000)
    with httpx.Client(base_url=base_url) as http:
        send_text(http)

    started = time.monotonic()
    server.stop()

    assert time.monotonic() - started < 2
    assert receiver.requests == []


def test_it_stops_promptly_while_a_webhook_is_in_flight():
    slow = Receiver(hang_s=4)
    server, base_url = start_in_thread(webhook_url=slow.url, ack_delay_ms=0)
    try:
        with httpx.Client(base_url=base_url) as http:
            send_text(http)
        slow.wait_for(1)

        started = time.monotonic()
        server.stop()

        assert time.monotonic() - started < 2
    finally:
        slow.stop()


def test_it_takes_the_webhook_options_on_the_command_line():
    parser = Command().create_parser("manage.py", "run_fake_gateway")

    defaults = parser.parse_args([])
    given = parser.parse_args(
        ["--webhook-url", "http://127.0.0.1:8000/hooks", "--webhook-hmac-key", "k", "--ack-delay-ms", "50"]
    )

    assert (defaults.webhook_url, defaults.webhook_hmac_key, defaults.ack_delay_ms) == (None, None, 200)
    assert (given.webhook_url, given.webhook_hmac_key, given.ack_delay_ms) == ("http://127.0.0.1:8000/hooks", "k", 50)
