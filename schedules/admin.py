from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from outbound.errors import OutboundError
from outbound.services.sends import session_groups_resolve

from . import services
from .models import Run, Schedule


class RunInline(admin.TabularInline):
    model = Run
    extra = 0
    can_delete = False
    fields = ["occurrence_number", "status", "due_at", "started_at", "failed_at", "error_code", "error_message", "deliveries"]
    readonly_fields = fields
    ordering = ["-occurrence_number"]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="deliveries")
    def deliveries(self, run):
        if not run.send_id:
            return "-"
        url = reverse("admin:outbound_send_change", args=[run.send_id])
        return format_html('<a href="{}">send {}</a>', url, str(run.send_id)[:8])


class ScheduleForm(forms.ModelForm):
    """Operators edit timing, text and groups of occurrences that have not started."""

    class Meta:
        model = Schedule
        fields = ["first_run_at", "interval_ms", "max_occurrences", "text", "groups"]

    def clean(self):
        data = super().clean()
        schedule = self.instance
        if schedule.status not in Schedule.ACTIVE:
            raise forms.ValidationError(f"A {schedule.status} schedule cannot be edited.")
        if data.get("max_occurrences", 1) > 1 and not data.get("interval_ms"):
            self.add_error("interval_ms", "Required when there is more than one occurrence.")
        probe = Schedule(
            first_run_at=data.get("first_run_at"),
            interval_ms=data.get("interval_ms"),
            max_occurrences=data.get("max_occurrences") or 1,
        )
        groups = data.get("groups")
        if groups is not None:
            try:
                session_groups_resolve(session=schedule.session, group_ids=[g.id for g in groups])
            except OutboundError as refusal:
                self.add_error("groups", f"{refusal.message} {', '.join(refusal.details.get('group_ids', []))}")
        next_run = probe.rule.due_at(schedule.next_occurrence) if probe.first_run_at else None
        if next_run is not None and next_run < timezone.now() - timedelta(seconds=5):
            self.add_error("first_run_at", f"Occurrence {schedule.next_occurrence} would be due in the past ({next_run}).")
        return data


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ["id", "status", "session", "next_run_at", "runs", "actor_user", "created_at"]
    list_select_related = ["session", "actor_user", "account"]
    list_filter = ["status", "session", "account"]
    search_fields = ["=id"]
    ordering = ["-id"]
    readonly_fields = [
        "id", "account", "session", "actor_user", "status", "next_occurrence", "next_run_at", "run_count",
        "failed_run_count", "last_run_at", "completed_at", "canceled_at", "periodic_task", "created_at", "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["id", "account", "session", "actor_user", "status"]}),
        ("Timing (times in your time zone)", {"fields": ["first_run_at", "interval_ms", "max_occurrences", "next_occurrence", "next_run_at"]}),
        ("Message", {"fields": ["text", "groups"]}),
        ("Progress", {"fields": ["run_count", "failed_run_count", "last_run_at", "completed_at", "canceled_at", "periodic_task"]}),
    ]
    filter_horizontal = ["groups"]
    inlines = [RunInline]
    actions = ["cancel", "run_now"]

    @admin.display(description="runs / failed")
    def runs(self, schedule):
        return f"{schedule.run_count} / {schedule.failed_run_count}"

    def has_add_permission(self, request):
        return False  # schedules are created through the API (they need an idempotency key)

    def save_model(self, request, obj, form, change):
        try:
            services.schedule_update(
                schedule=obj,
                first_run_at=form.cleaned_data["first_run_at"],
                interval_ms=form.cleaned_data["interval_ms"],
                max_occurrences=form.cleaned_data["max_occurrences"],
                text=form.cleaned_data["text"],
                groups=list(form.cleaned_data["groups"]),
            )
        except OutboundError as refusal:
            self.message_user(request, f"Not saved: {refusal.message}", messages.ERROR)

    def save_related(self, request, form, formsets, change):
        # Groups were set (and checked) by schedule_update, not by form.save_m2m;
        # the runs inline is read-only, saving it writes nothing.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

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
        canceled, refused = 0, []
        for schedule in queryset:
            try:
                services.schedule_cancel(schedule=schedule)
                canceled += 1
            except OutboundError as refusal:
                refused.append(f"{schedule.id}: {refusal.message}")
        self.message_user(request, f"Canceled {canceled} schedule(s).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)

    @admin.action(description="Run the next occurrence now")
    def run_now(self, request, queryset):
        started = 0
        for schedule in queryset.filter(status__in=Schedule.ACTIVE, next_run_at__isnull=False):
            services.schedule_run_now(schedule=schedule)
            started += 1
        self.message_user(request, f"Queued the next occurrence of {started} schedule(s).", messages.SUCCESS)


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["schedule", "occurrence_number", "status", "due_at", "started_at", "error_code"]
    list_filter = ["status", "error_code", "trigger"]
    search_fields = ["=schedule__id"]
    readonly_fields = [f.name for f in Run._meta.fields]

    def has_add_permission(self, request):
        return False
