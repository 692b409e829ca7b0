"""The schedules admin (ScheduleAdmin): list, page with timeline and buttons, edit form; runs (runs), the
PeriodicTask mirrors (periodic), the dashboard, the send list's schedule column (sends)."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.admin_console import ConsoleAdmin
from core.admin_format import moment, moment_cell, named, one_line
from core.errors import ApplicationError

from .. import selectors, services
from ..models import Schedule, ScheduleChange
from ..services import operator
from .display import change_diff_html, next_up, rule_full, rule_short
from .forms import ScheduleForm
from .operations import ScheduleOperationsMixin, operations_allowed
from .runs import RunInline
from .timeline import schedule_timeline_svg

STATUS_HELP = (
    "scheduled → running (an occurrence is sending) → scheduled … → completed, or completed_with_failures "
    "if any run failed. paused: nothing starts until resumed; occurrences due meanwhile become skipped runs. "
    "canceled: final, nothing more is sent."
)


class ChangeInline(admin.TabularInline):
    """The audit trail of edits (API and admin), each as "field: old → new" lines."""

    model = ScheduleChange
    extra = 0
    can_delete = False
    fields = ["changed", "actor_user", "source", "diff"]
    readonly_fields = fields
    verbose_name_plural = "changes (audit trail, newest first)"

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="changed at")
    def changed(self, change):
        return moment_cell(change.changed_at)

    @admin.display(description="what changed")
    def diff(self, change):
        return change_diff_html(change.changes)


# Upcoming occurrences the timeline draws after the runs (the "next 5 runs" field lists five in words).
TIMELINE_UPCOMING = 12
# Runs the timeline draws: the latest ones; the runs inline and the run list have them all.
TIMELINE_RUNS = 60
TEXT_PREVIEW_CHARS = 60


# The fieldsets' parts: the timing fields of each kind, the rest shared. A field added to the model slots into one.
INTERVAL_FIELDS = ["first_run_at", "interval_ms", "max_occurrences"]
CALENDAR_FIELDS = [
    "days_of_week", "days_of_month", "send_time", "send_times", "timezone", "start_date", "end_date", "skip_dates",
    "dst_gap_policy", "dst_overlap_policy", "max_occurrences",
]
TIMING_SHOWN = ["rule_summary", "upcoming", "next_up"]
POLICY_FIELDS = ["overlap_policy", "catchup_window_ms", "jitter_ms", "buffered"]
MESSAGE_FIELDS = ["text", "groups", "skip_within_hours", "variants"]
PROGRESS_FIELDS = [
    "runs", "late_run_count", "last_run", "completed", "canceled", "paused", "pause_reason", "pause_source",
    "periodic_task_link", "created", "updated",
]


# A calendar's JSON lists, and the read-only words that stand for them on an ended schedule's page.
LIST_WORDS = {
    "days_of_week": "days_of_week_words", "days_of_month": "days_of_month_words", "send_times": "send_times_words",
    "skip_dates": "skip_dates_words",
}


def _words(values, *, last: bool = False) -> str:
    return ", ".join("last" if last and v == -1 else str(v) for v in values) or "-"


@admin.register(Schedule)
class ScheduleAdmin(ScheduleOperationsMixin, ConsoleAdmin):
    form = ScheduleForm
    list_display = ["title", "status", "rule", "text_preview", "next_run", "runs", "created"]
    list_select_related = ["session", "actor_user", "account"]
    list_filter = ["status", "kind", "session", "account"]
    search_fields = ["=id", "name"]
    search_help_text = "A schedule's name (any part of it) or its id."
    ordering = ["-id"]
    readonly_fields = [
        "id", "account", "session", "actor_user", "status", "status_help", "rule_summary", "upcoming", "next_up",
        "runs", "last_run", "completed", "canceled", "paused", "periodic_task_link", "created", "updated", "buffered",
        "late_run_count", "pause_reason", "pause_source",
    ]
    filter_horizontal = ["groups"]
    inlines = [RunInline, ChangeInline]
    actions = ["cancel", "pause", "resume", "run_now"]

    def get_fieldsets(self, request, obj=None):
        """Only the fields of the schedule's kind; the other kind's behind a closed "switch" section (not when ended)."""
        calendar = obj is not None and obj.kind == Schedule.Kind.CALENDAR
        own, other = (CALENDAR_FIELDS, INTERVAL_FIELDS) if calendar else (INTERVAL_FIELDS, CALENDAR_FIELDS)
        if obj is not None and obj.status in Schedule.ENDED:
            # A read-only page shows the calendar's lists as words ("Fri, Sat"), not as JSON ('["friday"]').
            own = [LIST_WORDS.get(name, name) for name in own]
        fieldsets = [
            (None, {"fields": ["name", "id", "account", "session", "actor_user", "status", "status_help"]}),
            (f"Timing: {'calendar' if calendar else 'interval'} rule (times in your time zone)", {
                "fields": [*TIMING_SHOWN[:2], "kind", *own, TIMING_SHOWN[2]],
            }),
        ]
        if obj is None or obj.status not in Schedule.ENDED:
            switch = "an interval rule (first run + interval)" if calendar else "a calendar rule (days and local times)"
            fieldsets.append((f"Switch to {switch}", {
                "classes": ["collapse"],
                "fields": [name for name in other if name not in own],
                "description": "Set Kind above to the other kind and fill these in; they are ignored otherwise.",
            }))
        return [
            *fieldsets,
            ("Policies", {"fields": POLICY_FIELDS}),
            ("Message", {"fields": MESSAGE_FIELDS}),
            ("Progress", {"fields": PROGRESS_FIELDS}),
        ]

    def has_change_permission(self, request, obj=None):
        # An ended schedule (completed, canceled) cannot change: its page is read-only, with no Save to refuse.
        if obj is not None and obj.status in Schedule.ENDED:
            return False
        return super().has_change_permission(request, obj)

    @admin.display(description="schedule", ordering="name")
    def title(self, schedule):
        return format_html(
            "{}<br><span class=\"quiet nowrap\">{}</span>", named(schedule.name, schedule.id), schedule.session.name
        )

    @admin.display(description="text")
    def text_preview(self, schedule):
        if schedule.text:
            return one_line(schedule.text, TEXT_PREVIEW_CHARS)
        if schedule.variants:
            return f"A/B: {', '.join(v.get('variant_name', '?') for v in schedule.variants)}"
        return f"({len(schedule.media)} image(s), no text)" if schedule.media else "-"

    @admin.display(description="rule")
    def rule(self, schedule):
        return format_html('<span title="{}">{}</span>', rule_full(schedule), rule_short(schedule))

    @admin.display(description="next run", ordering="next_run_at")
    def next_run(self, schedule):
        return moment_cell(schedule.next_run_at)

    @admin.display(description="runs / failed")
    def runs(self, schedule):
        return f"{schedule.run_count} / {schedule.failed_run_count}"

    @admin.display(description="created", ordering="id")
    def created(self, schedule):
        by = schedule.actor_user.username if schedule.actor_user else "the API"
        return format_html("{}<br><span class=\"quiet\">by {}</span>", moment_cell(schedule.created_at), by)

    @admin.display(description="rule in full")
    def rule_summary(self, schedule):
        return rule_full(schedule)

    @admin.display(description="next")
    def next_up(self, schedule):
        return next_up(schedule)

    @admin.display(description="last run at")
    def last_run(self, schedule):
        return moment(schedule.last_run_at)

    @admin.display(description="completed at")
    def completed(self, schedule):
        return moment(schedule.completed_at)

    @admin.display(description="canceled at")
    def canceled(self, schedule):
        return moment(schedule.canceled_at)

    @admin.display(description="paused at")
    def paused(self, schedule):
        return f"{moment(schedule.paused_at)} ({schedule.pause_reason})" if schedule.pause_reason else moment(schedule.paused_at)

    @admin.display(description="updated at")
    def updated(self, schedule):
        return moment(schedule.updated_at)

    @admin.display(description="waiting since")
    def buffered(self, schedule):
        return moment(schedule.buffered_at)

    @admin.display(description="days of week")
    def days_of_week_words(self, schedule):
        return _words(day.capitalize() for day in schedule.days_of_week)

    @admin.display(description="days of month")
    def days_of_month_words(self, schedule):
        return _words(schedule.days_of_month, last=True)

    @admin.display(description="send times")
    def send_times_words(self, schedule):
        return _words(schedule.send_times)

    @admin.display(description="skip dates")
    def skip_dates_words(self, schedule):
        return _words(schedule.skip_dates)

    @admin.display(description="statuses")
    def status_help(self, schedule):
        return STATUS_HELP

    @admin.display(description="PeriodicTask")
    def periodic_task_link(self, schedule):
        if schedule.periodic_task_id is None:
            return "- (deleted; an ended schedule gets no new one)"
        url = reverse("admin:django_celery_beat_periodictask_change", args=[schedule.periodic_task_id])
        return format_html(
            '<a href="{}">{}</a><div class="help">Its django-celery-beat registration: disabling it pauses this '
            "schedule, enabling it resumes it, deleting it cancels it.</div>",
            url, schedule.workflow_id,
        )

    @admin.display(description="next 5 runs")
    def upcoming(self, schedule):
        # From the stored schedule: on a form with errors the instance holds unsaved input.
        occurrences = services.schedule_preview(schedule=Schedule.objects.get(pk=schedule.pk), count=5)
        if not occurrences:
            return "-"
        return format_html_join(", ", "#{} {}", ((k, moment(due, millis=True)) for k, due in occurrences))

    def has_add_permission(self, request):
        return False  # schedules are created through the API (they need an idempotency key)

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what was sent; a schedule is ended by canceling it

    # --- the schedule's page: a timeline and buttons (admin/operations.py) --------------------------------

    def get_urls(self):
        from .dashboard import dashboard_view

        # Before the defaults: their "<path:object_id>/" would take these paths.
        dashboard_page = self.admin_site.admin_view(lambda request: dashboard_view(self, request))
        return [
            path("dashboard/", dashboard_page, name="schedules_dashboard"),
            *self.operation_urls(),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        schedule = self.get_object(request, unquote(object_id))
        if schedule is not None:
            extra_context = {**(extra_context or {}), **self._page_context(schedule)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _page_context(self, schedule: Schedule) -> dict:
        runs = selectors.runs_latest(schedule=schedule, count=TIMELINE_RUNS)
        upcoming = services.schedule_preview(schedule=schedule, count=TIMELINE_UPCOMING)
        total = schedule.run_count
        shown = f"runs #{runs[0].occurrence_number}-#{runs[-1].occurrence_number}" if runs else "no runs yet"
        if runs and len(runs) < total:
            shown += f" (the latest {len(runs)} of {total}; the runs below and the run list have them all)"
        later = f"the next {len(upcoming)} due" if upcoming else "nothing left to come"
        if upcoming and schedule.status == Schedule.Status.PAUSED:
            later += " if it were resumed now"
        # The page's heading: the name, the id beside it (Django's own would be the id alone for an unnamed one).
        named = {"subtitle": f"{schedule.name} ({schedule.id})"} if schedule.name else {}
        return {
            **named,
            "timeline": schedule_timeline_svg(
                runs=runs, upcoming=upcoming, label=f"Occurrences of schedule {schedule.name or schedule.id}"
            ),
            "timeline_caption": f"{shown}; {later}. Hover over a mark for its details; a run's mark opens its send.",
            "operations": [
                (op, reverse("admin:schedules_schedule_operate", args=[schedule.pk, op.key]))
                for op in operations_allowed(schedule)
            ],
        }

    # --- saving ------------------------------------------------------------------------------------------

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
                name=data["name"],
            )
        except ApplicationError as refusal:
            self.message_user(request, f"Not saved: {refusal.message}", messages.ERROR)
            request.schedule_refused = True  # response_change then says nothing of a success

    def response_change(self, request, obj):
        if getattr(request, "schedule_refused", False):
            return HttpResponseRedirect(request.path)  # back to the form, with only the refusal above it
        return super().response_change(request, obj)

    def save_related(self, request, form, formsets, change):
        # Groups were set (and checked) by schedule_update, not by form.save_m2m;
        # the inlines are read-only, saving them writes nothing.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    # --- list actions ------------------------------------------------------------------------------------

    def _each(self, request, queryset, action, verb):
        done, refused = 0, []
        for schedule in queryset:
            try:
                operator.schedule_operate(schedule=schedule, action=action, actor_user=request.user)
                done += 1
            except ApplicationError as refusal:
                refused.append(f"{schedule.name or schedule.id}: {refusal.message}")
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
        self._each(request, queryset, "cancel", "Canceled")

    @admin.action(description="Pause selected schedules")
    def pause(self, request, queryset):
        self._each(request, queryset, "pause", "Paused")

    @admin.action(description="Resume selected schedules (occurrences due meanwhile are skipped)")
    def resume(self, request, queryset):
        self._each(request, queryset, "resume", "Resumed")

    @admin.action(description="Run the next occurrence now")
    def run_now(self, request, queryset):
        started, refused = 0, []
        for schedule in queryset:
            try:
                operator.schedule_operate_run_now(schedule=schedule, actor_user=request.user)
                started += 1
            except ApplicationError as refusal:
                refused.append(f"{schedule.name or schedule.id}: {refusal.message}")
        self.message_user(request, f"Queued the next occurrence of {started} schedule(s).", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)


# django-celery-beat's PeriodicTask admin, honouring operators' changes to schedule mirrors (periodic);
# the dashboard, which also sets the admin index template (dashboard).
# the send list's schedule column (sends).
from . import dashboard, periodic, sends  # noqa: F401

