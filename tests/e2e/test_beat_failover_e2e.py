"""Two beat processes: one leads, the other stands by and takes over when the leader is killed or hangs."""

import os
import re
import signal
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from core.time import to_ms
from schedules.models import Run, Schedule
from schedules.selectors import beat_leader

from .stack import wait_until

pytestmark = pytest.mark.e2e


def test_the_standby_takes_over_within_10_seconds_and_nothing_runs_twice(stack, api, session, make_groups, ledger, settings):
    settings.SCHEDULE_MIN_INTERVAL_MS = 1000
    stack.start_worker()
    leader = stack.start_beat()
    wait_until(lambda: "leader now" in stack.log_of(leader), timeout=20, message="the first beat to lead")
    standby = stack.start_beat()
    wait_until(lambda: "standing by" in stack.log_of(standby), timeout=20, message="the second beat to stand by")

    groups = make_groups(2)
    body = {
        "session_id": str(session.id), "group_ids": [str(g.id) for g in groups], "idempotency_key": f"e2e-{uuid.uuid4()}",
        "text": "Failover", "schedule": {"first_run_at_ms": to_ms(timezone.now() + timedelta(seconds=1)),
                                         "interval_ms": 3000, "max_occurrences": 4},
    }
    schedule = Schedule.objects.get(pk=api.post("/v2/outbound/sends", body, format="json").json()["schedule"]["schedule_id"])
    wait_until(lambda: schedule.runs.exists(), timeout=20, message="the first occurrence")

    stack.kill(leader)
    killed_at = time.monotonic()
    wait_until(lambda: "leader now" in stack.log_of(standby), timeout=15, message="the standby to take over")
    assert time.monotonic() - killed_at <= 10

    done = wait_until(
        lambda: Schedule.objects.filter(pk=schedule.pk, status__in=["completed", "completed_with_failures"]).first(),
        timeout=40, message="the schedule to complete",
    )
    assert (done.status, done.run_count) == ("completed", 4)
    assert ledger.per_chat() == {g.chat_id: 4 for g in groups}


def test_a_hung_leader_is_replaced_within_10_seconds_and_stands_down_when_it_wakes(stack, api, session, make_groups, ledger):
    worker = stack.start_worker()

    def fires_received() -> list:
        return re.findall(r"schedules_fire\[([0-9a-f-]+)\] received", stack.log_of(worker))

    leader = stack.start_beat()
    wait_until(lambda: "leader now" in stack.log_of(leader), timeout=20, message="the first beat to lead")
    standby = stack.start_beat()
    wait_until(lambda: "standing by" in stack.log_of(standby), timeout=20, message="the second beat to stand by")

    count = 10
    groups = make_groups(2 * count)
    first_due = timezone.now() + timedelta(seconds=5)
    schedule_ids = []
    for i in range(count):
        body = {
            "session_id": str(session.id), "group_ids": [str(g.id) for g in groups[2 * i:2 * i + 2]],
            "idempotency_key": f"e2e-{uuid.uuid4()}", "text": f"Hung leader {i}",
            "schedule": {"first_run_at_ms": to_ms(first_due + timedelta(milliseconds=100 * i))},
        }
        schedule_ids.append(api.post("/v2/outbound/sends", body, format="json").json()["schedule"]["schedule_id"])

    # Hang the leader (SIGSTOP: its sessions stay open, its kernel still
    # answers keepalives) just before they fall due, with the first already
    # in its heap.
    time.sleep(max(0.0, (first_due - timezone.now()).total_seconds() - 0.15))
    os.killpg(leader.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: Run.objects.filter(schedule_id__in=schedule_ids).count() == count, timeout=30,
                   message="every occurrence to run while the leader hangs")
        lateness = max(run.started_at - run.due_at for run in Run.objects.filter(schedule_id__in=schedule_ids))
        print(f"occurrences fired by the standby at most {lateness.total_seconds():.2f} s late")
        assert lateness <= timedelta(seconds=10)
        assert holder_pid() == standby.pid
        fire_messages = len(fires_received())
        assert 0 < fire_messages <= count  # beat's messages carry what falls due in one tick
    finally:
        os.killpg(leader.pid, signal.SIGCONT)

    wait_until(lambda: "lost the leader lease" in stack.log_of(leader), timeout=15, message="the woken leader to stand down")
    wait_until(lambda: Schedule.objects.filter(pk__in=schedule_ids, status="completed").count() == count, timeout=30,
               message="every schedule to complete")
    time.sleep(1)  # anything the woken leader had wrongly published would have run by now
    assert holder_pid() == standby.pid
    texts = {(m["chatId"], m["text"]) for m in ledger.messages()}
    assert len(ledger.messages()) == len(texts) == 2 * count
    assert texts == {(g.chat_id, f"Hung leader {i // 2}") for i, g in enumerate(groups)}
    # Nothing is due any more: a fire message received since the leader woke would be one it published.
    assert len(fires_received()) == fire_messages


def holder_pid() -> int:
    return int(beat_leader().holder.split(":")[1])
