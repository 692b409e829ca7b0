"""Two beat processes: one leads, the other stands by and takes over when the leader is killed."""

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from outbound.timefmt import to_ms
from schedules.models import Schedule

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
