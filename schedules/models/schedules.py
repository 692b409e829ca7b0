"""A schedule: what to send, to whom, on which rule, and where it stands."""

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_celery_beat.models import PeriodicTask

from core.ids import new_id
from core.models import Account
from core.zones import zone_name_validate
from outbound.models import Group, Session
from outbound.models.content import MessageContent

from ..rules import DAY_NAMES, GAP_NEXT_VALID_TIME, OVERLAP_FIRST, CalendarRule, IntervalRule, jitter_offset_ms


class Schedule(MessageContent):
    """A message sent to groups at the occurrences of a rule.

    Occurrence k is due at rule.due_at(k), computed from the rule alone (never
    from when beat last ran), so schedules do not drift. `next_occurrence` and
    `next_run_at` say what beat fires next; a worker advances them when it
    claims the occurrence's Run.
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled"  # waiting for its next occurrence
        RUNNING = "running"  # an occurrence's deliveries are in progress
        COMPLETED = "completed"  # every occurrence ran, none failed
        COMPLETED_WITH_FAILURES = "completed_with_failures"  # every occurrence ran, some failed
        CANCELED = "canceled"
        PAUSED = "paused"  # no occurrence starts until resumed

    class Kind(models.TextChoices):
        INTERVAL = "interval"  # first run + (k-1) * interval
        CALENDAR = "calendar"  # matching local days (weekdays, days of the month) at local times

    class DstGapPolicy(models.TextChoices):
        NEXT_VALID_TIME = "next_valid_time"  # 02:30 in a 02:00-03:00 gap is sent at 03:00 (as before the choice)
        SHIFT_FORWARD = "shift_forward"  # ... at 03:30: moved forward by the gap's length
        SKIP = "skip"  # ... not sent that day

    class DstOverlapPolicy(models.TextChoices):
        FIRST = "first"  # a repeated 01:30 is sent at its first instance (summer time; as before the choice)
        SECOND = "second"  # ... at its second (winter time)
        BOTH = "both"  # ... at both

    class OverlapPolicy(models.TextChoices):
        SKIP = "skip"  # recorded as a skipped run (error_code overlap)
        BUFFER_ONE = "buffer_one"  # waits and starts when the previous run finishes; more are skipped
        ALLOW_ALL = "allow_all"  # starts anyway

    ACTIVE = (Status.SCHEDULED, Status.RUNNING)
    ENDED = (Status.COMPLETED, Status.COMPLETED_WITH_FAILURES, Status.CANCELED)
    # Fires are behind when an occurrence due this long ago is still unfired:
    # its fire message waits in the queue behind others (a herd). Workers then
    # fire due schedules in batches, and beat holds its messages until full.
    FIRES_BEHIND = timedelta(seconds=1)

    id = models.UUIDField(
        "schedule id",
        primary_key=True,
        default=new_id,
        editable=False,
        help_text="The schedule_id the API answered with, e.g. 018f06e2-4f8d-7c01-8a0d-cc6fd78f7600.",
    )
    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="schedules",
        verbose_name="account",
        help_text="The customer account it sends for, e.g. Acme.",
    )
    session = models.ForeignKey(
        Session,
        on_delete=models.PROTECT,
        related_name="schedules",
        verbose_name="session",
        help_text="The sending session every occurrence uses, e.g. acme-sales.",
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="created by",
        help_text="Who created it (the API token's user), e.g. frontend@acme.example.",
    )
    name = models.CharField(
        "name",
        max_length=200,
        blank=True,
        default="",
        help_text="What operators and the API call it, e.g. Ramadan promo 2026 (optional; up to 200 characters).",
    )
    groups = models.ManyToManyField(
        Group,
        related_name="schedules",
        verbose_name="groups",
        help_text="1-100 groups present in the session, e.g. Cairo resellers.",
    )
    kind = models.CharField(
        "kind",
        max_length=16,
        choices=Kind.choices,
        default=Kind.INTERVAL,
        help_text="interval (first run + k x interval) or calendar (local days and times), e.g. calendar.",
    )
    first_run_at = models.DateTimeField(
        "first run at",
        help_text="Due time of occurrence 1 (UTC), e.g. 2026-03-01 09:00.",
    )
    interval_ms = models.BigIntegerField(
        "interval (ms)", null=True, blank=True, help_text="Between occurrences, e.g. 3600000 for hourly. Empty: one-shot."
    )
    max_occurrences = models.PositiveIntegerField(
        "occurrences",
        default=1,
        help_text="How many occurrences, 1-10000, e.g. 12; 1 is a one-shot.",
    )
    days_of_week = models.JSONField(
        "days of week", default=list, blank=True, help_text='Calendar schedules: e.g. ["friday", "saturday", "sunday"].'
    )
    send_time = models.TimeField("send time", null=True, blank=True, help_text="Calendar schedules: local time, e.g. 14:30.")
    timezone = models.CharField(
        "time zone", max_length=64, blank=True, help_text="Calendar schedules: IANA zone, e.g. Africa/Cairo.",
        validators=[zone_name_validate],
    )
    start_date = models.DateField(
        "start date",
        null=True,
        blank=True,
        help_text="Calendar schedules: first local day, e.g. 2026-03-01.",
    )
    end_date = models.DateField(
        "end date",
        null=True,
        blank=True,
        help_text="Calendar schedules: last local day (inclusive), e.g. 2026-03-31. "
        "Empty: until the occurrences run out.",
    )
    days_of_month = models.JSONField(
        "days of month",
        default=list,
        blank=True,
        help_text="Calendar schedules: days of the month, 1-31 and -1 for the last day, e.g. [1, 15, -1]. "
        "With days of week, a day must match both (e.g. friday and 13: Friday the 13th).",
    )
    send_times = models.JSONField(
        "send times",
        default=list,
        blank=True,
        help_text='Calendar schedules: every local time of a matching day, e.g. ["09:00", "17:30"]. Empty: send time alone.',
    )
    skip_dates = models.JSONField(
        "skip dates", default=list, blank=True, help_text='Calendar schedules: local days that never run, e.g. ["2026-12-25"].'
    )
    dst_gap_policy = models.CharField(
        "DST gap policy",
        max_length=16,
        choices=DstGapPolicy.choices,
        default=GAP_NEXT_VALID_TIME,
        help_text="Calendar schedules: a local time that does not exist that day (clocks spring forward) is sent at the "
        "first valid minute after it (next_valid_time), moved forward by the gap (shift_forward), or not at all (skip), "
        "e.g. skip.",
    )
    dst_overlap_policy = models.CharField(
        "DST overlap policy",
        max_length=16,
        choices=DstOverlapPolicy.choices,
        default=OVERLAP_FIRST,
        help_text="Calendar schedules: a local time that exists twice that day (clocks fall back) is sent at its first "
        "instance, its second, or both, e.g. both.",
    )
    jitter_ms = models.BigIntegerField(
        "jitter (ms)",
        default=0,
        help_text="Each occurrence fires up to this much after its due time, by a fixed amount per occurrence, e.g. 30000. "
        "At most half the interval (an hour for calendar rules and one-shots).",
    )
    overlap_policy = models.CharField(
        "overlap policy",
        max_length=16,
        choices=OverlapPolicy.choices,
        default=OverlapPolicy.BUFFER_ONE,
        help_text="When an occurrence falls due while the previous run is still sending: "
        "skip it, let one wait (buffer_one: it starts when the previous finishes; "
        "more are skipped), or start it anyway (allow_all), e.g. skip.",
    )
    catchup_window_ms = models.BigIntegerField(
        "catch-up window (ms)",
        null=True,
        blank=True,
        help_text="An occurrence fired this late (after beat or workers were down) still runs, later ones are recorded "
        "missed, e.g. 3600000. Empty: SCHEDULE_MISSED_GRACE_SECONDS.",
    )
    # text, media, variants, skip_within_hours: MessageContent's.
    status = models.CharField(
        "status",
        max_length=32,
        choices=Status.choices,
        default=Status.SCHEDULED,
        help_text="scheduled, running, paused, completed, completed_with_failures or canceled, e.g. scheduled.",
    )
    next_occurrence = models.PositiveIntegerField(
        "next occurrence",
        default=1,
        help_text="Number of the occurrence beat fires next, e.g. 4.",
    )
    next_run_at = models.DateTimeField(
        "next run at",
        null=True,
        blank=True,
        help_text="When beat fires the next occurrence (UTC): its due time plus its jitter offset, e.g. "
        "2026-03-01 09:00:12; empty once none is left.",
    )
    buffered_at = models.DateTimeField(
        "waiting since",
        null=True,
        blank=True,
        help_text="The next occurrence fell due while the previous run was still sending and waits for it (overlap "
        "policy buffer_one) since then (UTC), e.g. 2026-03-03 09:00. Empty: nothing waits.",
    )
    # What message.notification.scheduled last announced: settle runs after
    # every change, and announces the next occurrence only if it differs.
    announced_occurrence = models.PositiveIntegerField(
        "announced occurrence",
        null=True,
        blank=True,
        help_text="Occurrence whose messages were last announced (message.notification.scheduled), e.g. 3. "
        "Empty: nothing stands announced (paused, ended, or groups or content edited since).",
    )
    announced_run_at = models.DateTimeField(
        "announced run at",
        null=True,
        blank=True,
        help_text="The due time that announcement gave (UTC), e.g. 2026-03-01 09:00.",
    )
    run_count = models.PositiveIntegerField("runs", default=0, help_text="Occurrences that ran so far, e.g. 3.")
    failed_run_count = models.PositiveIntegerField(
        "failed runs",
        default=0,
        help_text="Of those, how many failed, e.g. 1.",
    )
    last_run_at = models.DateTimeField(
        "last run at",
        null=True,
        blank=True,
        help_text="When the last occurrence started (UTC), e.g. 2026-03-01 09:00.",
    )
    completed_at = models.DateTimeField(
        "completed at",
        null=True,
        blank=True,
        help_text="When the last occurrence finished (UTC), e.g. 2026-03-12 09:05. Empty: not ended.",
    )
    canceled_at = models.DateTimeField(
        "canceled at",
        null=True,
        blank=True,
        help_text="When it was canceled (UTC), e.g. 2026-03-05 14:00. Empty: not canceled.",
    )
    paused_at = models.DateTimeField(
        "paused at",
        null=True,
        blank=True,
        help_text="When it was paused (UTC), e.g. 2026-03-05 14:00. Empty: not paused.",
    )
    pause_reason = models.CharField(
        "pause reason", max_length=300, blank=True, help_text="Why it is paused, when the system paused it, e.g. 3 failed runs in a row."
    )
    pause_source = models.CharField(
        "paused by",
        max_length=32,
        blank=True,
        help_text="Who paused it: empty for an operator or the API, failed_runs (the failure policy) or session_unhealthy "
        "(its session; a resume then still sends what fell due within the catch-up window), e.g. session_unhealthy.",
    )
    late_run_count = models.PositiveIntegerField(
        "late runs",
        default=0,
        help_text="Runs beat started more than SCHEDULE_LATE_AFTER_SECONDS after their fire time, e.g. 2.",
    )
    consecutive_failed_runs = models.PositiveIntegerField(
        "failed runs in a row",
        default=0,
        help_text="Failed runs since the last that succeeded, e.g. 2; "
        "SCHEDULE_AUTO_PAUSE_AFTER_FAILED_RUNS of them pause it.",
    )
    request_id = models.CharField(
        "request id",
        max_length=64,
        blank=True,
        help_text="The X-Request-ID of the request that created it, for logs, e.g. "
        "018f06e2-4f8d-7c01-8a0d-cc6fd78f7c00.",
    )
    periodic_task = models.OneToOneField(
        PeriodicTask,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="outbound_schedule",
        verbose_name="periodic task",
        help_text="Its django-celery-beat registration, kept in step for operators to see, e.g. "
        "outbound:text-send-schedule:<id>.",
    )
    created_at = models.DateTimeField(
        "created at",
        auto_now_add=True,
        help_text="When it was created (UTC), e.g. 2026-03-01 08:00.",
    )
    updated_at = models.DateTimeField(
        "updated at",
        auto_now=True,
        help_text="Last change to this row (UTC), e.g. 2026-03-01 09:00.",
    )

    class Meta:
        verbose_name = "schedule"
        indexes = [
            # The beat scheduler's only query: what falls due in the next seconds.
            models.Index(fields=["next_run_at"], name="schedule_next_run_idx", condition=Q(next_run_at__isnull=False)),
            # GET /v2/outbound/schedules filters, newest first.
            models.Index(fields=["account", "status", "-id"], name="schedule_account_status_idx"),
        ]

    def __str__(self):
        # The admin's messages, history and delete pages name it; the id is the fallback of an unnamed one.
        return self.name or str(self.id)

    @property
    def workflow_id(self) -> str:
        return f"outbound:text-send-schedule:{self.id}"

    @property
    def rule(self) -> IntervalRule | CalendarRule:
        if self.kind == self.Kind.CALENDAR:
            return CalendarRule(
                days_of_week=tuple(DAY_NAMES.index(day) for day in self.days_of_week),
                send_time=self.send_time,
                timezone=self.timezone,
                start_date=self.start_date,
                end_date=self.end_date,
                max_occurrences=self.max_occurrences,
                days_of_month=tuple(self.days_of_month),
                send_times=tuple(time.fromisoformat(t) for t in self.send_times),
                skip_dates=frozenset(date.fromisoformat(d) for d in self.skip_dates),
                dst_gap_policy=self.dst_gap_policy,
                dst_overlap_policy=self.dst_overlap_policy,
            )
        return IntervalRule(
            first_run_at=self.first_run_at, interval_ms=self.interval_ms, max_occurrences=self.max_occurrences
        )

    @property
    def rule_summary(self) -> str:
        if self.kind == self.Kind.CALENDAR:
            return self.rule.summary(first=self.first_run_at)
        return self.rule.summary()

    @property
    def catchup_window(self) -> timedelta:
        """How late an occurrence may still run: its own window, or SCHEDULE_MISSED_GRACE_SECONDS."""
        if self.catchup_window_ms is None:
            return timedelta(seconds=settings.SCHEDULE_MISSED_GRACE_SECONDS)
        return timedelta(milliseconds=self.catchup_window_ms)

    def jitter_offset_ms(self, occurrence_number: int) -> int:
        """How long after its due time occurrence k fires (0 without jitter): the same every time it is asked."""
        return jitter_offset_ms(self.id, occurrence_number, self.jitter_ms)

    def fire_at(self, occurrence_number: int, due: datetime | None) -> datetime | None:
        """When beat fires occurrence k, due at `due`: the due time plus its jitter offset."""
        if due is None:
            return None
        return due + timedelta(milliseconds=self.jitter_offset_ms(occurrence_number))

    def next_due_at(self) -> datetime | None:
        """The rule's due time of the next occurrence (next_run_at less its jitter offset)."""
        if self.next_run_at is None:
            return None
        return self.next_run_at - timedelta(milliseconds=self.jitter_offset_ms(self.next_occurrence))
