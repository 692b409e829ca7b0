"""The doorman (config/doorman.py) under a real gunicorn: past capacity, refused at arrival; nothing accepted dropped."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.config.slow_wsgi import WORK_SECONDS

ROOT = Path(__file__).resolve().parents[2]
SHED_AFTER_MS = 300  # three requests' work: the worker lines up about four, serving one


@pytest.fixture
def server():
    """One gunicorn worker with a doorman, serving an app whose requests take WORK_SECONDS."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "WEB_SHED_AFTER_MS": str(SHED_AFTER_MS)}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "tests.config.slow_wsgi:application", "--worker-class",
         "config.doorman.DoormanWorker", "--workers", "1", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while get(port, "/work")[0] != 200:  # the first request served sets what the worker expects one to take
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read().decode()
        time.sleep(0.1)
    yield port, process
    process.kill()
    process.wait()


def get(port: int, path: str) -> tuple[int, bytes, float]:
    """(status, body, when it was answered by time.monotonic()); status 0 if there was no answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := client.recv(65536):
                answer += chunk
    except OSError:
        return 0, b"", time.monotonic()
    if not answer:
        return 0, b"", time.monotonic()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body, time.monotonic()


def burst(port: int, n: int, pool: ThreadPoolExecutor, path="/work"):
    return [pool.submit(get, port, path) for _ in range(n)]


def test_it_refuses_what_it_has_no_room_for_when_it_arrives(server):
    port, _ = server
    with ThreadPoolExecutor(21) as pool:
        answers = [f.result() for f in burst(port, 20, pool) + burst(port, 1, pool, "/healthz")]
    *work, health = answers
    accepted = sorted(when for status, _, when in work if status == 200)
    refused = [(body, when) for status, body, when in work if status == 503]
    assert len(accepted) + len(refused) == 20  # each answered: served or refused
    # About the limit's worth of work is lined up; the rest is refused...
    assert 3 <= len(accepted) <= 6 and refused
    assert {json.loads(body)["error"]["code"] for body, _ in refused} == {"overloaded"}
    # ...at once, not after waiting its turn: every refusal came before the line's second answer.
    assert max(when for _, when in refused) < accepted[1]
    assert health[0] == 200  # never refused, however full


def test_a_worker_told_to_stop_serves_what_it_lined_up(server):
    port, process = server
    with ThreadPoolExecutor(8) as pool:
        pending = burst(port, 8, pool)
        time.sleep(WORK_SECONDS / 2)  # all of them arrived: lined up or refused
        process.send_signal(signal.SIGTERM)
        statuses = sorted(f.result()[0] for f in pending)
    assert 0 not in statuses  # none dropped unanswered
    assert statuses.count(200) >= 3 and set(statuses) <= {200, 503}
    assert process.wait(timeout=30) == 0
