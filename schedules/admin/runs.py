"""Runs in the admin: the schedule page's runs inline (latest 100) and the run list, each named by its schedule."""

import uuid

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from core.admin_console import ConsoleAdmin
from core.admin_format import moment, moment_cell, named

from ..models import Run

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
    fields = ["occurrence_number", "status", "due", "started", "failed", "error_code", "error_message", "deliveries", "retry"]
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

    @admin.display(description="due at")
    def due(self, run):
        return moment_cell(run.due_at, millis=True)

    @admin.display(description="started at")
    def started(self, run):
        return moment_cell(run.started_at)

    @admin.display(description="failed at")
    def failed(self, run):
        return moment_cell(run.failed_at)

    @admin.display(description="deliveries")
    def deliveries(self, run):
        if not run.send_id:
            return "-"
        url = reverse("admin:outbound_send_change", args=[run.send_id])
        return format_html('<a href="{}">send {}</a>', url, str(run.send_id)[:8])

    @admin.display(description="failed deliveries")
    def retry(self, run):
        if run.retried_at:
            return f"retried {moment(run.retried_at)}"
        if run.status != Run.Status.FAILED or not run.send_id:
            return "-"  # nothing was sent (missed, skipped, could not start) or nothing failed
        url = reverse("admin:schedules_schedule_retry_failed", args=[run.schedule_id, run.occurrence_number])
        return format_html('<a href="{}">Retry failed deliveries…</a>', url)


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
class RunAdmin(ConsoleAdmin):
    list_display = ["schedule_title", "occurrence_number", "status", "due", "started", "error_code", "send_link"]
    list_display_links = ["occurrence_number"]  # the schedule column links to the schedule
    list_select_related = ["schedule"]
    list_filter = [RunScheduleFilter, "status", "error_code", "trigger"]
    search_fields = ["=schedule__id", "schedule__name"]
    readonly_fields = [f.name for f in Run._meta.fields]

    @admin.display(description="schedule", ordering="schedule__name")
    def schedule_title(self, run):
        url = reverse("admin:schedules_schedule_change", args=[run.schedule_id])
        return named(run.schedule.name, run.schedule_id, url=url)

    @admin.display(description="due at", ordering="due_at")
    def due(self, run):
        return moment_cell(run.due_at, millis=True)

    @admin.display(description="started at", ordering="started_at")
    def started(self, run):
        return moment_cell(run.started_at)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, unquote(object_id))
        if run is not None and run.schedule.name:  # "Weekly digest #3", not "<schedule id> #3"
            extra_context = {**(extra_context or {}), "subtitle": f"{run.schedule.name} #{run.occurrence_number}"}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="send")
    def send_link(self, run):
        if not run.send_id:
            return "-"
        return named("deliveries", run.send_id, url=reverse("admin:outbound_send_change", args=[run.send_id]))

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a run is the record of an occurrence: what was sent, or why not
