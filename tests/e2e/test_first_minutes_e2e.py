"""The first minutes of a new user's run: what the embedded broker writes, and what a worker logs by default."""

import os
import re
import signal
import subprocess
import sys
import uuid

import pytest

from outbound.models import Send

from .stack import ROOT, wait_until
from .test_immediate_send_e2e import post_send, wait_for_send

pytestmark = pytest.mark.e2e


def test_the_embedded_broker_writes_only_under_var(tmp_path):
    """bin/start's worker (the Procfile's command, filesystem broker) leaves no kombu `control/` folder where it runs."""
    here, var = tmp_path / "checkout", tmp_path / "var"
    here.mkdir()
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("CELERY_", "DATABASE_URL"))}
    environment.update(
        DJANGO_DEBUG="1", VAR_DIR=str(var), DATABASE_URL=f"sqlite:///{var}/db.sqlite3", PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel", "INFO", "--pool", "solo",
         "-n", f"fs-{uuid.uuid4().hex[:6]}@%h"],
        cwd=here, env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        wait_until(lambda: "ready." in log.read_text() or worker.poll() is not None, timeout=60, message="the worker to start")
        assert worker.poll() is None, log.read_text()[-3000:]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    # The worker declared its queues, which writes the exchange's table to the control folder.
    assert sorted(p.name for p in (var / "broker" / "control").iterdir()) == ["outbound.exchange"]
    assert list(here.iterdir()) == [], "the worker wrote into the folder it runs from"
    assert "No hostname was supplied" not in log.read_text()


@pytest.mark.parametrize("log_level, per_task_lines", [("INFO", False), ("DEBUG", True)])
def test_a_worker_logs_celery_per_task_lines_only_at_debug(stack, api, session, make_groups, ledger, log_level, per_task_lines):
    stack.env.pop("LOG_CELERY_TASKS")  # the default: per-task lines follow LOG_LEVEL
    stack.env.update(LOG_LEVEL=log_level, LOG_FORMAT="text")
    worker = stack.start_worker(concurrency=1)
    groups = make_groups(3)
    send_id = post_send(api, session, groups)
    assert wait_for_send(send_id).status == Send.Status.COMPLETED
    wait_until(lambda: stack.log_of(worker).count(" delivery sent ") == 3, timeout=30, message="the deliveries' lines")
    stack.stop()

    log = stack.log_of(worker)
    # An operator's lines, at either level: one per delivery finished.
    assert len(re.findall(r" INFO outbound\.services\.deliveries delivery sent event=delivery\.sent", log)) == 3
    received = re.findall(r" DEBUG celery\.worker\.strategy Task outbound\.tasks\.\w+\[[0-9a-f-]+\] received", log)
    succeeded = re.findall(r" DEBUG celery\.app\.trace Task outbound\.tasks\.\w+\[[0-9a-f-]+\] succeeded in", log)
    if per_task_lines:
        # One task may carry several deliveries: at least one of each, and each task received also succeeded.
        assert received and len(received) == len(succeeded)
    else:
        assert (received, succeeded) == ([], [])
        assert " received" not in log and "succeeded in" not in log
