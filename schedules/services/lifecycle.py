"""A schedule's life: create, edit (audited), pause, resume, cancel, run now, preview."""

import hashlib
import logging
from datetime import datetime

from django.db import transaction

from core.errors import ApplicationError
from core.middleware import current_request_id
from core.time import to_iso
from outbound import clock
from outbound.models import User
from outbound.services.events import EventType
from outbound.services.sends import SendTargets, session_groups_resolve
from schedules.models import Run, Schedule, ScheduleChange
from schedules.registration import periodic_task_sync
from schedules.rules import iterate

from .announcements import announcement_forget, next_occurrence_announce
from .events import schedule_event_record
from .status import PAUSE_SOURCE_SESSION_UNHEALTHY, runs_record_unsent, schedule_settle, waiting_runs_start_later

logger = logging.getLogger(__name__)

# Model fields that make up the timing of a schedule (its rule).
TIMING_FIELDS = (
    "kind", "first_run_at", "interval_ms", "max_occurrences", "days_of_week", "send_time", "timezone",
    "start_date", "end_date", "days_of_month", "send_times", "skip_dates", "dst_gap_policy", "dst_overlap_policy",
)
# How it fires: jitter moves fire times (the next run is recomputed); the others apply from the next fire.
POLICY_FIELDS = ("jitter_ms", "overlap_policy", "catchup_window_ms")
CONTENT_FIELDS = ("text", "media", "variants", "skip_within_hours", "name")
# What an occurrence's announcement carries besides its due time.
ANNOUNCED_FIELDS = ("groups", "text", "media", "variants")


def schedule_create(
    *,
    targets: SendTargets,
    text: str,
    media: list[dict],
    actor_user: User | None,
    timing: dict,
    variants: list[dict] | None = None,
    skip_within_hours: float | None = None,
    request_id: str = "",
    name: str = "",
) -> Schedule:
    """Write a schedule and its beat registration (in the caller's transaction); announce occurrence 1.

    `timing` holds the rule's model fields, validated, with `first_run_at`
    the due time of occurrence 1, and the policies given (jitter_ms,
    overlap_policy, catchup_window_ms; the model's defaults otherwise).
    """
    schedule = Schedule(
        account_id=targets.session.account_id,
        session=targets.session,
        actor_user=actor_user,
        name=name,
        text=text,
        media=media,
        variants=variants or [],
        skip_within_hours=skip_within_hours,
        request_id=request_id,
        **timing,
    )
    schedule.next_run_at = schedule.fire_at(1, schedule.first_run_at)  # the id (and so the jitter) is known already
    # Before the insert, so the row is written once with what it announced.
    next_occurrence_announce(schedule, groups=targets.groups)
    schedule.save(force_insert=True)
    schedule.groups.set(targets.groups)
    periodic_task_sync(schedule)
    _changed_log(schedule, "schedule.created", kind=schedule.kind, next_run_at=to_iso(schedule.next_run_at))
    return schedule


def _changed_log(schedule: Schedule, event: str, **fields) -> None:
    """One line for an operator once the change is committed ("schedule paused"), with the ids to find it by."""
    extra = {
        "event": event, "schedule_id": str(schedule.pk), "account_id": str(schedule.account_id),
        "status": schedule.status, **fields,
    }
    # The request making the change (not the one that created the schedule), read now: the commit may come after it.
    if request_id := current_request_id.get():
        extra["request_id"] = request_id
    transaction.on_commit(lambda: logger.info(event.replace(".", " "), extra=extra))


def _locked(schedule: Schedule) -> Schedule:
    return Schedule.objects.select_for_update().get(pk=schedule.pk)


def _refuse_ended(schedule: Schedule, action: str) -> None:
    if schedule.status in Schedule.ENDED:
        raise ApplicationError(
            "schedule_already_completed" if schedule.status != Schedule.Status.CANCELED else "schedule_canceled",
            f"The schedule is {schedule.status}; it cannot be {action}.",
            http_status=409,
        )


def schedule_cancel(*, schedule: Schedule) -> Schedule:
    """Cancel: no occurrence sends after this, including one already fired but not yet claimed.

    Idempotent for a canceled schedule; a completed one cannot be canceled (409).
    """
    with transaction.atomic():
        schedule = _locked(schedule)
        if schedule.status == Schedule.Status.CANCELED:
            return schedule
        _refuse_ended(schedule, "canceled")
        schedule.status = Schedule.Status.CANCELED
        schedule.canceled_at = clock.now()
        schedule.next_run_at = schedule.buffered_at = None
        # Backfilled runs not started yet never start.
        schedule.runs.filter(status=Run.Status.QUEUED).update(
            status=Run.Status.SKIPPED, error_code="canceled", error_message="The schedule was canceled before its backfill started.",
            updated_at=schedule.canceled_at,
        )
        announcement_forget(schedule)  # schedule.canceled says the announced messages will not go out
        schedule.save()
        periodic_task_sync(schedule)
        schedule_event_record(schedule, EventType.SCHEDULE_CANCELED)
        _changed_log(schedule, "schedule.canceled")
        return schedule


def schedule_pause(*, schedule: Schedule, reason: str = "", source: str = "") -> Schedule:
    """Pause: no occurrence starts until resumed (an occurrence already sending finishes). Idempotent.

    `reason` and `source` when the system pauses it (e.g. session_unhealthy); empty for an operator.
    """
    with transaction.atomic():
        schedule = _locked(schedule)
        if schedule.status == Schedule.Status.PAUSED:
            return schedule
        _refuse_ended(schedule, "paused")
        schedule.status = Schedule.Status.PAUSED
        schedule.paused_at = clock.now()
        schedule.pause_reason, schedule.pause_source = reason[:300], source
        # Beat only looks at schedules with a next run; resume computes it afresh.
        # Backfilled runs not started yet wait for the resume too.
        schedule.next_run_at = schedule.buffered_at = None
        # schedule.paused says the announced messages will not go out; a
        # resume announces what it will send.
        announcement_forget(schedule)
        schedule.save()
        periodic_task_sync(schedule)
        schedule_event_record(schedule, EventType.SCHEDULE_PAUSED)
        _changed_log(schedule, "schedule.paused")
        return schedule


def _first_from(schedule: Schedule, now: datetime) -> datetime | None:
    """Due time of the schedule's next occurrence, computed from its rule as of now."""
    # The schedule's own occurrences: backfilled ones from before occurrence 1 are numbered above them.
    own = schedule.runs.filter(occurrence_number__lt=schedule.next_occurrence)
    last_due = own.order_by("-occurrence_number").values_list("due_at", flat=True).first()
    if last_due is None and schedule.next_occurrence == 1:
        # Nothing ran yet: occurrence 1 is the stored first run. A calendar rule asked from
        # its start date alone would count the day's times before it (created at 21:32, a
        # 09:00 time today), and a resume recorded those as skipped runs #1, #2, ...
        return schedule.first_run_at
    return schedule.rule.next_due(schedule.next_occurrence, last_due)


def schedule_resume(*, schedule: Schedule) -> Schedule:
    """Resume: occurrences that fell due while paused become skipped runs; continue with the next future one.

    No burst: nothing that fell due during the pause is sent late. Resuming
    a schedule that is not paused changes nothing.
    """
    with transaction.atomic():
        schedule = _locked(schedule)
        if schedule.status != Schedule.Status.PAUSED:
            _refuse_ended(schedule, "resumed")
            return schedule
        now = clock.now()
        # Paused by its session, not by choice: what fell due within the catch-up window still goes
        # (beat fires it at once, one run after another); only what is older is skipped.
        catch_up = schedule.pause_source == PAUSE_SOURCE_SESSION_UNHEALTHY
        k, due, _ = runs_record_unsent(
            schedule, schedule.next_occurrence, _first_from(schedule, now),
            now - schedule.catchup_window if catch_up else now,
            status=Run.Status.SKIPPED, code="paused",
            message="Fell due while the schedule was paused" + (", beyond its catch-up window." if catch_up else "."),
            now=now,
        )
        schedule.next_occurrence, schedule.next_run_at = k, schedule.fire_at(k, due)
        schedule.status, schedule.paused_at, schedule.pause_reason = Schedule.Status.SCHEDULED, None, ""
        schedule.pause_source = ""
        schedule.consecutive_failed_runs = 0  # an operator chose to go on: count afresh
        schedule_settle(schedule, now)
        waiting_runs_start_later(schedule)  # backfilled runs held by the pause
        _changed_log(schedule, "schedule.resumed", next_run_at=to_iso(schedule.next_run_at))
        return schedule


def _digest(value):
    if isinstance(value, str):
        return {"sha256": hashlib.sha256(value.encode()).hexdigest(), "length": len(value)}
    if isinstance(value, list) and value and isinstance(value[0], dict) and "variant_name" in value[0]:
        return [{**v, "text": _digest(v.get("text", ""))} for v in value]
    return value


def _audit_value(name: str, value):
    """How a field's value is kept in the audit trail: JSON-friendly, texts as hashes."""
    if name in ("text", "variants"):
        return _digest(value)
    if name == "groups":
        return sorted(str(g.id) for g in value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def schedule_update(
    *,
    schedule: Schedule,
    actor_user: User | None = None,
    source: str = "api",
    timing: dict | None = None,
    group_ids: list | None = None,
    **content,
) -> Schedule:
    """Change timing, text, media, variants, cap or groups of occurrences not yet started; audited.

    1. Only a schedule that has not ended can be edited.
    2. New groups must be the account's and in the schedule's session.
    3. With new timing, the next occurrence is recomputed from the new rule;
       it must not be in the past. Beat sees it on its next poll.
    4. One ScheduleChange row records who changed what.
    """
    unknown = set(content) - set(CONTENT_FIELDS)
    if unknown:
        raise TypeError(f"unknown fields: {sorted(unknown)}")
    with transaction.atomic():
        schedule = _locked(schedule)
        if schedule.status in Schedule.ENDED:
            raise ApplicationError("schedule_not_editable", f"A {schedule.status} schedule cannot be edited.", http_status=409)
        now = clock.now()
        changes = {}
        for name, value in {**content, **(timing or {})}.items():
            if getattr(schedule, name) != value:
                changes[name] = [_audit_value(name, getattr(schedule, name)), _audit_value(name, value)]
                setattr(schedule, name, value)
        if group_ids is not None:
            groups = session_groups_resolve(session=schedule.session, group_ids=group_ids)
            old = list(schedule.groups.all())
            if {g.id for g in old} != {g.id for g in groups}:
                changes["groups"] = [_audit_value("groups", old), _audit_value("groups", groups)]
                schedule.groups.set(groups)
        if timing and set(timing) & {*TIMING_FIELDS, "jitter_ms"}:
            _timing_apply(schedule, now)
        if not changes:
            return schedule
        if set(changes) & set(ANNOUNCED_FIELDS):
            # The announcement named other groups or content: announce again
            # (settle sees a new due time without this).
            announcement_forget(schedule)
        ScheduleChange.objects.create(schedule=schedule, actor_user=actor_user, source=source, changes=changes)
        schedule_settle(schedule, now)
        # The field names only: texts are long, and the values are in the audit trail.
        _changed_log(schedule, "schedule.updated", changed=sorted(changes), source=source)
        return schedule


def _timing_apply(schedule: Schedule, now: datetime) -> None:
    done = schedule.next_occurrence - 1
    if schedule.max_occurrences < done:
        raise ApplicationError(
            "max_occurrences_below_runs",
            f"{done} occurrences have already run; max_occurrences cannot be lower.",
            details={"runs": done},
        )
    if schedule.status == Schedule.Status.PAUSED:
        return  # resume computes the next run from the new rule
    after = now if schedule.kind == Schedule.Kind.CALENDAR else None
    k = schedule.next_occurrence
    fire = schedule.fire_at(k, schedule.rule.next_due(k, after))
    if fire is not None and fire <= now and schedule.buffered_at is not None:
        pass  # it is due and waits for the run in progress (buffer_one): it keeps waiting
    elif fire is not None and fire < now:
        raise ApplicationError(
            "next_run_in_past",
            f"With this timing occurrence {k} would be due in the past ({fire.isoformat()}).",
        )
    else:
        schedule.buffered_at = None
    schedule.next_run_at = fire


def schedule_run_now(*, schedule: Schedule) -> None:
    """Operators: fire the next occurrence now instead of at its due time."""
    from schedules.tasks import schedule_fire  # tasks call services; import here breaks the cycle

    schedule_fire.delay(str(schedule.id), schedule.next_occurrence, Run.Trigger.OPERATOR)


def schedule_preview(*, schedule: Schedule, count: int) -> list[tuple[int, datetime]]:
    """The next `count` (occurrence, due time) pairs, exactly as beat will fire them (less their jitter).

    Works on a saved schedule (from its next occurrence; for a paused one, as
    a resume now would continue) or on an unsaved draft (from occurrence 1).
    """
    return [(k, due) for k, due, _ in schedule_preview_fires(schedule=schedule, count=count)]


def schedule_preview_fires(*, schedule: Schedule, count: int) -> list[tuple[int, datetime, datetime | None]]:
    """The next `count` (occurrence, due time, fire time) triples; fire = due + the occurrence's jitter offset.

    A draft has no id yet, and the offset comes from it: with jitter its fire
    times are None (somewhere in [due, due + jitter_ms]).
    """
    if schedule.status in Schedule.ENDED:
        return []
    draft = schedule.pk is None or not Schedule.objects.filter(pk=schedule.pk).exists()  # never saved
    if draft:
        k, due = 1, schedule.first_run_at
    else:
        k, due = schedule.next_occurrence, schedule.next_due_at()
    if not draft and schedule.status == Schedule.Status.PAUSED:
        now = clock.now()
        due = _first_from(schedule, now)
        while due is not None and schedule.fire_at(k, due) <= now:
            k, due = k + 1, schedule.rule.next_due(k + 1, due)
    return [
        (k, due, due if not schedule.jitter_ms else (None if draft else schedule.fire_at(k, due)))
        for k, due in iterate(schedule.rule, k, due, count)
    ]
