"""Real worker and beat processes for end-to-end tests, on the test database and this run's queue."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings

from tests.conftest import database_url

ROOT = Path(__file__).resolve().parents[2]


def wait_until(predicate, *, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll until predicate() is truthy; return its value or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


class Stack:
    """Processes started for one test; all stopped (and their logs kept) at the end."""

    def __init__(self, log_dir: Path, gateway_url: str, **env):
        self.log_dir = log_dir
        self.processes: list[tuple[str, subprocess.Popen, Path]] = []
        self.env = {
            **os.environ,
            "DJANGO_DEBUG": "1",
            "DATABASE_URL": database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "WAHA_BASE_URL": gateway_url,
            "WAHA_TIMEOUT_SECONDS": "5",
            "OUTBOUND_RETRY_BASE_SECONDS": "0.2",
            "OUTBOUND_RETRY_MAX_SECONDS": "1",
            "SCHEDULE_POLL_SECONDS": "0.2",
            "PYTHONUNBUFFERED": "1",
            # Celery's per-task lines (DEBUG lines, off by default): some tests read "received" from a worker's log.
            "LOG_CELERY_TASKS": "1",
            **{key: str(value) for key, value in env.items()},
        }

    def _start(self, name: str, args: list[str], ready: str) -> subprocess.Popen:
        log = self.log_dir / f"{name}-{len(self.processes)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill takes its children too
        )
        self.processes.append((name, process, log))
        wait_until(lambda: ready in log.read_text() or process.poll() is not None, timeout=30, message=f"{name} to start")
        if process.poll() is not None:
            raise AssertionError(f"{name} exited at start:\n{log.read_text()[-3000:]}")
        return process

    def start_worker(self, concurrency: int = 2) -> subprocess.Popen:
        return self._start(
            "worker",
            # No -Q: the settings name this run's queues, fires first.
            ["worker", "-l", "INFO", "-c", str(concurrency), "-n", f"e2e-{uuid.uuid4().hex[:6]}@%h",
             "--without-mingle", "--without-gossip", "--without-heartbeat"],
            ready="ready.",
        )

    def start_beat(self) -> subprocess.Popen:
        return self._start(
            "beat",
            ["beat", "-l", "INFO", "--pidfile=", "-s", str(self.log_dir / "celerybeat-schedule")],
            ready="beat: Starting",
        )

    def log_of(self, process: subprocess.Popen) -> str:
        return next(log for _, p, log in self.processes if p is process).read_text()

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the process and its children: a crash, not a shutdown."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for _, process, _ in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process, _ in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def logs(self) -> str:
        return "\n".join(f"===== {name} ({log.name})\n{log.read_text()[-4000:]}" for name, _, log in self.processes)
