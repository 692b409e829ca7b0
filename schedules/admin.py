import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from rest_framework import serializers

from outbound.api.errors import _flatten
from outbound.errors import OutboundError
from outbound.services.sends import session_groups_resolve
from outbound.timefmt import to_ms

from . import services
from .api.inputs import ScheduleRuleInput
from .models import Run, Schedule, ScheduleChange
from .rules import DAY_NAMES

STATUS_HELP = (
    "scheduled → running (an occurrence is sending) → scheduled … → completed, or completed_with_failures "
    "if any run failed. paused: nothing starts until resumed; occurrences due meanwhile become skipped runs. "
    "canceled: final, nothing more is sent."
)


# Runs a schedule's page shows; a schedule may have 10,000, all of them on the Run list.
LATEST_RUNS = 100


class LatestRunsFormSet(BaseInlineFormSet):
    """The runs inline's rows: the latest runs only, one query (ORDER BY occurrence_number DESC LIMIT 100)."""

    def get_queryset(self):
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset()[:LATEST_RUNS]
        return self._latest


class RunInline(admin.TabularInline):
    model = Run
    formset = LatestRunsFormSet
    extra = 0
    can_delete = False
    fields = ["occurrence_number", "status", "due_at", "started_at", "failed_at", "error_code", "error_message", "deliveries"]
    readonly_fields = fields
    ordering = ["-occurrence_number"]

    def has_add_permission(self, request, obj=None):
        return False

    def get_formset(self, request, obj=None, **kwargs):
        if obj is not None:
            # Inline instances are made per request: the heading can name this schedule's runs.
            self.verbose_name_plural = self.heading(obj)
        return super().get_formset(request, obj, **kwargs)

    def heading(self, schedule):
        total = schedule.runs.count()
        if not total:
            return "runs"
        url = f"{reverse('admin:schedules_run_changelist')}?{urlencode({RunScheduleFilter.parameter_name: schedule.pk})}"
        if total <= LATEST_RUNS:
            return format_html('runs (<a href="{}">all {} on the run list</a>)', url, total)
        return format_html('runs: the latest {} of {}, newest first (<a href="{}">all {} runs</a>)', LATEST_RUNS, total, url, total)

    @admin.display(description="deliveries")
    def deliveries(self, run):
        if not run.send_id:
            return "-"
        url = reverse("admin:outbound_send_change", args=[run.send_id])
        return format_html('<a href="{}">send {}</a>', url, str(run.send_id)[:8])


class ChangeInline(admin.TabularInline):
    """The audit trail of edits (API and admin)."""

    model = ScheduleChange
    extra = 0
    can_delete = False
    fields = ["changed_at", "actor_user", "source", "changes"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class ScheduleForm(forms.ModelForm):
    """Operators edit occurrences that have not started: timing (interval or calendar), message, groups, cap."""

    days_of_week = forms.MultipleChoiceField(
        choices=[(d, d.capitalize()) for d in DAY_NAMES], required=False, widget=forms.CheckboxSelectMultiple
    )
    variants = forms.JSONField(required=False, help_text=Schedule._meta.get_field("variants").help_text)

    class Meta:
        model = Schedule
        fields = [
            "kind", "first_run_at", "interval_ms", "max_occurrences", "days_of_week", "send_time", "timezone",
            "start_date", "end_date", "text", "groups", "skip_within_hours", "variants",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A calendar rule computes its first run; an interval rule keeps the stored one if left empty.
        self.fields["first_run_at"].required = False
        self.fields["kind"].help_text = "interval: first run + (k-1) x interval. calendar: weekdays at a local time."

    def _rule_input(self, data) -> dict:
        """The form's timing in the API's `schedule` shape, so both are validated the same way."""
        if data.get("kind") == Schedule.Kind.CALENDAR:
            calendar = {
                "days_of_week": data.get("days_of_week") or [],
                "send_time": data["send_time"].strftime("%H:%M:%S") if data.get("send_time") else "",
                "timezone": data.get("timezone") or "",
            }
            if data.get("start_date"):
                calendar["start_date"] = data["start_date"].isoformat()
            if data.get("end_date"):
                calendar["end_date"] = data["end_date"].isoformat()
            return {"calendar": calendar, **({"max_occurrences": data["max_occurrences"]} if data.get("max_occurrences") else {})}
        rule = {"interval_ms": data.get("interval_ms"), "max_occurrences": data.get("max_occurrences") or 1}
        if data.get("first_run_at") and data["first_run_at"] != self.instance.first_run_at:
            rule["first_run_at_ms"] = to_ms(data["first_run_at"])
        return rule

    def clean(self):
        data = super().clean()
        schedule = self.instance
        if schedule.status in Schedule.ENDED:
            raise forms.ValidationError(f"A {schedule.status} schedule cannot be edited.")
        rule = ScheduleRuleInput(data=self._rule_input(data), context={"schedule": schedule})
        if rule.is_valid():
            data["timing"] = rule.validated_data
        else:
            for field, errors in _flatten(rule.errors).items():
                name = field.split(".")[-1]
                target = name if name in self.fields else None
                self.add_error(target, "; ".join(e["message"] for e in errors))
        if data.get("groups") is not None:
            try:
                session_groups_resolve(session=schedule.session, group_ids=[g.id for g in data["groups"]])
            except OutboundError as refusal:
                self.add_error("groups", f"{refusal.message} {', '.join(refusal.details.get('group_ids', []))}")
        if data.get("variants"):
            from outbound.api.sends import VariantInput, variants_validate

            variants = VariantInput(data=data["variants"], many=True)
            try:
                variants.is_valid(raise_exception=True)
                data["variants"] = variants_validate(variants.validated_data)
            except serializers.ValidationError as error:
                self.add_error("variants", str(error.detail))
        return data


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ["id", "status", "rule_summary", "session", "next_run_at", "runs", "actor_user", "created_at"]
    list_select_related = ["session", "actor_user", "account"]
    list_filter = ["status", "kind", "session", "account"]
    search_fields = ["=id"]
    ordering = ["-id"]
    readonly_fields = [
        "id", "account", "session", "actor_user", "status", "status_help", "rule_summary", "upcoming",
        "next_occurrence", "next_run_at", "run_count", "failed_run_count", "last_run_at", "completed_at",
        "canceled_at", "paused_at", "periodic_task", "created_at", "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["id", "account", "session", "actor_user", "status", "status_help"]}),
        ("Timing (times in your time zone)", {"fields": [
            "rule_summary", "upcoming", "kind", "first_run_at", "interval_ms", "max_occurrences",
            "days_of_week", "send_time", "timezone", "start_date", "end_date", "next_occurrence", "next_run_at",
        ]}),
        ("Message", {"fields": ["text", "groups", "skip_within_hours", "variants"]}),
        ("Progress", {"fields": [
            "run_count", "failed_run_count", "last_run_at", "completed_at", "canceled_at", "paused_at", "periodic_task",
        ]}),
    ]
    filter_horizontal = ["groups"]
    inlines = [RunInline, ChangeInline]
    actions = ["cancel", "pause", "resume", "run_now"]

    @admin.display(description="runs / failed")
    def runs(self, schedule):
        return f"{schedule.run_count} / {schedule.failed_run_count}"

    @admin.display(description="rule")
    def rule_summary(self, schedule):
        return schedule.rule_summary

    @admin.display(description="statuses")
    def status_help(self, schedule):
        return STATUS_HELP

    @admin.display(description="next 5 runs")
    def upcoming(self, schedule):
        # From the stored schedule: on a form with errors the instance holds unsaved input.
        occurrences = services.schedule_preview(schedule=Schedule.objects.get(pk=schedule.pk), count=5)
        if not occurrences:
            return "-"
        return format_html_join(
            ", ", "#{} {}", ((k, timezone.localtime(due).strftime("%a %d %b %Y %H:%M:%S %Z")) for k, due in occurrences)
        )

    def has_add_permission(self, request):
        return False  # schedules are created through the API (they need an idempotency key)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        try:
            services.schedule_update(
                schedule=obj,
                actor_user=request.user,
                source="admin",
                timing=data["timing"],
                group_ids=[g.id for g in data["groups"]],
                text=data["text"],
                skip_within_hours=data["skip_within_hours"],
                variants=data.get("variants") or [],
            )
        except OutboundError as refusal:
            self.message_user(request, f"Not saved: {refusal.message}", messages.ERROR)

    def save_related(self, request, form, formsets, change):
        # Groups were set (and checked) by schedule_update, not by form.save_m2m;
        # the inlines are read-only, saving them writes nothing.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def _each(self, request, queryset, service, verb):
        done, refused = 0, []
        for schedule in queryset:
            try:
                service(schedule=schedule)
                done += 1
            except OutboundError as refusal:
                refused.append(f"{schedule.id}: {refusal.message}")
        self.message_user(request, f"{verb} {done} schedule(s).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description="Cancel selected schedules")
    def cancel(self, request, queryset):
        if not request.POST.get("confirmed"):
            return TemplateResponse(
                request,
                "admin/schedules/cancel_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "title": "Cancel schedules?",
                    "schedules": queryset,
                    "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                    "opts": self.model._meta,
                },
            )
        self._each(request, queryset, services.schedule_cancel, "Canceled")

    @admin.action(description="Pause selected schedules")
    def pause(self, request, queryset):
        self._each(request, queryset, services.schedule_pause, "Paused")

    @admin.action(description="Resume selected schedules (occurrences due meanwhile are skipped)")
    def resume(self, request, queryset):
        self._each(request, queryset, services.schedule_resume, "Resumed")

    @admin.action(description="Run the next occurrence now")
    def run_now(self, request, queryset):
        started = 0
        for schedule in queryset.filter(status__in=Schedule.ACTIVE, next_run_at__isnull=False):
            services.schedule_run_now(schedule=schedule)
            started += 1
        self.message_user(request, f"Queued the next occurrence of {started} schedule(s).", messages.SUCCESS)


class RunScheduleFilter(admin.SimpleListFilter):
    """The runs of one schedule (its page links here); offers only that schedule, never a list of them all."""

    title = "schedule"
    parameter_name = "schedule"

    def lookups(self, request, model_admin):
        return [(self.value(), self.value())] if self.value() else []

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        try:
            return queryset.filter(schedule_id=uuid.UUID(self.value()))
        except ValueError as error:
            raise IncorrectLookupParameters(error) from None


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["schedule", "occurrence_number", "status", "due_at", "started_at", "error_code"]
    list_filter = [RunScheduleFilter, "status", "error_code", "trigger"]
    search_fields = ["=schedule__id"]
    readonly_fields = [f.name for f in Run._meta.fields]

    def has_add_permission(self, request):
        return False
