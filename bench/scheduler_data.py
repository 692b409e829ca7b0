"""Bulk setup for the scheduler benchmark: many live schedules, written fast.

Setup writes rows in bulk (creating 100,000 schedules one by one through the
service would take longer than the run); the churn during the run goes
through the service layer like real traffic.
"""

import random
import uuid
from datetime import datetime, time, timedelta, timezone

from django_celery_beat.models import ClockedSchedule, PeriodicTask

from core.ids import new_id
from core.models import Account
from outbound.models import Group, Session
from outbound.services.sends import SendTargets
from schedules.models import Schedule
from schedules.registration import FIRE_TASK
from schedules.rules import DAY_NAMES

ZONES = ["Africa/Cairo", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "UTC"]
BATCH = 5000


def make_targets() -> SendTargets:
    account = Account.objects.create(name="Bench")
    session = Session.objects.create(account=account, name=f"bench-{uuid.uuid4().hex[:6]}", status="WORKING", messages_per_minute=None, send_delay_max_ms=0)
    group = Group.objects.create(account=account, chat_id="120363000000000001@g.us", name="Bench group")
    group.sessions.add(session)
    return SendTargets(session=session, groups=[group])


def _background(kind: str, now: datetime) -> dict:
    """A live schedule whose next occurrence is 1-30 days away."""
    first = now + timedelta(days=1, seconds=random.uniform(0, 29 * 86400))
    if kind == "one-shot":
        return {"kind": "interval", "first_run_at": first, "interval_ms": None, "max_occurrences": 1}
    if kind == "interval":
        return {"kind": "interval", "first_run_at": first, "interval_ms": 3_600_000, "max_occurrences": 100}
    zone = random.choice(ZONES)
    return {
        "kind": "calendar", "first_run_at": first, "days_of_week": list(DAY_NAMES), "timezone": zone,
        "send_time": time(first.hour, first.minute), "start_date": first.date(), "max_occurrences": 30,
    }


def _due(kind: str, due: datetime) -> dict:
    """A schedule whose first occurrence is `due` (inside the measured window)."""
    if kind == "one-shot":
        return {"kind": "interval", "first_run_at": due, "interval_ms": None, "max_occurrences": 1}
    if kind == "interval":
        return {"kind": "interval", "first_run_at": due, "interval_ms": 3_600_000, "max_occurrences": 3}
    # A daily calendar schedule whose send time (UTC, to the microsecond) is `due`.
    return {
        "kind": "calendar", "first_run_at": due, "days_of_week": list(DAY_NAMES), "timezone": "UTC",
        "send_time": due.time(), "start_date": due.date(), "max_occurrences": 3,
    }


def live_schedules_insert(targets: SendTargets, *, count: int, due_stream: list[float]) -> None:
    """`count` background schedules plus one per due time, a third of each kind, with their mirrors."""
    now = datetime.now(timezone.utc)
    kinds = ["one-shot", "interval", "calendar"]
    timings = [_background(kinds[i % 3], now) for i in range(count)]
    timings += [_due(kinds[i % 3], datetime.fromtimestamp(at, timezone.utc)) for i, at in enumerate(due_stream)]
    group = targets.groups[0]
    through = Schedule.groups.through
    for start in range(0, len(timings), BATCH):
        batch = timings[start:start + BATCH]
        ids = [new_id() for _ in batch]
        clocks = ClockedSchedule.objects.bulk_create([ClockedSchedule(clocked_time=t["first_run_at"]) for t in batch])
        tasks = PeriodicTask.objects.bulk_create([
            PeriodicTask(name=f"outbound:text-send-schedule:{sid}", task=FIRE_TASK, kwargs=f'{{"schedule_id": "{sid}"}}',
                         clocked=clock, one_off=True)
            for sid, clock in zip(ids, clocks)
        ])
        Schedule.objects.bulk_create([
            Schedule(id=sid, account_id=targets.session.account_id, session=targets.session, text="bench",
                     next_run_at=timing["first_run_at"], periodic_task=task, **timing)
            for sid, timing, task in zip(ids, batch, tasks)
        ])
        through.objects.bulk_create([through(schedule_id=sid, group_id=group.id) for sid in ids])


def herd_insert(targets: SendTargets, *, count: int, due: datetime, jitter_ms: int = 0) -> list:
    """`count` one-shot schedules all due at `due`, one group each (a group of their own), firing at due + their jitter.

    Returns their ids. Written like the live schedules (with mirrors), so
    the herd is what `count` clients scheduling the same second would leave.
    """
    from schedules.rules import jitter_offset_ms

    session = targets.session
    ids = [new_id() for _ in range(count)]
    tag = random.randrange(10**4)  # chat ids unique per account, herd after herd
    groups = Group.objects.bulk_create([
        Group(account_id=session.account_id, chat_id=f"1203631{tag:04d}{i:07d}@g.us", name=f"Herd group {i}") for i in range(count)
    ], batch_size=BATCH)
    Group.sessions.through.objects.bulk_create(
        [Group.sessions.through(group_id=g.id, session_id=session.id) for g in groups], batch_size=BATCH
    )
    through = Schedule.groups.through
    timing = {"kind": "interval", "first_run_at": due, "interval_ms": None, "max_occurrences": 1}
    for start in range(0, count, BATCH):
        batch = ids[start:start + BATCH]
        clocks = ClockedSchedule.objects.bulk_create([ClockedSchedule(clocked_time=due) for _ in batch])
        tasks = PeriodicTask.objects.bulk_create([
            PeriodicTask(name=f"outbound:text-send-schedule:{sid}", task=FIRE_TASK, kwargs=f'{{"schedule_id": "{sid}"}}',
                         clocked=clock, one_off=True)
            for sid, clock in zip(batch, clocks)
        ])
        Schedule.objects.bulk_create([
            Schedule(id=sid, account_id=session.account_id, session=session, text="herd", jitter_ms=jitter_ms,
                     next_run_at=due + timedelta(milliseconds=jitter_offset_ms(sid, 1, jitter_ms)), periodic_task=task, **timing)
            for sid, task in zip(batch, tasks)
        ])
        through.objects.bulk_create([through(schedule_id=sid, group_id=g.id) for sid, g in zip(batch, groups[start:start + BATCH])])
    return ids
