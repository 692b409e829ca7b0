"""The Procfile's web process (bin/web: HAProxy in front of gunicorn) against slow, idle and too many clients.

Each test starts the real stack on free ports, two gunicorn workers as the
Procfile's default, on this test's database.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from axes.models import AccessAttempt

from outbound.models import IdempotencyKey
from tests.conftest import database_url

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("haproxy") is None,
        reason="haproxy is not installed (Debian package haproxy; bin/_services.sh installs it as root)",
    ),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Web:
    """bin/web on a free port; its log (HAProxy's and gunicorn's) kept for a failure's report."""

    def __init__(self, tmp_path: Path, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "web.log"
        self.access_log = tmp_path / "access.log"
        environment = {
            **os.environ,
            "DJANGO_DEBUG": "1",
            "DATABASE_URL": database_url(),
            "PORT": str(self.port),
            "WEB_CONCURRENCY": "2",
            "VAR_DIR": str(tmp_path),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.process = subprocess.Popen(
            ["bin/web", "--access-logfile", str(self.access_log),
             "--access-logformat", '%(h)s "%(r)s" %(s)s'],
            cwd=ROOT, env=environment, stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not self.answers("/healthz"):
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.1)

    def answers(self, path: str) -> bool:
        try:
            return httpx.get(self.url + path, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # bin/web stops HAProxy softly, then gunicorn
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()


@pytest.fixture
def start_web(transactional_db, tmp_path):
    started = []

    def start(**env) -> Web:
        started.append(Web(tmp_path, **env))
        return started[-1]

    yield start
    for web in started:
        web.stop()
        print(web.log.read_text()[-4000:])  # shown under "Captured stdout teardown" when the test failed


@pytest.fixture
def web(start_web):
    return start_web()


def timed_get(url: str, **kwargs) -> tuple[int, float]:
    start = time.monotonic()
    response = httpx.get(url, timeout=10, **kwargs)
    return response.status_code, time.monotonic() - start


def test_it_answers_within_a_second_while_slow_and_idle_clients_hold_connections(web, token):
    held, stop = [], threading.Event()
    for _ in range(4):  # half a request line, then silence
        client = socket.create_connection(("127.0.0.1", web.port))
        client.sendall(b"GET /v2/sess")
        held.append(client)
    for _ in range(4):  # connected, nothing sent
        held.append(socket.create_connection(("127.0.0.1", web.port)))

    def trickle(client):  # a whole head, then a body one byte at a time
        client.sendall(b"POST /v2/outbound/sends HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 400\r\n\r\n")
        while not stop.wait(0.1):
            try:
                client.sendall(b" ")
            except OSError:
                return

    trickling = []
    for _ in range(2):
        client = socket.create_connection(("127.0.0.1", web.port))
        held.append(client)
        trickling.append(threading.Thread(target=trickle, args=(client,), daemon=True))
        trickling[-1].start()
    time.sleep(0.5)  # every slow connection has reached the server
    try:
        for _ in range(3):
            health = timed_get(f"{web.url}/healthz")
            sessions = timed_get(f"{web.url}/v2/sessions", headers={"Authorization": f"Bearer {token}"})
            assert health[0] == 200 and health[1] < 1, health
            assert sessions[0] == 200 and sessions[1] < 1, sessions
    finally:
        stop.set()
        for client in held:
            client.close()


def test_each_worker_is_warmed_up_before_its_first_request(web):
    """A cold first request took seconds on a busy host: long enough for requests queued behind it to time out."""
    deadline = time.monotonic() + 10
    while web.log.read_text().count("Worker warmed up") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert web.log.read_text().count("Worker warmed up") == 2, web.log.read_text()[-3000:]


def test_a_request_head_not_sent_within_the_header_timeout_is_closed_without_a_worker(start_web):
    web = start_web(WEB_HEADER_TIMEOUT="1s")
    with socket.create_connection(("127.0.0.1", web.port), timeout=5) as client:
        client.sendall(b"GET /v2/sess")
        start = time.monotonic()
        answer = client.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - start < 3


def test_a_body_not_sent_in_time_gets_408_in_the_error_shape_without_a_worker(start_web):
    web = start_web(WEB_HEADER_TIMEOUT="1s")
    with socket.create_connection(("127.0.0.1", web.port), timeout=5) as client:
        client.sendall(b"POST /v2/outbound/sends HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 100\r\n\r\n{")
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    error = json.loads(body)
    assert error["error"]["code"] == "request_timeout" and f"x-request-id: {error['request_id']}".encode() in head
    assert web.answers("/healthz")


def send_create(web: Web, token: str, body: dict) -> tuple[int, dict, dict, float]:
    start = time.monotonic()
    try:
        response = httpx.post(f"{web.url}/v2/outbound/sends", json=body, timeout=15,
                              headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError:
        return 0, {}, {}, time.monotonic() - start
    return response.status_code, response.json(), response.headers, time.monotonic() - start


def test_a_burst_past_capacity_is_refused_at_once_in_the_error_shape_and_nothing_accepted_is_lost(
    start_web, token, session, make_groups
):
    web = start_web(WEB_QUEUE_LIMIT="4", API_RATE_LIMIT_PER_TOKEN="off", API_RATE_LIMIT_PER_ACCOUNT="off")
    group_ids = [str(group.id) for group in make_groups(10)]
    prefix = uuid.uuid4().hex
    bodies = [{"session_id": str(session.id), "group_ids": group_ids, "idempotency_key": f"{prefix}-{i}", "text": "hi"}
              for i in range(120)]
    with ThreadPoolExecutor(max_workers=60) as pool:
        # Each worker's first request is slow (lazy imports, first connections), on a busy CI host long
        # enough for queued requests to meet `timeout queue`; warm both workers first.
        for round_ in range(3):
            warm = [{**bodies[0], "idempotency_key": f"warm-{prefix}-{round_}-{i}"} for i in range(2)]
            assert [status for status, *_ in pool.map(lambda body: send_create(web, token, body), warm)] == [202, 202]
        answers = list(pool.map(lambda body: send_create(web, token, body), bodies))
        health = [timed_get(f"{web.url}/healthz") for _ in range(3)]

    statuses = [status for status, *_ in answers]
    assert set(statuses) <= {202, 503}, statuses  # every request answered: accepted or refused
    refused = [(body, headers, seconds) for status, body, headers, seconds in answers if status == 503]
    assert refused and statuses.count(202)
    for body, headers, seconds in refused:
        assert body["error"]["code"] == "overloaded" and set(body["error"]) == {"code", "message", "details"}
        assert body["request_id"] == headers["x-request-id"] and re.fullmatch(r"[0-9a-f-]{36}", body["request_id"])
        assert headers["retry-after"] == "1" and headers["content-type"] == "application/json"
    assert IdempotencyKey.objects.filter(key__startswith=f"{prefix}-").count() == statuses.count(202)
    assert all(status == 200 for status, _ in health)
    # Refused at arrival by HAProxy itself (L: answered locally, R: a resource limit; never queued),
    # within milliseconds of the request's arrival.
    web.stop()
    refusals = [line for line in web.log.read_text().splitlines() if " 503 " in line and "POST /v2/outbound/sends" in line]
    assert len(refusals) == len(refused)
    for line in refusals:
        timers = re.search(r" (-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/(\d+) 503 \d+ LR-- ", line)
        # TR (the client sending its head, slow under this test's own threads) aside: Ta - TR.
        assert timers and timers[2] == "-1" and int(timers[5]) - int(timers[1]) < 50, line


def test_the_request_id_is_the_proxys_in_its_log_the_application_and_the_answer(web, tmp_path):
    response = httpx.get(f"{web.url}/v2/sessions", headers={"X-Request-ID": "client-trace-1"})
    request_id = response.headers["x-request-id"]
    assert response.json()["request_id"] == request_id and uuid.UUID(request_id)
    web.stop()  # flushes the logs
    proxy_line = next(line for line in web.log.read_text().splitlines() if "GET /v2/sessions" in line and "{" in line)
    assert request_id in proxy_line and "{client-trace-1}" in proxy_line  # the client's own id is kept in the log


def admin_login_fails(url: str, *, source: str, forwarded_for: str) -> int:
    with httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address=source), timeout=10) as client:
        client.get("/admin/login/")
        return client.post(
            "/admin/login/",
            data={"username": "nobody", "password": "wrong", "csrfmiddlewaretoken": client.cookies["csrftoken"]},
            headers={"X-Forwarded-For": forwarded_for},
        ).status_code


def test_the_client_address_is_the_one_the_proxy_saw_never_one_a_client_wrote(web):
    assert admin_login_fails(web.url, source="127.0.0.2", forwarded_for="203.0.113.9") == 200  # the form again

    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["127.0.0.2"]
    web.stop()
    addresses = {line.split(" ", 1)[0] for line in web.access_log.read_text().splitlines()}
    assert addresses == {"127.0.0.1", "127.0.0.2"}  # the probe at start, then this test's client


def test_a_large_body_answered_before_it_was_read_still_gets_its_answer(web):
    """A refusal that needs no body (401 here) is answered although the body was never read.

    gunicorn closes the connection after its answer; closing with unread data
    resets it, and HAProxy, still forwarding the body, gave the client no
    answer at all (the fuzzer found this with a 300 KB PATCH).
    """
    body = json.dumps({"schedule": {"name": "x" * 300_000}})
    for _ in range(5):
        response = httpx.patch(
            f"{web.url}/v2/outbound/schedules/{uuid.uuid4()}", content=body,
            headers={"Content-Type": "application/json", "Authorization": "Bearer not-a-token"}, timeout=10,
        )
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthorized"


def test_an_unauthenticated_body_trickled_past_the_proxys_buffer_holds_no_worker_for_long(web):
    """Past HAProxy's buffer a body streams to a worker: reading its rest after a 401 must not wait on the client."""
    held, stop = [], threading.Event()

    def trickle(client):
        client.sendall(
            b"PATCH /v2/outbound/schedules/" + str(uuid.uuid4()).encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer not-a-token\r\nContent-Type: application/json\r\nContent-Length: 500000\r\n\r\n"
            + b" " * 40_000  # more than HAProxy buffers: the request goes to a worker with its body still coming
        )
        while not stop.wait(0.2):
            try:
                client.sendall(b" ")
            except OSError:
                return

    for _ in range(2):  # as many as there are workers
        client = socket.create_connection(("127.0.0.1", web.port))
        held.append(client)
        threading.Thread(target=trickle, args=(client,), daemon=True).start()
    time.sleep(0.5)  # both have reached a worker
    try:
        health = timed_get(f"{web.url}/healthz")
        assert health[0] == 200 and health[1] < 5, health  # a held worker would keep it waiting 30 s
    finally:
        stop.set()
        for client in held:
            client.close()


def test_authenticated_uploads_trickled_past_the_proxys_buffer_never_hold_every_worker(start_web, token, session):
    """A body larger than HAProxy's buffer streams to a worker at the client's pace.

    HAProxy 2.6 cannot spool such a body to disk, so a customer trickling
    large uploads holds the workers that read them: at most WEB_UPLOAD_SLOTS
    of them at once, so the API still answers everyone else.
    """
    web = start_web(WEB_BUFFER_SIZE="65536")
    held, stop = [], threading.Event()
    length = 2_000_000

    def trickle(client):
        boundary = b"b0undary"
        head = (b"--" + boundary + b"\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\n"
                b"Content-Type: image/png\r\n\r\n")
        client.sendall(
            b"POST /v2/outbound/sends HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token.encode()
            + b"\r\nContent-Type: multipart/form-data; boundary=" + boundary
            + b"\r\nContent-Length: " + str(length).encode() + b"\r\n\r\n" + head + b"\0" * 100_000
        )  # more than HAProxy holds: the request goes to a worker with its body still coming
        while not stop.wait(0.2):
            try:
                client.sendall(b"\0" * 100)
            except OSError:
                return

    for _ in range(3):  # more uploads than there are workers
        client = socket.create_connection(("127.0.0.1", web.port))
        held.append(client)
        threading.Thread(target=trickle, args=(client,), daemon=True).start()
    time.sleep(1)  # the uploads have reached what they can reach
    try:
        for _ in range(3):
            sessions = timed_get(f"{web.url}/v2/sessions", headers={"Authorization": f"Bearer {token}"})
            assert sessions[0] == 200 and sessions[1] < 1, sessions
    finally:
        stop.set()
        for client in held:
            client.close()
