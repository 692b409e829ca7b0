"""Response bodies: seeds/watchcollect-get-schedule.txt, plus calendar, pause, variants and preview."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.fields import MillisecondsField, UUIDStringField
from core.time import to_ms
from outbound.serializers import DeliveryResultOutput, TextDigestMixin, text_digest
from schedules.models import Run, Schedule


class RunOutput(serializers.Serializer):
    occurrence_number = serializers.IntegerField()
    updated_at_ms = MillisecondsField(source="updated_at")
    send_id = UUIDStringField(allow_null=True)
    error_code = serializers.SerializerMethodField()
    error_message = serializers.SerializerMethodField()
    started_at_ms = MillisecondsField(source="started_at")
    failed_at_ms = MillisecondsField(source="failed_at", allow_null=True)
    status = serializers.ChoiceField(choices=Run.Status.choices)
    due_at_ms = MillisecondsField(source="due_at")
    jitter_offset_ms = serializers.IntegerField(help_text="How long after its due time it was to fire (the schedule's jitter), e.g. 12000.")
    fire_at_ms = MillisecondsField(source="fire_at", help_text="When it was to fire: due_at_ms + jitter_offset_ms.")
    completed_at_ms = MillisecondsField(source="completed_at", allow_null=True)
    trigger = serializers.ChoiceField(choices=Run.Trigger.choices)
    retried_at_ms = MillisecondsField(source="retried_at", allow_null=True)

    def get_error_code(self, run) -> str | None:
        return run.error_code or None

    def get_error_message(self, run) -> str | None:
        return run.error_message or None


class RunDetailOutput(RunOutput):
    """A run with what each group got: its variant, its status, why it was skipped or failed."""

    deliveries = serializers.SerializerMethodField()

    @staticmethod
    def _deliveries(run):
        return run.send.deliveries.order_by("id") if run.send_id else []

    def get_deliveries(self, run) -> list[dict]:
        return DeliveryResultOutput(self._deliveries(run), many=True).data


class CalendarOutput(serializers.Serializer):
    days_of_week = serializers.ListField(child=serializers.CharField(), help_text="Empty: any weekday (days_of_month decides).")
    days_of_month = serializers.ListField(child=serializers.IntegerField(), help_text="-1 is the last day; empty: any day.")
    send_time = serializers.SerializerMethodField(help_text="The first (or only) time of a day.")
    send_times = serializers.SerializerMethodField(help_text="Every time of a matching day, in order.")
    skip_dates = serializers.ListField(child=serializers.DateField())
    timezone = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)
    dst_gap_policy = serializers.ChoiceField(
        choices=Schedule.DstGapPolicy.choices, help_text="A send time in a spring-forward gap: next_valid_time, shift_forward or skip."
    )
    dst_overlap_policy = serializers.ChoiceField(
        choices=Schedule.DstOverlapPolicy.choices, help_text="A send time that exists twice (fall back): first, second or both."
    )

    def get_send_time(self, schedule) -> str:
        return _clock(schedule.rule.times[0])

    def get_send_times(self, schedule) -> list[str]:
        return [_clock(at) for at in schedule.rule.times]


def _clock(at) -> str:
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")


class VariantSummaryOutput(serializers.Serializer):
    variant_name = serializers.CharField()
    percent_audience = serializers.FloatField()
    text_sha256 = serializers.SerializerMethodField()
    text_length = serializers.SerializerMethodField()
    media_count = serializers.SerializerMethodField()

    def get_text_sha256(self, variant) -> str:
        return text_digest(variant.get("text", ""))["text_sha256"]

    def get_text_length(self, variant) -> int:
        return len(variant.get("text", ""))

    def get_media_count(self, variant) -> int:
        return len(variant.get("media") or [])


class ScheduleOutput(TextDigestMixin):
    """seeds/watchcollect-get-schedule.txt, plus kind, calendar, rule summary, cap, variants, workflow_id."""

    id = UUIDStringField()
    name = serializers.CharField(help_text='Given at creation (schedule.name) or by PATCH, e.g. "Ramadan promo 2026"; "" when unnamed.')
    actor_user_id = serializers.SerializerMethodField()
    session_id = UUIDStringField()
    session_name = serializers.CharField(source="session.name")
    session_label = serializers.CharField(source="session.label")
    group_ids = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Schedule.Status.choices)
    first_run_at_ms = MillisecondsField(source="first_run_at")
    max_occurrences = serializers.IntegerField()
    run_count = serializers.IntegerField()
    failed_run_count = serializers.IntegerField()
    updated_at_ms = MillisecondsField(source="updated_at")
    next_run_at_ms = MillisecondsField(
        source="next_run_at", allow_null=True, help_text="When the next occurrence fires: its due time plus its jitter offset."
    )
    next_due_at_ms = MillisecondsField(source="next_due_at", allow_null=True, help_text="The next occurrence's due time (no jitter).")
    interval_ms = serializers.IntegerField(allow_null=True)
    last_run_at_ms = MillisecondsField(source="last_run_at", allow_null=True)
    completed_at_ms = MillisecondsField(source="completed_at", allow_null=True)
    canceled_at_ms = MillisecondsField(source="canceled_at", allow_null=True)
    paused_at_ms = MillisecondsField(source="paused_at", allow_null=True)
    pause_reason = serializers.CharField(help_text="Why the system paused it (failure policy, unhealthy session); empty otherwise.")
    pause_source = serializers.CharField(
        help_text='Who paused it: "" (an operator or the API), "failed_runs" or "session_unhealthy" '
        "(a resume then still runs what fell due within catchup_window_ms)."
    )
    consecutive_failed_runs = serializers.IntegerField()
    workflow_id = serializers.CharField()
    kind = serializers.ChoiceField(choices=Schedule.Kind.choices)
    calendar = serializers.SerializerMethodField()
    rule_summary = serializers.CharField(help_text='e.g. "Fri, Sat, Sun at 14:30 Africa/Cairo until 31 Aug 2025".')
    skip_within_hours = serializers.FloatField(allow_null=True)
    variants = VariantSummaryOutput(many=True)
    jitter_ms = serializers.IntegerField(help_text="Each occurrence fires up to this long after its due time; 0: on time.")
    overlap_policy = serializers.ChoiceField(choices=Schedule.OverlapPolicy.choices)
    catchup_window_ms = serializers.SerializerMethodField(
        help_text="How late an occurrence may still run (its own, or SCHEDULE_MISSED_GRACE_SECONDS)."
    )
    buffered_at_ms = MillisecondsField(
        source="buffered_at", allow_null=True,
        help_text="Since when the next occurrence waits for the run in progress (buffer_one); null when none waits.",
    )

    def get_actor_user_id(self, schedule) -> str:
        return str(schedule.actor_user_id) if schedule.actor_user_id else ""

    def get_group_ids(self, schedule) -> list[str]:
        return sorted(str(g.id) for g in schedule.groups.all())

    @extend_schema_field(CalendarOutput(allow_null=True))
    def get_calendar(self, schedule):
        return CalendarOutput(schedule).data if schedule.kind == Schedule.Kind.CALENDAR else None

    def get_catchup_window_ms(self, schedule) -> int:
        return int(schedule.catchup_window.total_seconds() * 1000)


class ScheduleStatsOutput(serializers.Serializer):
    missed = serializers.IntegerField(help_text="Runs recorded missed: found later than the catch-up window, not sent.")
    skipped = serializers.IntegerField(help_text="Runs skipped: fell due while paused, or while a run was sending (overlap).")
    late = serializers.IntegerField(help_text="Runs beat started more than late_after_ms after their fire time (not those buffer_one held).")
    late_after_ms = serializers.IntegerField(help_text="SCHEDULE_LATE_AFTER_SECONDS in ms, e.g. 5000.")


class ScheduleDetailOutput(ScheduleOutput):
    """A schedule with the runs of its last 100 occurrences; `runs_next` pages back through the others."""

    runs = RunOutput(
        source="latest_runs",
        many=True,
        help_text="The runs of the last 100 occurrences (all runs when there are no more), in occurrence order.",
    )
    runs_total = serializers.IntegerField(
        help_text="How many runs the schedule has (counted from the runs: what /runs pages through). "
        "run_count counts the same runs: every occurrence that got one, sent, failed, missed or skipped."
    )
    stats = ScheduleStatsOutput(
        help_text="Occurrences that did not go as due: missed (past the catch-up window), skipped (paused, overlap), "
        "late (started more than late_after_ms after their fire time)."
    )
    runs_next = serializers.SerializerMethodField(
        help_text="URL of the page of /runs (newest first) with the runs before those in `runs`; null when `runs` holds them all."
    )

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_runs_next(self, schedule):
        return self.context.get("runs_next")  # the view makes it: a URL of the runs list, with its pagination's cursor


def preview_body(schedule: Schedule, occurrences) -> dict:
    """The preview of (occurrence, due, fire) triples (schedules.services.schedule_preview_fires)."""
    rule = schedule.rule
    zone = rule.zone if schedule.kind == Schedule.Kind.CALENDAR else None

    def iso(moment):
        if moment is None:
            return None
        if zone:
            return moment.astimezone(zone).isoformat(timespec="milliseconds")
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return {
        "timezone": schedule.timezone or "UTC",
        "rule_summary": schedule.rule_summary,
        "jitter_ms": schedule.jitter_ms,
        "occurrences": [
            {
                "occurrence_number": k,
                "due_at_ms": to_ms(due),
                "due_at": iso(due),
                "fire_at_ms": to_ms(fire) if fire is not None else None,
                "fire_at": iso(fire),
                "jitter_offset_ms": to_ms(fire) - to_ms(due) if fire is not None else None,
                "dst": rule.dst_effect(due) if zone else None,
            }
            for k, due, fire in occurrences
        ],
    }


class PreviewOccurrenceOutput(serializers.Serializer):
    occurrence_number = serializers.IntegerField()
    due_at_ms = serializers.IntegerField(help_text="The rule's due time.")
    due_at = serializers.CharField(help_text="ISO 8601 in the schedule's time zone, e.g. 2025-06-06T14:30:00.000+03:00.")
    fire_at_ms = serializers.IntegerField(
        allow_null=True,
        help_text="When it fires: due_at_ms + jitter_offset_ms. Null in a draft preview with jitter "
        "(the offset comes from the schedule's id): somewhere in [due_at_ms, due_at_ms + jitter_ms].",
    )
    fire_at = serializers.CharField(allow_null=True, help_text="fire_at_ms in ISO 8601, in the schedule's time zone.")
    jitter_offset_ms = serializers.IntegerField(allow_null=True, help_text="0 <= offset <= jitter_ms; null with fire_at_ms.")
    dst = serializers.CharField(
        allow_null=True,
        help_text="Calendar rules: what the DST policy did to this occurrence: gap_next_valid_time or gap_shift_forward "
        "(its time did not exist that day), overlap_first or overlap_second (its time existed twice); null otherwise.",
    )


class PreviewOutput(serializers.Serializer):
    """Documents preview_body."""

    timezone = serializers.CharField()
    rule_summary = serializers.CharField()
    jitter_ms = serializers.IntegerField()
    occurrences = PreviewOccurrenceOutput(many=True)


class BackfillOccurrenceOutput(serializers.Serializer):
    occurrence_number = serializers.IntegerField(
        help_text="Its number; those before occurrence 1 (calendar rules) are numbered from 10001 (10000 + their position from start_date)."
    )
    due_at_ms = MillisecondsField(source="due_at")
    fire_at_ms = MillisecondsField(source="fire_at", help_text="Its fire time (due time plus jitter): what its messages' ids carry.")
    was = serializers.ChoiceField(
        choices=[("skipped", "skipped"), ("missed", "missed"), ("not_run", "not_run")],
        help_text="skipped (a pause or the overlap policy), missed (past the catch-up window), not_run (before occurrence 1).",
    )


class BackfillOutput(serializers.Serializer):
    """What a backfill will run, in order: one at a time, each when the run before it finished."""

    schedule_id = UUIDStringField()
    from_ms = serializers.IntegerField()
    to_ms = serializers.IntegerField(help_text="The end of the range looked at: to_ms as given, or now if that was earlier.")
    occurrences = BackfillOccurrenceOutput(many=True)
