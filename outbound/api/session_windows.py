"""PATCH /v2/sessions/{id}: a session's daily cap, warm-up and quiet hours (beside its pacing);
PATCH /v2/account: the account's quiet hours (outbound/api/account.py), with the same fields and checks.

Each field is optional; what is sent is checked together with what the
session already has, so a request that would leave it misconfigured is
refused with the field named (400), and nothing is changed.
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.api.strict import UniqueListField
from core.quiet_hours import QUIET_HOURS_FIELDS, quiet_hours_problem
from core.zones import TimeZoneField
from outbound import clock
from outbound.services.sending_windows import daily_cap_on, local_day, zone_of

WINDOW_FIELDS = (
    "time_zone", "daily_message_cap", "warmup_first_day_cap", "warmup_days", "warmup_started_on",
    "quiet_hours_start", "quiet_hours_end", "quiet_hours_days",
)


@extend_schema_field({"type": "string", "format": "time", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "maxLength": 5, "example": "22:00"})
class LocalTimeField(serializers.TimeField):
    """A local time of day, HH:MM (minutes: quiet hours need no finer)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M"], **kwargs)


def _error(field: str, message: str, code: str) -> serializers.ValidationError:
    return serializers.ValidationError({field: [serializers.ErrorDetail(message, code=code)]})


class QuietHoursInputMixin(serializers.Serializer):
    """A zone and quiet hours, checked with what their owner (a session or an account) already has.

    `owner_context` names the context entry holding the owner; the check
    itself is core.quiet_hours.quiet_hours_problem, as in the admin.
    """

    owner_context = "session"

    time_zone = TimeZoneField(
        required=False, allow_blank=True, help_text="IANA zone of the local day and quiet hours, e.g. Africa/Cairo; empty: UTC."
    )
    quiet_hours_start = LocalTimeField(
        required=False, allow_null=True,
        help_text="Local time quiet hours start, e.g. 22:00; null (with quiet_hours_end): the account's apply.",
    )
    quiet_hours_end = LocalTimeField(
        required=False, allow_null=True,
        help_text="Local time they end, e.g. 08:00; earlier than the start: the window crosses midnight.",
    )
    quiet_hours_days = UniqueListField(
        child=serializers.IntegerField(min_value=1, max_value=7), required=False, max_length=7,
        help_text="ISO weekdays (1 = Monday) a window starts on, e.g. [1, 2, 3, 4, 5]; empty: every day.",
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        owner = self.context[self.owner_context]

        def merged(name):
            return attrs[name] if name in attrs else getattr(owner, name)

        problem = quiet_hours_problem(
            start=merged("quiet_hours_start"), end=merged("quiet_hours_end"), days=merged("quiet_hours_days")
        )
        if problem is not None:
            raise _error(problem.field, problem.message, problem.code)
        return attrs


def quiet_hours_changes(validated: dict) -> dict:
    """Model field values from the validated fields of QuietHoursInputMixin (weekdays in order)."""
    changes = {name: value for name, value in validated.items() if name in QUIET_HOURS_FIELDS}
    if "quiet_hours_days" in changes:
        changes["quiet_hours_days"] = sorted(changes["quiet_hours_days"])
    return changes


class SessionWindowsInputMixin(QuietHoursInputMixin):
    """The fields; mixed into the session's PATCH input (outbound/api/catalog.py)."""

    daily_message_cap = serializers.IntegerField(
        min_value=1, max_value=1_000_000, required=False, allow_null=True,
        help_text="Most messages in one local day, e.g. 200; null: no cap.",
    )
    warmup_first_day_cap = serializers.IntegerField(
        min_value=1, max_value=1_000_000, required=False, allow_null=True,
        help_text="Warm-up: the cap on day 1, rising linearly to daily_message_cap on day warmup_days, e.g. 20; null: no warm-up.",
    )
    warmup_days = serializers.IntegerField(
        min_value=0, max_value=365, required=False, help_text="Warm-up length in days (at least 2 with a warm-up), e.g. 14."
    )
    warmup_started_on = serializers.DateField(
        required=False, allow_null=True,
        help_text="Local date of warm-up day 1, e.g. 2026-03-01; omitted when a warm-up is set: today (session zone).",
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)  # the pacing's checks, then the quiet hours' (QuietHoursInputMixin)
        session = self.context["session"]

        def merged(name, model_name=None):
            return attrs[name] if name in attrs else getattr(session, model_name or name)

        cap = merged("daily_message_cap")
        first = merged("warmup_first_day_cap")
        days = merged("warmup_days")
        if first is not None:
            if cap is None:
                raise _error("warmup_first_day_cap", "A warm-up needs a daily_message_cap to rise to.", "warmup_without_daily_cap")
            if cap < first:
                raise _error("daily_message_cap", "Must not be less than warmup_first_day_cap (warm-up day 1).", "below_warmup_first_day_cap")
            if days < 2:
                raise _error("warmup_days", "A warm-up takes at least 2 days.", "warmup_too_short")
            if merged("warmup_started_on", "warmup_started_at") is None:
                zone = zone_of(merged("time_zone"))
                attrs["warmup_started_on"] = local_day(clock.now(), zone)
        return attrs


def session_windows_changes(validated: dict) -> dict:
    """Model field values from the validated fields of this module."""
    changes = {name: value for name, value in validated.items() if name in WINDOW_FIELDS}
    if "warmup_started_on" in changes:
        changes["warmup_started_at"] = changes.pop("warmup_started_on")
    if "quiet_hours_days" in changes:
        changes["quiet_hours_days"] = sorted(changes["quiet_hours_days"])
    return changes


class SessionWindowsOutputMixin(serializers.Serializer):
    time_zone = serializers.CharField(help_text="IANA zone of the local day and quiet hours; empty: UTC.")
    daily_message_cap = serializers.IntegerField(allow_null=True, help_text="Most messages in one local day; null: no cap.")
    warmup_first_day_cap = serializers.IntegerField(allow_null=True, help_text="Warm-up day 1's cap; null: no warm-up.")
    warmup_days = serializers.IntegerField()
    warmup_started_on = serializers.DateField(source="warmup_started_at", allow_null=True)
    quiet_hours_start = LocalTimeField(allow_null=True)
    quiet_hours_end = LocalTimeField(allow_null=True)
    quiet_hours_days = serializers.ListField(child=serializers.IntegerField())
    messages_today = serializers.SerializerMethodField(help_text="Messages given a send slot on the session's current local day.")
    cap_today = serializers.SerializerMethodField(help_text="Today's cap (the warm-up's while it lasts); null: no cap.")

    def _today(self, session):
        return local_day(clock.now(), zone_of(session.time_zone))

    def get_messages_today(self, session) -> int:
        return session.cap_day_count if session.cap_day == self._today(session) else 0

    def get_cap_today(self, session) -> int | None:
        return daily_cap_on(session, self._today(session))
