"""Load shedding: refuse fast while the accept queue holds more than the limit's worth of work, never otherwise."""

import json
import socket
import time

import pytest

from config import shedding
from config.shedding import LoadShedder


def slow_app(environ, start_response):
    time.sleep(0.02)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]


def call(app, path="/v2/sessions"):
    answer = {}

    def start_response(status, headers):
        answer.update(status=status, headers=dict(headers))

    answer["body"] = b"".join(app({"PATH_INFO": path}, start_response))
    return answer


@pytest.fixture
def listener():
    """A real listening socket, as gunicorn's, and a way to queue connections on it that nobody accepts."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    clients = []

    def queue(n):
        clients.extend(socket.create_connection(sock.getsockname()) for _ in range(n))
        time.sleep(0.05)  # the kernel completes the handshakes

    shedding.listeners_set([sock], workers=1)
    yield queue
    shedding.listeners_set([], workers=1)
    for client in clients:
        client.close()
    sock.close()


def test_it_refuses_while_the_queue_holds_more_than_its_limit_of_work(listener):
    app = LoadShedder(slow_app, busy_limit_seconds=0.1)
    assert call(app)["status"] == "200 OK"  # learns a request takes about 20 ms
    listener(3)  # about 60 ms of work queued: under the limit
    assert call(app)["status"] == "200 OK"
    listener(7)  # 10 queued, about 200 ms: over it
    refused = call(app)
    assert refused["status"].startswith("503") and refused["headers"]["Retry-After"] == "1"
    body = json.loads(refused["body"])
    assert body["error"]["code"] == "overloaded" and body["request_id"] == refused["headers"]["X-Request-ID"]
    assert call(app, "/healthz")["status"] == "200 OK"  # never refused


def test_a_client_sending_back_to_back_is_never_refused(listener):
    # No queue, however busy the worker is: one sequential client, no pause at all.
    app = LoadShedder(slow_app, busy_limit_seconds=0.05)
    assert {call(app)["status"] for _ in range(20)} == {"200 OK"}


def test_it_can_be_turned_off(listener):
    app = LoadShedder(slow_app, busy_limit_seconds=0)
    call(app)
    listener(20)
    assert call(app)["status"] == "200 OK"


def test_the_accept_queue_length_is_read_from_the_kernel(listener):
    sock = shedding._listeners[0]
    assert shedding.accept_queue_length(sock) == 0
    listener(4)
    assert shedding.accept_queue_length(sock) == 4
