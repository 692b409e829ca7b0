"""Response bodies: seeds/watchcollect-get-schedule.txt, plus calendar, pause, variants and preview."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from outbound.api.outputs import DeliveryResultOutput, MillisecondsField, TextDigestMixin, UUIDStringField, text_digest
from outbound.timefmt import to_ms
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
    days_of_week = serializers.ListField(child=serializers.CharField())
    send_time = serializers.SerializerMethodField()
    timezone = serializers.CharField()
    start_date = serializers.DateField()
    end_date = serializers.DateField(allow_null=True)

    def get_send_time(self, schedule) -> str:
        return schedule.send_time.strftime("%H:%M:%S" if schedule.send_time.second else "%H:%M")


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
    next_run_at_ms = MillisecondsField(source="next_run_at", allow_null=True)
    interval_ms = serializers.IntegerField(allow_null=True)
    last_run_at_ms = MillisecondsField(source="last_run_at", allow_null=True)
    completed_at_ms = MillisecondsField(source="completed_at", allow_null=True)
    canceled_at_ms = MillisecondsField(source="canceled_at", allow_null=True)
    paused_at_ms = MillisecondsField(source="paused_at", allow_null=True)
    pause_reason = serializers.CharField(help_text="Why the system paused it (failure policy); empty otherwise.")
    consecutive_failed_runs = serializers.IntegerField()
    workflow_id = serializers.CharField()
    kind = serializers.ChoiceField(choices=Schedule.Kind.choices)
    calendar = serializers.SerializerMethodField()
    rule_summary = serializers.CharField(help_text='e.g. "Fri, Sat, Sun at 14:30 Africa/Cairo until 31 Aug 2025".')
    skip_within_hours = serializers.FloatField(allow_null=True)
    variants = VariantSummaryOutput(many=True)

    def get_actor_user_id(self, schedule) -> str:
        return str(schedule.actor_user_id) if schedule.actor_user_id else ""

    def get_group_ids(self, schedule) -> list[str]:
        return sorted(str(g.id) for g in schedule.groups.all())

    def get_calendar(self, schedule) -> dict | None:
        return CalendarOutput(schedule).data if schedule.kind == Schedule.Kind.CALENDAR else None


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
    runs_next = serializers.SerializerMethodField(
        help_text="URL of the page of /runs (newest first) with the runs before those in `runs`; null when `runs` holds them all."
    )

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_runs_next(self, schedule):
        return self.context.get("runs_next")  # the view makes it: a URL of the runs list, with its pagination's cursor


def preview_body(schedule: Schedule, occurrences) -> dict:
    zone = schedule.rule.zone if schedule.kind == Schedule.Kind.CALENDAR else None
    return {
        "timezone": schedule.timezone or "UTC",
        "rule_summary": schedule.rule_summary,
        "occurrences": [
            {
                "occurrence_number": k,
                "due_at_ms": to_ms(due),
                "due_at": due.astimezone(zone).isoformat(timespec="milliseconds") if zone else due.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            }
            for k, due in occurrences
        ],
    }


class PreviewOccurrenceOutput(serializers.Serializer):
    occurrence_number = serializers.IntegerField()
    due_at_ms = serializers.IntegerField()
    due_at = serializers.CharField(help_text="ISO 8601 in the schedule's time zone, e.g. 2025-06-06T14:30:00.000+03:00.")


class PreviewOutput(serializers.Serializer):
    """Documents preview_body."""

    timezone = serializers.CharField()
    rule_summary = serializers.CharField()
    occurrences = PreviewOccurrenceOutput(many=True)
