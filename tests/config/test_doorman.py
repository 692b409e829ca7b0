"""The doorman (config/doorman.py) under a real gunicorn: past capacity, refused at arrival; nothing accepted dropped."""

import errno
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from gunicorn.config import Config

from config.doorman import DoormanWorker

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


class OutOfDescriptorsOnce:
    """A listening socket whose first accept fails, as when the process is out of file descriptors."""

    def __init__(self, sock):
        self.sock, self.failed = sock, False

    def fileno(self):
        return self.sock.fileno()

    def accept(self):
        if not self.failed:
            self.failed = True
            raise OSError(errno.EMFILE, "Too many open files")
        return self.sock.accept()


def test_the_doorman_outlives_an_error_taking_a_connection():
    # A doorman that died would leave its worker alive, heartbeating and deaf.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    worker = DoormanWorker(0, os.getppid(), [OutOfDescriptorsOnce(sock)], None, 30, Config(), logging.getLogger("test"))
    worker.line_open(busy_limit=0.1)
    doorman = threading.Thread(target=worker.doorman, daemon=True)
    doorman.start()
    try:
        with socket.create_connection(sock.getsockname()):
            deadline = time.monotonic() + 5
            while not worker.line and time.monotonic() < deadline:
                time.sleep(0.01)
            assert worker.sockets[0].failed
            assert len(worker.line) == 1 and doorman.is_alive()  # it failed once, then took it
    finally:
        worker.alive = False
        doorman.join(5)
        for _, client, _ in worker.line:
            client.close()
        sock.close()
