"""Running an occurrence once, however often it is fired, and settling its run."""

import logging
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from outbound.errors import OutboundError
from outbound.models import Delivery, Send
from outbound.services.sends import send_create, send_finish_if_done, session_targets_resolve
from schedules.models import Run, Schedule

from .announcements import occurrence_is_announced
from .events import run_events_record
from .status import run_fail, runs_count_outcome, runs_record_unsent, schedule_settle

logger = logging.getLogger(__name__)

EARLY_FIRE_TOLERANCE = timedelta(seconds=10)


@dataclass(frozen=True)
class FireEarly:
    """The worker's clock says the occurrence is not due yet: come back at `due_at`."""

    due_at: datetime


def _run_start(schedule: Schedule, k: int, due: datetime, now: datetime, trigger: str) -> tuple[Run, bool]:
    """Claim occurrence k and make its send; a send that cannot start fails the run.

    Returns the run and whether its send may already be complete (every group
    skipped by the frequency cap).
    """
    run = Run.objects.create(schedule=schedule, occurrence_number=k, due_at=due, started_at=now, trigger=trigger)
    schedule.run_count += 1
    schedule.last_run_at = now
    group_ids = list(schedule.groups.order_by("id").values_list("id", flat=True))
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
    except OutboundError as refusal:
        run_fail(run, code=refusal.code, message=refusal.message, now=now)
        runs_count_outcome(schedule, failed=1)
    else:
        run.send = created.send
        may_be_finished = any(d.status != Delivery.Status.QUEUED for d in created.deliveries)
    run.save()
    run_events_record(schedule, [run])
    return run, may_be_finished


def schedule_occurrence_fire(
    *, schedule_id: uuid.UUID, occurrence_number: int | None = None, trigger: str = Run.Trigger.BEAT
) -> Run | FireEarly | None:
    """Run a schedule's next occurrence once, however many times it is fired.

    1. Lock the schedule: fires, cancels, pauses and edits of one schedule take turns.
    2. Skip if it is not active (canceled, paused, ended) or this occurrence
       was already handled (a duplicate fire from a second beat, a
       redelivery, a restart).
    3. Never early: a fire that beats the due time by a little (clock skew)
       comes back on time; one far ahead of it is ignored.
    4. Occurrences past the grace are recorded as missed, not sent late.
    5. Claim the due occurrence's Run (unique per occurrence) and send it.
    6. Advance to the next occurrence and settle the status.
    """
    now = timezone.now()
    with transaction.atomic():
        schedule = (
            Schedule.objects.select_for_update(of=("self",))
            .select_related("account", "session", "actor_user")
            .filter(pk=schedule_id)
            .first()
        )
        if schedule is None or schedule.status not in Schedule.ACTIVE or schedule.next_run_at is None:
            return None
        k, due = schedule.next_occurrence, schedule.next_run_at
        if occurrence_number is not None and occurrence_number != k:
            return None
        run_now = trigger == Run.Trigger.OPERATOR
        if not run_now and due > now:
            # A little early is clock skew between beat and this worker: come
            # back on time. Far early is not a fire of this occurrence at all.
            return FireEarly(due) if due - now <= EARLY_FIRE_TOLERANCE else None
        if not run_now:
            grace_edge = now - timedelta(seconds=settings.SCHEDULE_MISSED_GRACE_SECONDS)
            k, due, missed = runs_record_unsent(
                schedule, k, due, grace_edge, status=Run.Status.FAILED, code="missed",
                message="Not fired within the grace period; not sent late.", now=now,
            )
            if missed:
                logger.warning("schedule %s: %s occurrence(s) missed, up to #%s", schedule.id, missed, k - 1)
        run, may_be_finished = None, False
        if due is not None and (run_now or due <= now):
            run, may_be_finished = _run_start(schedule, k, due, now, trigger)
            k, due = k + 1, schedule.rule.next_due(k + 1, due)
        schedule.next_occurrence, schedule.next_run_at = k, due
        schedule_settle(schedule, now)
        if may_be_finished:
            send_finish_if_done(send=run.send)
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
