"""Running an occurrence once, however often it is fired, and settling its run."""

import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from core.errors import ApplicationError
from outbound import clock
from outbound.models import Delivery, Send
from outbound.services.queueing import deliveries_published_together
from outbound.services.sends import send_create, send_finish_if_done, session_targets_resolve
from schedules import metrics
from schedules.models import Run, Schedule

from .announcements import occurrence_is_announced
from .events import run_events_record
from .status import (
    run_fail,
    runs_count_outcome,
    runs_record_unsent,
    runs_skip_overlapping,
    schedule_settle,
    waiting_runs_start_later,
)

logger = logging.getLogger(__name__)

EARLY_FIRE_TOLERANCE = timedelta(seconds=10)


@dataclass(frozen=True)
class FireEarly:
    """The worker's clock says the occurrence is not due yet: come back at `due_at`."""

    due_at: datetime


def _run_start(
    schedule: Schedule, k: int, due: datetime, now: datetime, trigger: str, *, jitter_offset_ms: int = 0, run: Run | None = None
) -> tuple[Run, bool]:
    """Claim occurrence k and make its send; a send that cannot start fails the run.

    `due` is when the occurrence was to fire: the rule's due time plus
    `jitter_offset_ms` (the run records both). `run`: a run already claimed
    (a backfill's queued run) to start, instead of claiming a new one.
    Returns the run and whether its send may already be complete (every group
    skipped by the frequency cap).
    """
    claimed = run is None
    if claimed:
        # Inserted once its send is made, in the same transaction: the unique
        # occurrence still refuses a second run of it.
        run = Run(
            schedule=schedule, occurrence_number=k, due_at=due - timedelta(milliseconds=jitter_offset_ms),
            jitter_offset_ms=jitter_offset_ms, started_at=now, updated_at=now, trigger=trigger,
        )
        schedule.run_count += 1
    else:
        run.status, run.started_at, run.error_code, run.error_message = Run.Status.RUNNING, now, "", ""
    schedule.last_run_at = now
    group_ids = _schedule_group_ids(schedule)
    may_be_finished = False
    try:
        with transaction.atomic():  # a refused send must not leave half a send behind
            targets = session_targets_resolve(session=schedule.session, group_ids=group_ids)
            created = send_create(
                targets=targets,
                text=schedule.text,
                media=schedule.media,
                actor_user=schedule.actor_user,
                request_id=schedule.request_id,
                variants=schedule.variants,
                skip_within_hours=schedule.skip_within_hours,
                schedule_id=schedule.id,
                occurrence_number=k,
                due_at=due,
                # Announced when it became the next occurrence, unless it became
                # due in the same step (after missed ones) or predates announcements.
                announced=occurrence_is_announced(schedule, k, due),
            )
    except ApplicationError as refusal:
        run_fail(run, code=refusal.code, message=refusal.message, now=now)
        runs_count_outcome(schedule, failed=1)
    else:
        run.send = created.send
        may_be_finished = any(d.status != Delivery.Status.QUEUED for d in created.deliveries)
    if claimed:
        Run.objects.bulk_create([run])  # no signals, as every row a fire writes
    else:
        run.save()
    run_events_record(schedule, [run])
    lag = (now - due).total_seconds()
    metrics.fire_lag_observe(trigger=trigger, seconds=lag, account_id=schedule.account_id)
    if trigger == Run.Trigger.BEAT and schedule.buffered_at is None and lag > settings.SCHEDULE_LATE_AFTER_SECONDS:
        # Late for a reason of ours (beat or workers behind, a resume's catch-up), not by design (buffer_one waits).
        schedule.late_run_count += 1
    logger.info("occurrence fired", extra={
        "event": "occurrence.fired", "schedule_id": str(schedule.id), "occurrence": k, "run_id": str(run.id), "run_status": run.status,
        "trigger": trigger, "send_id": run.send_id and str(run.send_id), "request_id": schedule.request_id, "error_code": run.error_code})
    return run, may_be_finished


def _schedule_group_ids(schedule: Schedule) -> list:
    """The schedule's group ids, in id order."""
    members = Schedule.groups.through.objects.filter(schedule_id=schedule.pk).order_by("group_id")
    return list(members.values_list("group_id", flat=True))


def schedule_occurrence_fire(
    *, schedule_id: uuid.UUID, occurrence_number: int | None = None, trigger: str = Run.Trigger.BEAT
) -> Run | FireEarly | None:
    """Run a schedule's next occurrence once, however many times it is fired.

    1. Lock the schedule: fires, cancels, pauses and edits of one schedule take turns.
    2. Skip if it is not active (canceled, paused, ended) or this occurrence
       was already handled (a duplicate fire from a second beat, a
       redelivery, a restart).
    3. Never early: a fire that beats the fire time (due time + jitter) by
       a little (clock skew) comes back on time; one far ahead of it is ignored.
    4. The rest is _due_occurrences_take: missed ones, the overlap policy,
       the claim of the due occurrence's Run (unique per occurrence), its send.
    5. Settle the status.
    """
    now = clock.now()
    with transaction.atomic():
        schedule = _schedule_locked(schedule_id)
        return _fire_locked(schedule, occurrence_number, trigger, now)


def _schedule_locked(schedule_id) -> Schedule | None:
    """The schedule, locked for this transaction, with what a fire reads of it (None if it is gone)."""
    return (
        Schedule.objects.select_for_update(of=("self",))
        .select_related("account", "session", "actor_user")
        .filter(pk=schedule_id)
        .first()
    )


def _fire_locked(schedule: Schedule | None, occurrence_number: int | None, trigger: str, now: datetime) -> Run | FireEarly | None:
    """schedule_occurrence_fire from step 2, on the schedule its caller locked."""
    if schedule is None or schedule.status not in Schedule.ACTIVE or schedule.next_run_at is None:
        return None
    fire = schedule.next_run_at
    if occurrence_number is not None and occurrence_number != schedule.next_occurrence:
        return None
    if trigger != Run.Trigger.OPERATOR and fire > now:
        # A little early is clock skew between beat and this worker: come
        # back on time. Far early is not a fire of this occurrence at all.
        return FireEarly(fire) if fire - now <= EARLY_FIRE_TOLERANCE else None
    run, may_be_finished = _due_occurrences_take(schedule, now, trigger)
    schedule_settle(schedule, now, running=True if run is not None and run.status == Run.Status.RUNNING else None)
    if may_be_finished:
        send_finish_if_done(send=run.send)
    return run


def occurrences_fire(*, occurrences: list[tuple[str, int]]) -> list[tuple[str, int, FireEarly]]:
    """Fire several schedules' occurrences (beat's message for one tick) in one transaction.

    Each is fired exactly as schedule_occurrence_fire would, in a savepoint
    of its own, so one that fails leaves the others fired (its next message,
    or beat's republish, tries it again). The schedules are locked in id
    order in one query: batches that share schedules (a republish) take
    turns, never deadlock. One commit for the lot, and their deliveries
    published together. Returns those a little early (clock skew), to be
    fired again at their time.
    """
    now = clock.now()
    wanted = {str(schedule_id): occurrence for schedule_id, occurrence in occurrences}
    early = []
    with deliveries_published_together(), transaction.atomic():
        locked = (
            Schedule.objects.select_for_update(of=("self",))
            .select_related("account", "session", "actor_user")
            .filter(pk__in=list(wanted))
            .order_by("pk")
        )
        for schedule, outcome in _fire_each(locked, now, occurrences=wanted):
            if isinstance(outcome, FireEarly):
                early.append((str(schedule.pk), wanted[str(schedule.pk)], outcome))
    return early


def _fire_each(schedules, now: datetime, occurrences: dict | None = None):
    """Fire each locked schedule in a savepoint of its own; (schedule, outcome) for each that did not fail.

    One that fails is logged and left as it was: its own fire message (or
    beat's republish) tries it again. `occurrences`: {schedule id: the
    occurrence to fire}; without it, whatever is due.
    """
    for schedule in schedules:
        try:
            with transaction.atomic():
                occurrence = occurrences[str(schedule.pk)] if occurrences else None
                outcome = _fire_locked(schedule, occurrence, Run.Trigger.BEAT, now)
        except Exception:  # this one only
            logger.exception("schedule %s: fire failed", schedule.id)
            continue
        yield schedule, outcome


OVERDUE_BATCH = 50


def overdue_schedules_fire(*, limit: int = OVERDUE_BATCH) -> int:
    """When fires are behind, fire up to `limit` due schedules in one transaction; how many were fired.

    A herd is worked through this way much faster than fire by fire: one
    commit (a disk flush) and one locking query for the batch, not one
    each. The schedules are taken as their fire messages would take them
    (locked, each fired exactly as schedule_occurrence_fire does, in a
    savepoint of its own), SKIP LOCKED so workers doing this at once take
    different ones; the fire messages beat published for them then find
    them fired and do nothing. Nothing is fired early: only what is due now.
    Schedules waiting for a run in progress (buffer_one) are left alone.
    """
    now = clock.now()
    due = Schedule.objects.filter(next_run_at__lte=now, status__in=Schedule.ACTIVE, buffered_at__isnull=True)
    if not due.filter(next_run_at__lte=now - Schedule.FIRES_BEHIND).exists():
        return 0
    with deliveries_published_together(), transaction.atomic():
        batch = list(
            due.select_for_update(of=("self",), skip_locked=True)
            .select_related("account", "session", "actor_user")
            .order_by("next_run_at")[:limit]
        )
        fired = sum(isinstance(outcome, Run) for _, outcome in _fire_each(batch, now))
    return fired


def _due_occurrences_take(schedule: Schedule, now: datetime, trigger: str) -> tuple[Run | None, bool]:
    """Deal with every occurrence of the (locked) schedule that fires by now; advance it past them.

    1. An operator's run now starts the next occurrence at once, whatever
       else runs.
    2. Occurrences that fire more than the catch-up window ago are recorded
       missed (failed runs), not sent late; the one waiting for a run in
       progress (buffered) is exempt: it is late by design.
    3. The first that fires by now starts, unless an earlier run is still
       sending (`running`) and the overlap policy says otherwise: skip
       records it skipped (overlap), and the next due one is looked at;
       buffer_one lets it wait (buffered_at) and starts it when the run in
       progress finishes, when those that fell due meanwhile are skipped.
    Returns the run started, if any, and whether its send may be complete.
    """
    k, due = schedule.next_occurrence, schedule.next_due_at()
    rule, policy = schedule.rule, schedule.overlap_policy
    waited = schedule.buffered_at is not None
    run, may_be_finished = None, False
    if trigger != Run.Trigger.OPERATOR:
        if not waited:
            k, due, missed = runs_record_unsent(
                schedule, k, due, now - schedule.catchup_window, status=Run.Status.FAILED, code="missed",
                message="Not fired within the catch-up window; not sent late.", now=now,
            )
            if missed:
                logger.warning("schedule %s: %s occurrence(s) missed, up to #%s", schedule.id, missed, k - 1)
        # A schedule that never ran has nothing in progress (a one-shot's only fire: no query).
        running = due is not None and schedule.run_count > 0 and schedule.runs.filter(status=Run.Status.RUNNING).exists()
        if running and policy == Schedule.OverlapPolicy.SKIP:
            k, due, _ = runs_skip_overlapping(schedule, k, due, now)
        elif running and policy == Schedule.OverlapPolicy.BUFFER_ONE and schedule.fire_at(k, due) <= now:
            # It waits for the run in progress; the next settle of a run starts it.
            schedule.buffered_at = schedule.buffered_at or now
            schedule.next_occurrence, schedule.next_run_at = k, schedule.fire_at(k, due)
            return None, False
    if due is not None and (trigger == Run.Trigger.OPERATOR or schedule.fire_at(k, due) <= now):
        offset = schedule.jitter_offset_ms(k)
        run, may_be_finished = _run_start(schedule, k, schedule.fire_at(k, due), now, trigger, jitter_offset_ms=offset)
        k, due = k + 1, rule.next_due(k + 1, due)
        if waited and trigger != Run.Trigger.OPERATOR:
            # It waited in the one buffer place: those that fell due meanwhile found it taken.
            k, due, _ = runs_skip_overlapping(schedule, k, due, now)
        schedule.buffered_at = None
    schedule.next_occurrence, schedule.next_run_at = k, schedule.fire_at(k, due)
    return run, may_be_finished


def run_settle_for_send(*, send: Send) -> None:
    """A run's send finished: the run completes, or fails if any delivery failed or expired.

    Called inside the transaction that completed the send.
    """
    if send.schedule_id is None:
        return
    schedule = Schedule.objects.select_for_update().filter(pk=send.schedule_id).first()
    run = Run.objects.filter(send=send).first()
    if schedule is None or run is None or run.status != Run.Status.RUNNING:
        return
    now = clock.now()
    failed = Counter(send.deliveries.filter(status__in=Delivery.UNSUCCESSFUL).values_list("error_code", flat=True))
    if failed:
        total = send.deliveries.count()
        code = next(iter(failed)) if len(failed) == 1 else "deliveries_failed"
        detail = ", ".join(f"{c or 'unknown'}: {n}" for c, n in failed.most_common())
        message = f"{sum(failed.values())} of {total} deliveries failed ({detail})."
        run_fail(run, code=code or "deliveries_failed", message=message, now=now)
        runs_count_outcome(schedule, failed=1)  # the row is locked: no lost update
    else:
        run.status, run.completed_at = Run.Status.COMPLETED, now
        runs_count_outcome(schedule, succeeded=True)
    run.save()
    run_events_record(schedule, [run])
    schedule_settle(schedule, now)
    waiting_runs_start_later(schedule)


def schedule_waiting_start(*, schedule_id: uuid.UUID) -> Run | None:
    """Start what waits for the schedule's runs in progress, once none is: the buffered occurrence, else the next backfilled run.

    Queued (schedules.tasks.schedule_advance) when a run finished, a
    backfill was made or a paused schedule resumed. Does nothing while a run
    is in progress, or while the schedule is paused or canceled. The live
    occurrence goes first: it is the one a client expects now. Backfilled
    runs go in due order; one whose send cannot start fails, and the next
    one is tried.
    """
    now = clock.now()
    with transaction.atomic():
        schedule = _schedule_locked(schedule_id)
        if schedule is None or schedule.status in (Schedule.Status.PAUSED, Schedule.Status.CANCELED):
            return None
        if schedule.runs.filter(status=Run.Status.RUNNING).exists():
            return None
        run, may_be_finished = None, False
        if schedule.buffered_at is not None and schedule.next_run_at is not None:
            run, may_be_finished = _due_occurrences_take(schedule, now, Run.Trigger.BEAT)
        while run is None or run.status != Run.Status.RUNNING:
            queued = schedule.runs.filter(status=Run.Status.QUEUED).order_by("due_at", "occurrence_number").first()
            if queued is None:
                break
            run, may_be_finished = _run_start(
                schedule, queued.occurrence_number, queued.due_at + timedelta(milliseconds=queued.jitter_offset_ms), now,
                Run.Trigger.BACKFILL, jitter_offset_ms=queued.jitter_offset_ms, run=queued,
            )
        schedule_settle(schedule, now)
        if may_be_finished:
            send_finish_if_done(send=run.send)
        return run
