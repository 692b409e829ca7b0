"""Request bodies: the `schedule` timing object (interval or calendar) and the PATCH body."""

import re
import zoneinfo
from datetime import time, timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.strict import StrictSerializer, UniqueListField
from core.time import from_ms, to_ms
from core.zones import TimeZoneField
from outbound.limits import MAX_MEDIA, MAX_TEXT
from outbound.serializers import MediaInput, VariantInput, variants_validate
from schedules.models import Schedule
from schedules.rules import DAY_NAMES, MAX_OCCURRENCES, CalendarRule, IntervalRule

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


MAX_SEND_TIMES = 24
# Every millisecond value the API takes (an instant or a duration) is 0..MAX_MS: within the
# database's bigint and Python's datetime, whatever arithmetic follows.
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_SKIP_DATES = 366
# A catch-up window below this would miss occurrences beat fires a little late in normal operation.
MIN_CATCHUP_WINDOW_MS = 10_000
MAX_CATCHUP_WINDOW_MS = 365 * 86_400_000


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "integer", "enum": [-1, *range(1, 32)]},
        "minItems": 1,
        "maxItems": 32,
        "uniqueItems": True,
    }
)
class DaysOfMonthField(serializers.ListField):
    """Days of the month, 1-31, and -1 for the last day."""


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "pattern": _TIME.pattern, "maxLength": 8},
        "minItems": 1,
        "maxItems": MAX_SEND_TIMES,
        "uniqueItems": True,
    }
)
class SendTimesField(serializers.ListField):
    """Local times of a day, HH:MM or HH:MM:SS."""


def _send_time_parse(value: str) -> time | None:
    match = _TIME.match(value)
    return time(int(match[1]), int(match[2]), int(match[3] or 0)) if match else None


def _clock(at: time) -> str:
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")


class CalendarInput(StrictSerializer):
    days_of_week = DaysOfWeekField(
        required=False,
        help_text='["friday", "saturday", "sunday"], or {"monday": false, ..., "sunday": true}. '
        "Optional with days_of_month (a day must then match both); default: every weekday.",
    )
    days_of_month = DaysOfMonthField(
        child=serializers.IntegerField(),
        required=False,
        min_length=1,
        max_length=32,
        help_text="Days of the month, 1-31, and -1 for the last day, e.g. [1, 15, -1]. 31 matches only months with a 31st. "
        "With days_of_week a day must match both: [13] with [\"friday\"] is every Friday the 13th.",
    )
    send_time = serializers.CharField(
        required=False, max_length=8, help_text="Local time, HH:MM (or HH:MM:SS), e.g. 14:30. Or send_times for several a day."
    )
    send_times = SendTimesField(
        child=serializers.CharField(max_length=8),
        required=False,
        min_length=1,
        max_length=MAX_SEND_TIMES,
        help_text='Several local times of each matching day, e.g. ["09:00", "17:30"] (1-24). Instead of send_time.',
    )
    skip_dates = UniqueListField(
        child=serializers.DateField(),
        required=False,
        max_length=MAX_SKIP_DATES,
        duplicate_code="duplicate_skip_dates",
        help_text='Local days that never run, e.g. ["2026-12-25", "2027-01-01"] (up to 366).',
    )
    timezone = TimeZoneField(help_text="IANA zone, e.g. Africa/Cairo.")
    start_date = serializers.DateField(required=False, help_text="First local day, e.g. 2025-06-01. Default: today.")
    end_date = serializers.DateField(required=False, allow_null=True, help_text="Last local day, inclusive.")
    dst_gap_policy = serializers.ChoiceField(
        choices=Schedule.DstGapPolicy.choices,
        required=False,
        help_text="A send time that does not exist that day (clocks spring forward, e.g. 02:30 in New York on "
        "8 March 2026): next_valid_time (default: at 03:00), shift_forward (by the gap: at 03:30) or skip.",
    )
    dst_overlap_policy = serializers.ChoiceField(
        choices=Schedule.DstOverlapPolicy.choices,
        required=False,
        help_text="A send time that exists twice that day (clocks fall back, e.g. 01:30 in New York on "
        "1 November 2026): first (default: summer time), second (winter time) or both.",
    )

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
        parsed = _send_time_parse(value)
        if parsed is None:
            raise serializers.ValidationError("Use HH:MM (24-hour), e.g. 14:30.", code="invalid_send_time")
        return parsed

    def validate_send_times(self, value):
        times = []
        for item in value:
            parsed = _send_time_parse(item)
            if parsed is None:
                raise serializers.ValidationError(f"Not a time: {item!r}; use HH:MM (24-hour), e.g. 14:30.", code="invalid_send_time")
            if parsed in times:
                raise serializers.ValidationError(f"{item} is given twice.", code="duplicate_send_times")
            times.append(parsed)
        return sorted(times)

    def validate_days_of_month(self, value):
        bad = [d for d in value if not (1 <= d <= 31 or d == -1)]
        if bad:
            raise serializers.ValidationError(
                f"Not a day of the month: {bad[0]} (1-31, or -1 for the last day).", code="invalid_day_of_month"
            )
        if len(set(value)) != len(value):
            raise serializers.ValidationError("A day of the month is given twice.", code="duplicate_days_of_month")
        return sorted(value, key=lambda d: (d == -1, d))

    def validate(self, attrs):
        if "days_of_week" not in attrs and "days_of_month" not in attrs:
            raise _error("days_of_week", "Give days_of_week, days_of_month, or both.", "required")
        if "send_time" in attrs and "send_times" in attrs:
            raise _error("send_times", "Give send_time or send_times, not both.", "send_time_with_send_times")
        if "send_time" not in attrs and "send_times" not in attrs:
            raise _error("send_time", "Give send_time (or send_times).", "required")
        today = timezone.now().astimezone(zoneinfo.ZoneInfo(attrs["timezone"])).date()
        attrs.setdefault("start_date", today)
        end = attrs.get("end_date")
        if end is not None and end < attrs["start_date"]:
            raise _error("end_date", "The end date is before the start date.", "end_before_start")
        return attrs


class ScheduleField(serializers.JSONField):
    """A `schedule` object in a send or an edit: taken as JSON, validated by ScheduleRuleInput in the body's
    validate_schedule (so its errors nest under `schedule`), documented as ScheduleRuleInput (schedules/api/schema.py)."""


class ScheduleRuleInput(StrictSerializer):
    """The `schedule` object: an interval rule, or a `calendar` one."""

    first_run_at_ms = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_MS, help_text="Due time of occurrence 1, ms since the epoch."
    )
    interval_ms = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_MS)
    max_occurrences = serializers.IntegerField(required=False, min_value=1, max_value=MAX_OCCURRENCES)
    calendar = CalendarInput(required=False)
    jitter_ms = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_MS // 2,
        help_text="Fire each occurrence up to this long after its due time, by a fixed amount per occurrence "
        "(spreads schedules that share a due time), e.g. 30000. 0-half the interval; 0-3600000 for calendar rules "
        "(and at most half the shortest gap between send_times) and one-shots. Default 0.",
    )
    overlap_policy = serializers.ChoiceField(
        choices=Schedule.OverlapPolicy.choices,
        required=False,
        help_text="An occurrence due while the previous run is still sending: skip (recorded as a skipped run, "
        "error_code overlap), buffer_one (default: it waits and starts when the previous finishes; further ones "
        "are skipped), allow_all (it starts anyway).",
    )
    catchup_window_ms = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=MIN_CATCHUP_WINDOW_MS,
        max_value=MAX_CATCHUP_WINDOW_MS,
        help_text="An occurrence fired late (beat or workers were down) still runs if it is at most this late; "
        "later ones are recorded missed. 10000-31536000000, e.g. 3600000; null: SCHEDULE_MISSED_GRACE_SECONDS (600 s).",
    )
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=200,
        help_text="What to call the schedule, e.g. Ramadan promo 2026: shown in lists and the admin. Optional, up to 200 characters.",
    )

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
        named = {"name": attrs["name"]} if "name" in attrs else {}
        policies = {field: attrs[field] for field in POLICY_FIELDS if field in attrs}
        if base is not None and not set(attrs) & set(RULE_FIELDS):
            # A PATCH renaming the schedule or changing its policies: the rule stays.
            if "jitter_ms" in policies:
                _check_jitter(policies["jitter_ms"], base.rule)
            return {**policies, **named}
        if "calendar" in attrs:
            if "first_run_at_ms" in attrs or attrs.get("interval_ms") is not None:
                raise _error("calendar", "Give either calendar or first_run_at_ms/interval_ms.", "calendar_with_interval")
            timing = calendar_timing(attrs["calendar"], attrs.get("max_occurrences"))
        else:
            timing = interval_timing(attrs, base)
        _check_jitter(policies.get("jitter_ms", base.jitter_ms if base is not None else 0), Schedule(**timing).rule)
        return {**timing, **policies, **named}


# The `schedule` object's fields that make the rule, and those that only say how it fires.
RULE_FIELDS = ("first_run_at_ms", "interval_ms", "max_occurrences", "calendar")
POLICY_FIELDS = ("jitter_ms", "overlap_policy", "catchup_window_ms")


def _check_jitter(jitter_ms: int, rule: IntervalRule | CalendarRule) -> None:
    """Jitter stays under half the gap to the next occurrence, so occurrences fire in order; an hour at most for calendars."""
    limit = rule.max_jitter_ms()
    if jitter_ms > limit:
        if isinstance(rule, CalendarRule):
            why = "an hour, and half the shortest gap between send times"
        else:
            why = "half the interval" if rule.interval_ms else "an hour for a one-shot"
        raise _error("jitter_ms", f"jitter_ms is at most {why}: {limit} ms here.", "jitter_too_large")


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
        "days_of_month": [], "send_times": [], "skip_dates": [],
        "dst_gap_policy": Schedule.DstGapPolicy.NEXT_VALID_TIME, "dst_overlap_policy": Schedule.DstOverlapPolicy.FIRST,
    }


def calendar_timing(calendar: dict, max_occurrences: int | None) -> dict:
    """Timing fields of a calendar rule: its first occurrence from now and how many it has."""
    now = timezone.now()
    weekdays = calendar.get("days_of_week", [])
    times = calendar.get("send_times") or [calendar["send_time"]]
    skip_dates = sorted(calendar.get("skip_dates", []))
    gap_policy = calendar.get("dst_gap_policy", Schedule.DstGapPolicy.NEXT_VALID_TIME)
    overlap_policy = calendar.get("dst_overlap_policy", Schedule.DstOverlapPolicy.FIRST)
    probe = CalendarRule(
        days_of_week=tuple(DAY_NAMES.index(d) for d in weekdays), send_time=times[0], timezone=calendar["timezone"],
        start_date=calendar["start_date"], end_date=calendar.get("end_date"), max_occurrences=MAX_OCCURRENCES,
        days_of_month=tuple(calendar.get("days_of_month", [])), send_times=tuple(times), skip_dates=frozenset(skip_dates),
        dst_gap_policy=gap_policy, dst_overlap_policy=overlap_policy,
    )
    first = probe.next_due(1, now)
    if first is None:
        raise _error("calendar", "No occurrence between now and the end date.", "no_occurrences")
    _check_horizon(to_ms(first) - to_ms(now), "calendar")
    # Count from the first real occurrence: those before it (a past start date, today's earlier times) do not run.
    available = probe.count_through_end(first=first)
    return {
        "kind": Schedule.Kind.CALENDAR, "first_run_at": first, "interval_ms": None,
        "max_occurrences": min(max_occurrences or MAX_OCCURRENCES, available),
        "days_of_week": list(weekdays), "send_time": times[0],
        "timezone": calendar["timezone"], "start_date": calendar["start_date"], "end_date": calendar.get("end_date"),
        "days_of_month": list(calendar.get("days_of_month", [])),
        # Kept only when several were given: a single time lives in send_time, as before.
        "send_times": [_clock(t) for t in times] if "send_times" in calendar else [],
        "skip_dates": [d.isoformat() for d in skip_dates],
        "dst_gap_policy": gap_policy, "dst_overlap_policy": overlap_policy,
    }


class ScheduleUpdateInput(StrictSerializer):
    """PATCH /v2/outbound/schedules/{id}: what to change for occurrences not yet started."""

    text = serializers.CharField(max_length=MAX_TEXT, required=False, allow_blank=True, trim_whitespace=False)
    media = serializers.ListField(child=MediaInput(), max_length=MAX_MEDIA, required=False)
    group_ids = UniqueListField(
        child=serializers.UUIDField(), min_length=1, max_length=100, required=False, duplicate_code="duplicate_group_ids"
    )
    variants = serializers.ListField(child=VariantInput(), max_length=10, required=False)
    skip_within_hours = serializers.FloatField(min_value=0, max_value=8760, required=False, allow_null=True)
    schedule = ScheduleField(required=False, help_text="New timing: an interval rule (fields not given are kept) or a calendar.")
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text='A new name, e.g. "Ramadan promo 2026"; "" removes it.'
    )

    def validate_variants(self, value):
        return variants_validate(value) if value else []

    def validate_schedule(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("schedule must be an object.", code="invalid")
        rule = ScheduleRuleInput(data=value, context=self.context)
        rule.is_valid(raise_exception=True)
        return rule.validated_data

    def validate(self, attrs):
        timing = attrs.get("schedule")
        if timing is not None and "name" in timing:
            # A send names its schedule inside `schedule`; a PATCH may name it there too.
            name = timing.pop("name")
            if attrs.setdefault("name", name) != name:
                raise _error("name", "Give the name once: here or as schedule.name.", "conflicting_name")
            if not timing:
                del attrs["schedule"]
        if not attrs:
            raise serializers.ValidationError("Nothing to change.", code="empty_update")
        return attrs


class BackfillInput(StrictSerializer):
    """POST /v2/outbound/schedules/{id}/backfill: the range of due times to look at, [from_ms, to_ms)."""

    from_ms = serializers.IntegerField(
        min_value=0, max_value=MAX_MS, help_text="Earliest due time, ms since the epoch (inclusive), e.g. 1772323200000."
    )
    to_ms = serializers.IntegerField(
        min_value=0, max_value=MAX_MS, help_text="Latest due time, ms since the epoch (exclusive); a time after now counts as now, e.g. 1772928000000."
    )

    def validate(self, attrs):
        if attrs["to_ms"] <= attrs["from_ms"]:
            raise _error("to_ms", "to_ms must be after from_ms.", "empty_range")
        return attrs
