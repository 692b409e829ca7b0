"""Writes on schedules: create, fire an occurrence, settle a run, cancel, edit."""

import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from outbound.errors import OutboundError
from outbound.models import Delivery, Group, Send, User
from outbound.services.sends import SendTargets, send_create, send_targets_resolve, session_groups_resolve

from .models import Run, Schedule
from .registration import periodic_task_sync

logger = logging.getLogger(__name__)

EARLY_FIRE_TOLERANCE = timedelta(seconds=10)


@dataclass(frozen=True)
class FireEarly:
    """The worker's clock says the occurrence is not due yet: come back at `due_at`."""

    due_at: datetime


def schedule_create(
    *,
    targets: SendTargets,
    text: str,
    media: list[dict],
    actor_user: User | None,
    first_run_at: datetime,
    interval_ms: int | None,
    max_occurrences: int,
    request_id: str = "",
) -> Schedule:
    """Write a schedule and its beat registration (in the caller's transaction)."""
    schedule = Schedule.objects.create(
        account_id=targets.session.account_id,
        session=targets.session,
        actor_user=actor_user,
        text=text,
        media=media,
        first_run_at=first_run_at,
        interval_ms=interval_ms,
        max_occurrences=max_occurrences,
        next_run_at=first_run_at,
        request_id=request_id,
    )
    schedule.groups.set(targets.groups)
    periodic_task_sync(schedule)
    return schedule


def _settle(schedule: Schedule, now: datetime) -> None:
    """Derive the status from the runs and what is left; save counters and status.

    scheduled -> running while an occurrence's deliveries are in progress ->
    scheduled ... -> completed / completed_with_failures once the last one
    finished. A canceled schedule stays canceled.
    """
    if schedule.status != Schedule.Status.CANCELED:
        running = schedule.runs.filter(status=Run.Status.RUNNING).exists()
        if running:
            schedule.status = Schedule.Status.RUNNING
        elif schedule.next_run_at is not None:
            schedule.status = Schedule.Status.SCHEDULED
        else:
            failed = schedule.failed_run_count > 0
            schedule.status = Schedule.Status.COMPLETED_WITH_FAILURES if failed else Schedule.Status.COMPLETED
            schedule.completed_at = now
    schedule.save()
    periodic_task_sync(schedule)


def _run_fail(run: Run, *, code: str, message: str, now: datetime) -> None:
    run.status, run.error_code, run.error_message, run.failed_at = Run.Status.FAILED, code, message, now


def _runs_missed(schedule: Schedule, start: int, now: datetime) -> int:
    """Record occurrences from `start` that are past the grace as failed `missed` runs; return the next one."""
    grace_edge = now - timedelta(seconds=settings.SCHEDULE_MISSED_GRACE_SECONDS)
    rule = schedule.rule
    count = rule.occurrences_due_by(start, grace_edge - timedelta(microseconds=1))
    if not count:
        return start
    runs = []
    for k in range(start, start + count):
        run = Run(schedule=schedule, occurrence_number=k, due_at=rule.due_at(k), started_at=now)
        _run_fail(run, code="missed", message="Not fired within the grace period; not sent late.", now=now)
        runs.append(run)
    Run.objects.bulk_create(runs)
    schedule.run_count += count
    schedule.failed_run_count += count
    logger.warning("schedule %s: occurrences %s-%s missed", schedule.id, start, start + count - 1)
    return start + count


def _run_start(schedule: Schedule, k: int, now: datetime, trigger: str) -> Run:
    """Claim occurrence k and make its send; a send that cannot start fails the run."""
    run = Run.objects.create(
        schedule=schedule, occurrence_number=k, due_at=schedule.rule.due_at(k), started_at=now, trigger=trigger
    )
    schedule.run_count += 1
    schedule.last_run_at = now
    group_ids = list(schedule.groups.order_by("id").values_list("id", flat=True))
    try:
        with transaction.atomic():  # a refused send must not leave half a send behind
            targets = send_targets_resolve(account=schedule.account, session_id=schedule.session_id, group_ids=group_ids)
            created = send_create(
                targets=targets,
                text=schedule.text,
                media=schedule.media,
                actor_user=schedule.actor_user,
                request_id=schedule.request_id,
                schedule_id=schedule.id,
                occurrence_number=k,
            )
    except OutboundError as refusal:
        _run_fail(run, code=refusal.code, message=refusal.message, now=now)
        schedule.failed_run_count += 1
    else:
        run.send = created.send
    run.save()
    return run


def schedule_occurrence_fire(
    *, schedule_id: uuid.UUID, occurrence_number: int | None = None, trigger: str = Run.Trigger.BEAT
) -> Run | FireEarly | None:
    """Run a schedule's next occurrence once, however many times it is fired.

    1. Lock the schedule: fires, cancels and edits of one schedule take turns.
    2. Skip if it has ended or this occurrence was already handled (a
       duplicate fire from a second beat, a redelivery, a restart).
    3. Never early: a fire that beats the due time by a little (clock skew)
       comes back on time; one far ahead of it is ignored.
    4. Occurrences past the grace are recorded as missed, not sent late.
    5. Claim the due occurrence's Run (unique per occurrence) and send it.
    6. Advance to the next occurrence and settle the status.
    """
    now = timezone.now()
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None or schedule.status not in Schedule.ACTIVE or schedule.next_run_at is None:
            return None
        k = schedule.next_occurrence
        if occurrence_number is not None and occurrence_number != k:
            return None
        run_now = trigger == Run.Trigger.OPERATOR
        if not run_now and schedule.next_run_at > now:
            # A little early is clock skew between beat and this worker: come
            # back on time. Far early is not a fire of this occurrence at all.
            early = schedule.next_run_at - now
            return FireEarly(schedule.next_run_at) if early <= EARLY_FIRE_TOLERANCE else None
        run = None
        if not run_now:
            k = _runs_missed(schedule, k, now)
        rule = schedule.rule
        if rule.due_at(k) is not None and (run_now or rule.due_at(k) <= now):
            run = _run_start(schedule, k, now, trigger)
            k += 1
        schedule.next_occurrence = k
        schedule.next_run_at = rule.due_at(k)
        _settle(schedule, now)
        return run


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
    now = timezone.now()
    failed = Counter(
        send.deliveries.filter(status__in=Delivery.UNSUCCESSFUL).values_list("error_code", flat=True)
    )
    if failed:
        total = send.deliveries.count()
        code = next(iter(failed)) if len(failed) == 1 else "deliveries_failed"
        detail = ", ".join(f"{c or 'unknown'}: {n}" for c, n in failed.most_common())
        _run_fail(run, code=code or "deliveries_failed", message=f"{sum(failed.values())} of {total} deliveries failed ({detail}).", now=now)
        schedule.failed_run_count += 1  # the row is locked: no lost update
    else:
        run.status, run.completed_at = Run.Status.COMPLETED, now
    run.save()
    _settle(schedule, now)


def schedule_cancel(*, schedule: Schedule) -> Schedule:
    """Cancel: no occurrence sends after this, including one already fired but not yet claimed.

    Idempotent for a canceled schedule; a completed one cannot be canceled (409).
    """
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
        if schedule.status == Schedule.Status.CANCELED:
            return schedule
        if schedule.status in Schedule.ENDED:
            raise OutboundError(
                "schedule_already_completed",
                f"The schedule is {schedule.status}; there is nothing left to cancel.",
                http_status=409,
            )
        now = timezone.now()
        schedule.status = Schedule.Status.CANCELED
        schedule.canceled_at = now
        schedule.next_run_at = None
        schedule.save()
        periodic_task_sync(schedule)
        return schedule


def schedule_update(
    *,
    schedule: Schedule,
    first_run_at: datetime | None = None,
    interval_ms: int | None = None,
    max_occurrences: int | None = None,
    text: str | None = None,
    groups: list[Group] | None = None,
) -> Schedule:
    """Change timing, text or groups of occurrences not yet started (operators, from the admin).

    The next occurrence is recomputed from the new rule; beat picks it up on
    its next poll and the PeriodicTask follows.
    """
    with transaction.atomic():
        schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
        if schedule.status not in Schedule.ACTIVE:
            raise OutboundError("schedule_not_editable", f"A {schedule.status} schedule cannot be edited.", http_status=409)
        if first_run_at is not None:
            schedule.first_run_at = first_run_at
        if interval_ms is not None:
            schedule.interval_ms = interval_ms
        if max_occurrences is not None:
            if max_occurrences < schedule.next_occurrence - 1:
                raise OutboundError(
                    "max_occurrences_below_runs",
                    f"{schedule.next_occurrence - 1} occurrences have already run.",
                )
            schedule.max_occurrences = max_occurrences
        if text is not None:
            schedule.text = text
        if groups is not None:
            session_groups_resolve(session=schedule.session, group_ids=[g.id for g in groups])
            schedule.groups.set(groups)
        schedule.next_run_at = schedule.rule.due_at(schedule.next_occurrence)
        _settle(schedule, timezone.now())
        return schedule


def schedule_run_now(*, schedule: Schedule) -> None:
    """Operators: fire the next occurrence now instead of at its due time."""
    from schedules.tasks import schedule_fire  # tasks call services; import here breaks the cycle

    schedule_fire.delay(str(schedule.id), schedule.next_occurrence, Run.Trigger.OPERATOR)
