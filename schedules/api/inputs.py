"""Request bodies: the `schedule` timing object (interval or calendar) and the PATCH body."""

import re
import zoneinfo
from datetime import date, time, timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from outbound.api.sends import MediaInput, ScheduleField, VariantInput, variants_validate
from outbound.api.strict import StrictSerializer, UniqueListField
from outbound.timefmt import from_ms, to_ms
from schedules.models import Schedule
from schedules.rules import DAY_NAMES, MAX_OCCURRENCES, CalendarRule

_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


def _error(field: str, message: str, code: str) -> serializers.ValidationError:
    return serializers.ValidationError({field: [serializers.ErrorDetail(message, code=code)]})


@extend_schema_field(
    {
        "oneOf": [
            {"type": "array", "items": {"type": "string", "enum": list(DAY_NAMES)}, "minItems": 1, "uniqueItems": True},
            {
                "type": "object",
                "properties": {day: {"type": "boolean"} for day in DAY_NAMES},
                "additionalProperties": False,
                "minProperties": 1,
            },
        ]
    }
)
class DaysOfWeekField(serializers.JSONField):
    """A list of day names, or Trackly's {"monday": false, ...} object."""


class CalendarInput(StrictSerializer):
    days_of_week = DaysOfWeekField(
        help_text='["friday", "saturday", "sunday"], or {"monday": false, ..., "sunday": true}.'
    )
    send_time = serializers.CharField(help_text="Local time, HH:MM (or HH:MM:SS), e.g. 14:30.")
    timezone = serializers.CharField(help_text="IANA zone, e.g. Africa/Cairo.")
    start_date = serializers.DateField(required=False, help_text="First local day, e.g. 2025-06-01. Default: today.")
    end_date = serializers.DateField(required=False, allow_null=True, help_text="Last local day, inclusive.")

    def validate_days_of_week(self, value):
        if isinstance(value, dict):
            if not all(isinstance(v, bool) for v in value.values()):
                raise serializers.ValidationError("Use true or false for each day.", code="invalid_day")
            value = [day for day, on in value.items() if on]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise serializers.ValidationError("A list of day names, e.g. [\"friday\"].", code="invalid")
        days = {v.lower() for v in value}
        unknown = sorted(days - set(DAY_NAMES))
        if unknown:
            raise serializers.ValidationError(f"Not a day: {unknown[0]} (monday..sunday).", code="invalid_day")
        if not days:
            raise serializers.ValidationError("At least one day.", code="no_days")
        return [day for day in DAY_NAMES if day in days]

    def validate_send_time(self, value):
        match = _TIME.match(value)
        if not match:
            raise serializers.ValidationError("Use HH:MM (24-hour), e.g. 14:30.", code="invalid_send_time")
        return time(int(match[1]), int(match[2]), int(match[3] or 0))

    def validate_timezone(self, value):
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(f"Unknown time zone {value!r}; use an IANA name.", code="invalid_timezone")
        return value

    def validate(self, attrs):
        today = timezone.now().astimezone(zoneinfo.ZoneInfo(attrs["timezone"])).date()
        attrs.setdefault("start_date", today)
        end = attrs.get("end_date")
        if end is not None and end < attrs["start_date"]:
            raise _error("end_date", "The end date is before the start date.", "end_before_start")
        return attrs


class ScheduleRuleInput(StrictSerializer):
    """The `schedule` object: an interval rule, or a `calendar` one."""

    first_run_at_ms = serializers.IntegerField(required=False, help_text="Due time of occurrence 1, ms since the epoch.")
    interval_ms = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_occurrences = serializers.IntegerField(required=False, min_value=1, max_value=MAX_OCCURRENCES)
    calendar = CalendarInput(required=False)

    def validate_first_run_at_ms(self, value):
        now_ms = to_ms(timezone.now())
        if value < now_ms - settings.SCHEDULE_CLOCK_SKEW_MS:
            raise serializers.ValidationError("The first run is in the past.", code="first_run_in_past")
        _check_horizon(value - now_ms)
        return value

    def validate_interval_ms(self, value):
        if value is not None and value < settings.SCHEDULE_MIN_INTERVAL_MS:
            raise serializers.ValidationError(
                f"The interval must be at least {settings.SCHEDULE_MIN_INTERVAL_MS} ms.", code="interval_too_short"
            )
        return value

    def validate(self, attrs):
        """Resolve to the schedule's timing fields (see schedules.services.lifecycle.TIMING_FIELDS)."""
        base = self.context.get("schedule")  # PATCH: fields not given keep their current values
        if "calendar" in attrs:
            if "first_run_at_ms" in attrs or attrs.get("interval_ms") is not None:
                raise _error("calendar", "Give either calendar or first_run_at_ms/interval_ms.", "calendar_with_interval")
            return calendar_timing(attrs["calendar"], attrs.get("max_occurrences"))
        return interval_timing(attrs, base)


def _check_horizon(ahead_ms: int, field: str | None = None) -> None:
    if ahead_ms > settings.SCHEDULE_HORIZON_DAYS * 86_400_000:
        message = f"The first run is more than {settings.SCHEDULE_HORIZON_DAYS} days ahead."
        if field is None:
            raise serializers.ValidationError(message, code="first_run_beyond_horizon")
        raise _error(field, message, "first_run_beyond_horizon")


def interval_timing(attrs: dict, base: Schedule | None) -> dict:
    inherit = base is not None and base.kind == Schedule.Kind.INTERVAL
    if "first_run_at_ms" in attrs:
        first = from_ms(attrs["first_run_at_ms"])
    elif inherit:
        first = base.first_run_at
    else:
        raise _error("first_run_at_ms", "This field is required.", "required")
    interval = attrs["interval_ms"] if "interval_ms" in attrs else (base.interval_ms if inherit else None)
    count = attrs.get("max_occurrences") or (base.max_occurrences if inherit else 1)
    if count > 1 and interval is None:
        raise _error("interval_ms", "Required when max_occurrences > 1.", "interval_required")
    try:
        first + timedelta(milliseconds=(count - 1) * (interval or 0))  # the last one must be a representable date
    except OverflowError:
        raise _error("max_occurrences", "The last occurrence is too far ahead.", "schedule_too_long")
    return {
        "kind": Schedule.Kind.INTERVAL, "first_run_at": first, "interval_ms": interval, "max_occurrences": count,
        "days_of_week": [], "send_time": None, "timezone": "", "start_date": None, "end_date": None,
    }


def calendar_timing(calendar: dict, max_occurrences: int | None) -> dict:
    """Timing fields of a calendar rule: its first occurrence from now and how many it has."""
    now = timezone.now()
    days = tuple(DAY_NAMES.index(d) for d in calendar["days_of_week"])
    probe = CalendarRule(
        days_of_week=days, send_time=calendar["send_time"], timezone=calendar["timezone"],
        start_date=calendar["start_date"], end_date=calendar.get("end_date"), max_occurrences=MAX_OCCURRENCES,
    )
    first = probe.next_due(1, now)
    if first is None:
        raise _error("calendar", "No occurrence between now and the end date.", "no_occurrences")
    _check_horizon(to_ms(first) - to_ms(now), "calendar")
    # Count from the first real occurrence: days before it (a past start date) do not run.
    first_day: date = first.astimezone(probe.zone).date()
    available = CalendarRule(days, probe.send_time, probe.timezone, first_day, probe.end_date, MAX_OCCURRENCES).count_through_end()
    return {
        "kind": Schedule.Kind.CALENDAR, "first_run_at": first, "interval_ms": None,
        "max_occurrences": min(max_occurrences or MAX_OCCURRENCES, available),
        "days_of_week": list(calendar["days_of_week"]), "send_time": calendar["send_time"],
        "timezone": calendar["timezone"], "start_date": calendar["start_date"], "end_date": calendar.get("end_date"),
    }


class ScheduleUpdateInput(StrictSerializer):
    """PATCH /v2/outbound/schedules/{id}: what to change for occurrences not yet started."""

    text = serializers.CharField(max_length=4096, required=False, allow_blank=True, trim_whitespace=False)
    media = serializers.ListField(child=MediaInput(), max_length=10, required=False)
    group_ids = UniqueListField(
        child=serializers.UUIDField(), min_length=1, max_length=100, required=False, duplicate_code="duplicate_group_ids"
    )
    variants = serializers.ListField(child=VariantInput(), max_length=10, required=False)
    skip_within_hours = serializers.FloatField(min_value=0, max_value=8760, required=False, allow_null=True)
    schedule = ScheduleField(required=False, help_text="New timing: an interval rule (fields not given are kept) or a calendar.")

    def validate_variants(self, value):
        return variants_validate(value) if value else []

    def validate_schedule(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("schedule must be an object.", code="invalid")
        rule = ScheduleRuleInput(data=value, context=self.context)
        rule.is_valid(raise_exception=True)
        return rule.validated_data

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Nothing to change.", code="empty_update")
        return attrs
