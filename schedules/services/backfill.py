"""Backfill: run, once each and in order, the occurrences of a schedule that never ran.

What never ran, among the occurrences due in the range asked for:
- runs that sent nothing because they were skipped (a pause, the overlap
  policy, a cancel before their backfill started) or missed (fired past the
  catch-up window);
- for calendar rules, the rule's occurrences between its start_date and
  occurrence 1 (the schedule was created, or switched to this rule, after
  them). They have no number of their own: occurrence 1 is the first one
  the schedule ran. They are numbered PRIOR_BASE + their position counted
  from start_date (10001 for the rule's first day's first time, ...): above
  every number the schedule itself uses (1-10000), the same whoever asks,
  so the Run claim (unique per schedule and occurrence) makes a second
  backfill of one a no-op.

An occurrence that started (running, completed, or failed for any reason
but missed) is never repeated: retry-failed is for those.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from core.errors import ApplicationError
from core.time import to_ms
from outbound import clock
from outbound.models import User
from schedules.models import Run, Schedule, ScheduleChange
from schedules.rules import MAX_OCCURRENCES, CalendarRule

from .status import schedule_settle, waiting_runs_start_later

MAX_BACKFILL = 100
# Occurrences before occurrence 1 are numbered from here up.
PRIOR_BASE = MAX_OCCURRENCES


@dataclass(frozen=True)
class BackfillOccurrence:
    occurrence_number: int
    due_at: datetime
    fire_at: datetime  # due_at + its jitter offset: what its messages' ids carry
    was: str  # "skipped", "missed" or "not_run" (before occurrence 1)


def schedule_backfill(
    *, schedule: Schedule, start: datetime, end: datetime, actor_user: User | None = None, source: str = "api"
) -> list[BackfillOccurrence]:
    """Queue the occurrences due in [start, end) that never ran; they start one at a time, in due order.

    1. Lock the schedule: backfills, fires and edits of one schedule take
       turns, so two backfills at once claim each occurrence once.
    2. A canceled schedule is refused (409 schedule_canceled).
    3. Only occurrences already due count (end is clamped to now), and only
       those the schedule has passed (its next occurrence is still its own).
    4. More than MAX_BACKFILL: refused (422 too_many_occurrences), nothing queued.
    5. Claim: a skipped or missed run becomes `queued` (conditional UPDATE,
       checked), an occurrence before occurrence 1 gets a new queued run
       (unique per occurrence). A missed run no longer counts as failed.
    6. Audit (ScheduleChange), settle (the schedule is running while they
       wait), and after commit start the first, unless a run is in progress:
       each next one starts when the one before it finishes (a paused
       schedule holds them until resumed).
    """
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
        if schedule.status == Schedule.Status.CANCELED:
            raise ApplicationError("schedule_canceled", "The schedule is canceled; nothing can run.", http_status=409)
        now = clock.now()
        end = min(end, now)
        candidates = sorted(
            _unsent_runs(schedule, start, end) + _prior_occurrences(schedule, start, end),
            key=lambda o: (o.due_at, o.occurrence_number),
        )
        if len(candidates) > MAX_BACKFILL:
            raise ApplicationError(
                "too_many_occurrences",
                f"{len(candidates)} occurrences in this range never ran; a backfill runs at most {MAX_BACKFILL}. Narrow the range.",
                details={"count": len(candidates), "max": MAX_BACKFILL},
            )
        claimed = [o for o in candidates if _claim(schedule, o, now)]
        if not claimed:
            return []
        ScheduleChange.objects.create(
            schedule=schedule, actor_user=actor_user, source=source,
            changes={"backfill": [None, {
                "from_ms": to_ms(start), "to_ms": to_ms(end), "occurrences": [o.occurrence_number for o in claimed],
            }]},
        )
        if schedule.status in Schedule.ENDED:
            schedule.completed_at = None  # open again until these have run
        schedule_settle(schedule, now)
        waiting_runs_start_later(schedule)
        return claimed


def _unsent_runs(schedule: Schedule, start: datetime, end: datetime) -> list[BackfillOccurrence]:
    # Bounded: one more than a backfill may take is enough to refuse.
    runs = (
        schedule.runs.filter(Run.BACKFILLABLE, due_at__gte=start, due_at__lt=end)
        .order_by("due_at", "occurrence_number")
        .values_list("occurrence_number", "due_at", "jitter_offset_ms", "status")[: MAX_BACKFILL + 1]
    )
    return [
        BackfillOccurrence(k, due, due + timedelta(milliseconds=offset), "skipped" if status == Run.Status.SKIPPED else "missed")
        for k, due, offset, status in runs
    ]


def _prior_occurrences(schedule: Schedule, start: datetime, end: datetime) -> list[BackfillOccurrence]:
    """The calendar rule's occurrences due in [start, end) before occurrence 1, numbered from PRIOR_BASE + 1."""
    rule = schedule.rule
    if not isinstance(rule, CalendarRule):
        return []  # an interval rule's first occurrence is occurrence 1
    end = min(end, schedule.first_run_at)
    if start >= end:
        return []
    # Their numbers: the position of each counted from start_date, whatever max_occurrences says.
    position = rule.count_between(None, start, limit=2**31 - 1 - PRIOR_BASE)
    done = set(schedule.runs.filter(occurrence_number__gt=PRIOR_BASE).values_list("occurrence_number", flat=True))
    at = rule.first_after(start - timedelta(microseconds=1))
    prior = []
    while at is not None and at < end and len(prior) <= MAX_BACKFILL:
        position += 1
        if PRIOR_BASE + position not in done:  # else backfilled already (the claim would refuse it too)
            prior.append(BackfillOccurrence(PRIOR_BASE + position, at, at, "not_run"))
        at = rule.first_after(at)
    return prior


def _claim(schedule: Schedule, occurrence: BackfillOccurrence, now: datetime) -> bool:
    """Make the occurrence's run `queued` for this backfill; False when someone else got it first."""
    if occurrence.was == "not_run":
        _, created = Run.objects.get_or_create(
            schedule=schedule,
            occurrence_number=occurrence.occurrence_number,
            defaults={"due_at": occurrence.due_at, "status": Run.Status.QUEUED, "trigger": Run.Trigger.BACKFILL, "started_at": now},
        )
        if created:
            schedule.run_count += 1
        return created
    claimed = (
        Run.objects.filter(Run.BACKFILLABLE, schedule=schedule, occurrence_number=occurrence.occurrence_number)
        .update(
            status=Run.Status.QUEUED, trigger=Run.Trigger.BACKFILL, started_at=now, failed_at=None,
            error_code="", error_message="", updated_at=now,
        )
    )
    if claimed and occurrence.was == "missed":
        schedule.failed_run_count -= 1  # it may yet succeed; it counts again if it fails
    return bool(claimed)
