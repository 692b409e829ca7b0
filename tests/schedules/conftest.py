import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from core.time import to_ms
from schedules.models import Run, Schedule


@pytest.fixture
def post_schedule(api, session, make_groups):
    """POST a scheduled send; returns the response. Defaults: 2 groups, first run in an hour."""
    default_groups = []

    def post(*, groups=None, text="Weekly promo", **rule):
        if groups is None:
            if not default_groups:
                default_groups.extend(make_groups(2))
            groups = default_groups
        if "calendar" not in rule:
            rule.setdefault("first_run_at_ms", to_ms(timezone.now() + timedelta(hours=1)))
        body = {
            "session_id": str(session.id),
            "group_ids": [str(g.id) for g in groups],
            "idempotency_key": rule.pop("idempotency_key", f"key-{uuid.uuid4()}"),
            "text": text,
            "schedule": rule,
        }
        for top_level in ("variants", "skip_within_hours"):
            if top_level in rule:
                body[top_level] = rule.pop(top_level)
        return api.post("/v2/outbound/sends", body, format="json")

    return post


@pytest.fixture
def make_schedule(post_schedule):
    def make(**rule) -> Schedule:
        response = post_schedule(**rule)
        assert response.status_code == 202, response.json()
        return Schedule.objects.get(pk=response.json()["schedule"]["schedule_id"])

    return make


def make_due_now(schedule: Schedule) -> None:
    """Move a schedule so its next occurrence is due right now (as if time passed)."""
    schedule.refresh_from_db()
    now = timezone.now()
    shift = now - schedule.next_run_at
    Schedule.objects.filter(pk=schedule.pk).update(first_run_at=schedule.first_run_at + shift, next_run_at=now)
    schedule.refresh_from_db()


def add_runs(schedule: Schedule, count: int, *, failed_every: int = 0) -> None:
    """Runs of occurrences 1..count, one an hour up to now, made in one INSERT; every `failed_every`-th failed."""
    now = timezone.now()
    runs = []
    for k in range(1, count + 1):
        due = now - timedelta(hours=count - k + 1)
        failed = bool(failed_every) and k % failed_every == 0
        runs.append(
            Run(
                schedule=schedule, occurrence_number=k, due_at=due, started_at=due,
                status=Run.Status.FAILED if failed else Run.Status.COMPLETED,
                completed_at=None if failed else due + timedelta(seconds=5),
                failed_at=due + timedelta(seconds=5) if failed else None,
                error_code="session_not_working" if failed else "",
            )
        )
    Run.objects.bulk_create(runs)
    failed = sum(r.status == Run.Status.FAILED for r in runs)
    Schedule.objects.filter(pk=schedule.pk).update(run_count=count, failed_run_count=failed)
