"""The schedule's edit form in the admin: timing (interval or calendar), message, groups, cap, name."""

import json
from datetime import time

from django import forms
from django.contrib.admin import widgets
from rest_framework import serializers

from core.api.errors import errors_flatten
from core.errors import ApplicationError
from core.time import to_ms
from outbound.services.sends import session_groups_resolve

from ..api.inputs import ScheduleRuleInput
from ..models import Schedule
from ..rules import DAY_NAMES


class MillisecondTimeInput(widgets.BaseAdminTimeWidget):
    """The admin's time box, showing milliseconds when the time has some (14:38:11.303).

    The admin's own shows seconds only, so saving a form silently moved a due
    time of 14:38:11.303 to 14:38:11. Typed milliseconds are read back by
    TIME_INPUT_FORMATS' %H:%M:%S.%f.
    """

    def __init__(self, attrs=None):
        super().__init__(attrs={"size": "12", **(attrs or {})})

    def format_value(self, value):
        if isinstance(value, time) and value.microsecond:
            return f"{value:%H:%M:%S}.{value.microsecond // 1000:03d}"
        return super().format_value(value)


class MillisecondSplitDateTime(widgets.AdminSplitDateTime):
    # Django drops the microseconds of a form's initial value unless its widget says it shows them.
    supports_microseconds = True

    def __init__(self, attrs=None):
        forms.MultiWidget.__init__(self, [widgets.BaseAdminDateWidget, MillisecondTimeInput], attrs)


class OptionalJSONField(forms.JSONField):
    """A JSON box that shows nothing, rather than `[]`, when there is nothing in it (e.g. no A/B variants)."""

    def prepare_value(self, value):
        return "" if value in (None, [], {}) else super().prepare_value(value)


class ListField(forms.CharField):
    """A calendar's list (days of the month, send times, skip dates) as a comma-separated line, e.g. "1, 15, last".

    The model keeps a JSON list; a bare JSONField showed operators `[]` boxes to
    type JSON into. A value in JSON (`[1, -1]`) is still read as before.
    """

    def __init__(self, *, numbers: bool = False, **kwargs):
        self.numbers = numbers
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 48}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip().startswith("[") else value
            except ValueError:
                return value
        if isinstance(value, (list, tuple)):
            return ", ".join("last" if self.numbers and v == -1 else str(v) for v in value)
        return value

    def to_python(self, value):
        text = (super().to_python(value) or "").strip()
        if text.startswith("["):
            try:
                items = json.loads(text)
            except ValueError:
                raise forms.ValidationError("Not a list: write the items separated by commas, e.g. 1, 15, last.") from None
        else:
            items = [item.strip() for item in text.replace(";", ",").split(",") if item.strip()]
        if not self.numbers:
            return [str(item) for item in items]
        numbers = []
        for item in items:
            if str(item).lower() == "last":
                numbers.append(-1)
                continue
            try:
                numbers.append(int(item))
            except (TypeError, ValueError):
                raise forms.ValidationError(f"{item!r} is not a day of the month (1-31, or last).") from None
        return numbers

    def has_changed(self, initial, data):
        try:
            return self.to_python(data) != self.to_python(self.prepare_value(initial) or "")
        except forms.ValidationError:
            return True


def to_millisecond(value):
    """What the form shows of a stored time: the API's precision, milliseconds."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000) if value else value


# Form fields that make up the rule, and those that only say how it fires (the API's
# RULE_FIELDS and POLICY_FIELDS). A save that changes none of them leaves the timing as it is;
# one that changes only policies leaves the rule, and so every due time, as it is.
RULE_FORM_FIELDS = (
    "kind", "first_run_at", "interval_ms", "max_occurrences", "days_of_week", "days_of_month", "send_time",
    "send_times", "timezone", "start_date", "end_date", "skip_dates", "dst_gap_policy", "dst_overlap_policy",
)
POLICY_FORM_FIELDS = ("overlap_policy", "catchup_window_ms", "jitter_ms")
DST_FORM_FIELDS = ("dst_gap_policy", "dst_overlap_policy")


class KeptIfEmptyChoiceField(forms.TypedChoiceField):
    """A choice that, left out of a post, is no change (and keeps the stored value), not an error."""

    def has_changed(self, initial, data):
        return data not in (None, "") and super().has_changed(initial, data)
TIMING_FORM_FIELDS = RULE_FORM_FIELDS + POLICY_FORM_FIELDS


class ScheduleForm(forms.ModelForm):
    """Operators edit occurrences that have not started: timing (interval or calendar), message, groups, cap.

    A due time the operator did not change never moves: the timing is
    applied only when one of its fields changed, and the first run is
    compared at the precision the form shows (milliseconds).
    """

    days_of_week = forms.MultipleChoiceField(
        choices=[(d, d.capitalize()) for d in DAY_NAMES], required=False, widget=forms.CheckboxSelectMultiple
    )
    variants = OptionalJSONField(required=False, help_text=Schedule._meta.get_field("variants").help_text)
    days_of_month = ListField(
        numbers=True, label="Days of month",
        help_text="Calendar schedules: days of the month separated by commas, 1-31 or last, e.g. 1, 15, last. "
        "With days of week, a day must match both (e.g. Friday and 13: Friday the 13th).",
    )
    send_times = ListField(
        label="Send times",
        help_text="Calendar schedules: every local time of a matching day, e.g. 09:00, 17:30. Empty: send time alone.",
    )
    skip_dates = ListField(label="Skip dates", help_text="Calendar schedules: local days that never run, e.g. 2026-12-25.")

    class Meta:
        model = Schedule
        fields = [
            "name", *RULE_FORM_FIELDS, *POLICY_FORM_FIELDS, "text", "groups", "skip_within_hours", "variants",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "first_run_at" not in self.fields:
            return  # an ended schedule's read-only page: no box to set up
        # A calendar rule computes its first run; an interval rule keeps the stored one if left empty.
        self.fields["first_run_at"].required = False
        self.fields["first_run_at"].widget = MillisecondSplitDateTime()
        self.fields["first_run_at"].help_text = (
            "Due time of occurrence 1, in your time zone, e.g. 14:38:11.303 (milliseconds are kept)."
        )
        # Shown, and compared on save, at the precision the form shows.
        self.initial["first_run_at"] = to_millisecond(self.instance.first_run_at)
        for name in DST_FORM_FIELDS:
            field = self.fields[name]
            self.fields[name] = KeptIfEmptyChoiceField(
                choices=field.choices, required=False, label=field.label, help_text=field.help_text, initial=field.initial,
            )
        self.fields["kind"].help_text = (
            "interval: first run + (k-1) x interval. calendar: matching days (weekdays, days of the month) at local times."
        )

    def _rule_input(self, data) -> dict:
        """The form's timing in the API's `schedule` shape, so both are validated the same way."""
        policies = {name: data.get(name) for name in POLICY_FORM_FIELDS if name in self.changed_data}
        if policies.get("jitter_ms") is None:
            policies.pop("jitter_ms", None)  # an emptied box: left as it was (0 means no jitter)
        if policies.get("overlap_policy") in (None, ""):
            policies.pop("overlap_policy", None)
        if not any(name in self.changed_data for name in RULE_FORM_FIELDS):
            return policies  # the rule stays as stored: no due time moves
        if data.get("kind") == Schedule.Kind.CALENDAR:
            calendar = {"timezone": data.get("timezone") or ""}
            if data.get("days_of_week"):
                calendar["days_of_week"] = data["days_of_week"]
            if data.get("days_of_month"):
                calendar["days_of_month"] = data["days_of_month"]
            if data.get("send_times"):
                calendar["send_times"] = data["send_times"]
            else:
                calendar["send_time"] = data["send_time"].strftime("%H:%M:%S") if data.get("send_time") else ""
            if data.get("skip_dates"):
                calendar["skip_dates"] = data["skip_dates"]
            if data.get("start_date"):
                calendar["start_date"] = data["start_date"].isoformat()
            if data.get("end_date"):
                calendar["end_date"] = data["end_date"].isoformat()
            for policy in DST_FORM_FIELDS:
                # A form posted without them (a script, an older page) keeps the schedule's own.
                calendar[policy] = data.get(policy) or getattr(self.instance, policy)
            cap = {"max_occurrences": data["max_occurrences"]} if data.get("max_occurrences") else {}
            return {"calendar": calendar, **cap, **policies}
        rule = {"interval_ms": data.get("interval_ms"), "max_occurrences": data.get("max_occurrences") or 1}
        if data.get("first_run_at") and "first_run_at" in self.changed_data:
            rule["first_run_at_ms"] = to_ms(data["first_run_at"])
        return {**rule, **policies}

    @property
    def timing_changed(self) -> bool:
        return any(name in self.changed_data for name in TIMING_FORM_FIELDS)

    def clean(self):
        data = super().clean()
        schedule = self.instance
        for name in DST_FORM_FIELDS:
            data[name] = data.get(name) or getattr(schedule, name)
        if schedule.status in Schedule.ENDED:
            raise forms.ValidationError(f"A {schedule.status} schedule cannot be edited.")
        rule = ScheduleRuleInput(data=self._rule_input(data), context={"schedule": schedule})
        if not self.timing_changed:
            data["timing"] = None  # nothing to recompute: every due time stays exactly as stored
        elif rule.is_valid():
            data["timing"] = rule.validated_data
        else:
            for field, errors in errors_flatten(rule.errors).items():
                name = field.split(".")[-1]
                target = name if name in self.fields else None
                self.add_error(target, "; ".join(e["message"] for e in errors))
        if data.get("groups") is not None:
            try:
                session_groups_resolve(session=schedule.session, group_ids=[g.id for g in data["groups"]])
            except ApplicationError as refusal:
                self.add_error("groups", f"{refusal.message} {', '.join(refusal.details.get('group_ids', []))}")
        if data.get("variants"):
            from outbound.serializers import VariantInput, variants_validate

            variants = VariantInput(data=data["variants"], many=True)
            try:
                variants.is_valid(raise_exception=True)
                data["variants"] = variants_validate(variants.validated_data)
            except serializers.ValidationError as error:
                self.add_error("variants", str(error.detail))
        return data
