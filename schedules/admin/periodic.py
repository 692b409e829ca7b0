"""django-celery-beat's PeriodicTask admin, with what operators do to a schedule's mirror applied to the schedule.

Each schedule has a PeriodicTask (schedules.registration), which operators
see in django-celery-beat's admin as its registration. Beat fires schedules
from Schedule.next_run_at, not from that row, so a change to the row alone
did nothing (the next sync undid it). Here, for mirror rows only:

- disabling it (its form or the enable/disable/toggle actions) pauses the
  schedule, enabling it resumes it;
- deleting it cancels the schedule (and the mirror goes);
- "Run selected tasks" runs the schedule's next occurrence now;
- its other fields are read-only (they are edited on the schedule).

Each goes through a schedules service, audited as a ScheduleChange with
source "periodic_task". Those services end by rewriting the mirror from the
schedule with queryset.update() (periodic_task_sync), which sends no signal
and calls nothing here, so there is no loop: the mirror ends up showing the
schedule's state (disabled while paused or ended). The form's own object is
never saved for a mirror, so its stale copy of the row cannot overwrite that.

Every other PeriodicTask (the sweeper, the purges, any an operator adds)
behaves exactly as in django-celery-beat's own admin.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.admin import PeriodicTaskForm
from django_celery_beat.models import PeriodicTask

from core.admin_console import ConsoleAdmin
from core.admin_format import dates_unbroken, moment
from core.errors import ApplicationError

from ..models import Schedule
from ..registration import FIRE_TASK
from ..services import operator
from .display import next_up


def mirrored_schedule(task: PeriodicTask | None) -> Schedule | None:
    """The schedule whose mirror `task` is; None for any other PeriodicTask (and a new one)."""
    if task is None or task.pk is None or task.task != FIRE_TASK:
        return None
    try:
        return task.outbound_schedule  # select_related by the list's queryset
    except ObjectDoesNotExist:
        return None


class MirrorForm(forms.ModelForm):
    """A mirror's form: only `enabled` is the operator's to change (it pauses or resumes the schedule)."""

    class Meta:
        model = PeriodicTask
        fields = ["enabled"]
        help_texts = {
            "enabled": "Untick to pause the schedule, tick to resume it (occurrences due while paused are skipped).",
        }


class TaskForm(PeriodicTaskForm):
    """Any other PeriodicTask's form: django-celery-beat's, except that it cannot be a schedule's fire task.

    Beat fires schedules from Schedule.next_run_at and skips every row of
    that task (schedules.beat), so a hand-made one would never run.
    """

    def clean(self):
        data = super().clean()
        if data.get("task") == FIRE_TASK:
            raise forms.ValidationError(
                f"{FIRE_TASK} runs outbound schedules: make a schedule through the API (POST /v2/outbound/sends "
                "with a schedule) instead; a task of it made here would never run."
            )
        return data


MIRROR_FIELDSETS = [
    (None, {"fields": ["name", "outbound_schedule_link", "enabled", "description"]}),
    ("Schedule (follows the outbound schedule)", {"fields": ["clocked_at", "one_off", "last_run", "total_run_count"]}),
    ("Arguments", {"fields": ["task", "kwargs"]}),
]
MIRROR_READONLY = ["name", "outbound_schedule_link", "description", "clocked_at", "one_off", "last_run",
                   "total_run_count", "task", "kwargs"]


def _title(schedule: Schedule) -> str:
    return f"“{schedule.name}”" if schedule.name else str(schedule.id)


if admin.site.is_registered(PeriodicTask):  # django_celery_beat's own (its admin module is imported first)
    admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(BeatPeriodicTaskAdmin, ConsoleAdmin):
    # A mirror is named by its schedule (its own name is outbound:text-send-schedule:<id>); the rest as beat's.
    list_display = ("title", "enabled", "when", "last_run", "one_off", "outbound_schedule_link")
    search_fields = ("name", "task", "outbound_schedule__name")
    change_form_template = "admin/schedules/periodictask_change_form.html"
    delete_confirmation_template = "admin/schedules/periodictask_delete_confirmation.html"
    delete_selected_confirmation_template = "admin/schedules/periodictask_delete_selected_confirmation.html"

    def get_queryset(self, request):
        # The list's schedule column and mirrored_schedule() read the schedule from the same query.
        return super().get_queryset(request).select_related("outbound_schedule")

    @admin.display(description="task", ordering="name")
    def title(self, task):
        schedule = mirrored_schedule(task)
        if schedule is None:
            return task.name
        return format_html('{}<br><span class="quiet">schedule {}</span>', schedule.name or task.name, str(schedule.id)[:8])

    @admin.display(description="next run")
    def when(self, task):
        schedule = mirrored_schedule(task)
        if schedule is not None:
            return dates_unbroken(next_up(schedule))
        return str(task.scheduler) if task.scheduler is not None else "-"

    @admin.display(description="fires at")
    def clocked_at(self, task):
        return moment(task.clocked.clocked_time) if task.clocked_id else "-"

    @admin.display(description="last run at", ordering="last_run_at")
    def last_run(self, task):
        return moment(task.last_run_at)

    @admin.display(description="schedule status")
    def outbound_schedule_link(self, task):
        schedule = mirrored_schedule(task)
        if schedule is None:
            return "-"
        url = reverse("admin:schedules_schedule_change", args=[schedule.pk])
        return format_html('<a href="{}">{}</a>', url, schedule.status)  # its name is the row's title

    # --- a mirror's page --------------------------------------------------------------------------------

    def get_fieldsets(self, request, obj=None):
        return MIRROR_FIELDSETS if mirrored_schedule(obj) else super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return MIRROR_READONLY if mirrored_schedule(obj) else super().get_readonly_fields(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = MirrorForm if mirrored_schedule(obj) else TaskForm
        return super().get_form(request, obj, change=change, **kwargs)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        task = self.get_object(request, unquote(object_id)) if object_id else None
        schedule = mirrored_schedule(task)
        if schedule is not None:
            # Named by its schedule, not by its own name and clocked time (outbound:text-send-schedule:<id>: <time>).
            title = f"Task of schedule “{schedule.name}”" if schedule.name else f"Task of schedule {schedule.id}"
            extra_context = {**(extra_context or {}), "outbound_schedule": schedule, "subtitle": title, "mirror_title": title}
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        schedule = mirrored_schedule(obj) if change else None
        if schedule is None:
            return super().save_model(request, obj, form, change)
        if "enabled" in form.changed_data:
            self._enabled_set(request, schedule, enabled=obj.enabled)
        # Nothing else to save: the mirror is rewritten from the schedule (and the form's copy is stale).

    def response_change(self, request, obj):
        if mirrored_schedule(obj) is None:
            return super().response_change(request, obj)
        # _enabled_set said what happened (or why nothing did): no "changed successfully" beside it.
        if "_continue" in request.POST:
            return HttpResponseRedirect(request.path)
        return HttpResponseRedirect(reverse("admin:django_celery_beat_periodictask_changelist"))

    def delete_view(self, request, object_id, extra_context=None):
        schedule = mirrored_schedule(self.get_object(request, unquote(object_id)))
        if schedule is not None:
            extra_context = {**(extra_context or {}), "outbound_schedule": schedule}
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        schedule = mirrored_schedule(obj)
        if schedule is None:
            return super().delete_model(request, obj)
        self._delete(request, schedule)

    # --- the list's actions -----------------------------------------------------------------------------

    def _split(self, queryset):
        """(the mirrors' schedules with their tasks, the other PeriodicTasks as a queryset)."""
        mirrors = [(task, schedule) for task in queryset.filter(task=FIRE_TASK) if (schedule := mirrored_schedule(task))]
        return mirrors, queryset.exclude(pk__in=[task.pk for task, _ in mirrors])

    def delete_queryset(self, request, queryset):
        mirrors, others = self._split(queryset)
        for _, schedule in mirrors:
            self._delete(request, schedule)
        if others.exists():
            super().delete_queryset(request, others)

    def _set_each(self, request, queryset, target, action_name):
        """Enable/disable/toggle: mirrors through their schedule; the others as django-celery-beat does."""
        mirrors, others = self._split(queryset)
        for task, schedule in mirrors:
            enabled = target(task)
            if enabled != task.enabled:
                self._enabled_set(request, schedule, enabled=enabled)
        if others.exists():
            getattr(super(), action_name)(request, others)

    @admin.action(description="Enable selected tasks (resumes their outbound schedules)")
    def enable_tasks(self, request, queryset):
        self._set_each(request, queryset, lambda task: True, "enable_tasks")

    @admin.action(description="Disable selected tasks (pauses their outbound schedules)")
    def disable_tasks(self, request, queryset):
        self._set_each(request, queryset, lambda task: False, "disable_tasks")

    @admin.action(description="Toggle activity of selected tasks (pauses or resumes their outbound schedules)")
    def toggle_tasks(self, request, queryset):
        self._set_each(request, queryset, lambda task: not task.enabled, "toggle_tasks")

    @admin.action(description="Run selected tasks (an outbound schedule runs its next occurrence now)")
    def run_tasks(self, request, queryset):
        mirrors, others = self._split(queryset)
        for _, schedule in mirrors:
            try:
                k = operator.periodic_task_run(schedule=schedule, actor_user=request.user)
                self.message_user(request, f"Schedule {_title(schedule)}: occurrence #{k} queued to run now.", messages.SUCCESS)
            except ApplicationError as refusal:
                self.message_user(request, f"Schedule {_title(schedule)}: not run. {refusal.message}", messages.WARNING)
        if others.exists():
            super().run_tasks(request, others)

    # --- what a change to a mirror does -----------------------------------------------------------------

    def _enabled_set(self, request, schedule, *, enabled: bool) -> None:
        verb = "resumed" if enabled else "paused"
        try:
            after = operator.periodic_task_enabled_set(schedule=schedule, enabled=enabled, actor_user=request.user)
        except ApplicationError as refusal:
            self.message_user(
                request, f"Schedule {_title(schedule)} was not {verb}: {refusal.message} Its task stays disabled.",
                messages.ERROR,
            )
            return
        if enabled and after.status not in Schedule.ACTIVE:
            message = f"Schedule {_title(schedule)} was not resumed: it is {after.status}, so its task stays disabled."
            self.message_user(request, message, messages.WARNING)
        elif enabled:
            self.message_user(request, f"Schedule {_title(schedule)} resumed: next, {next_up(after)}.", messages.SUCCESS)
        else:
            message = f"Schedule {_title(schedule)} paused: nothing starts until its task is enabled again."
            self.message_user(request, message, messages.SUCCESS)

    def _delete(self, request, schedule) -> None:
        before = schedule.status
        after = operator.periodic_task_delete(schedule=schedule, actor_user=request.user)
        if after.status != before:
            message = f"Schedule {_title(schedule)} canceled: it sends nothing more."
        else:
            message = f"Schedule {_title(schedule)} had already ended ({after.status}); only its task was deleted."
        self.message_user(request, message, messages.SUCCESS)
