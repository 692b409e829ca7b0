"""Buttons on a schedule's admin page: cancel, pause, resume, run the next occurrence now, retry a run's failed deliveries.

Each opens a confirmation page saying what will happen; confirming (a POST)
calls one service (schedules.services.operator, audited) and reports back
with message_user on the schedule's page.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.errors import ApplicationError
from outbound.models import Delivery

from .. import services
from ..models import Run, Schedule
from ..services import operator
from .display import continues_at, next_up, rule_full


@dataclass(frozen=True)
class Operation:
    """A button on a schedule's page: a confirmation page, then one service call, reported back."""

    key: str
    label: str  # the button
    question: str  # the confirmation page's title
    explanation: str
    confirm: str  # the confirming submit button
    done: str  # the message after it


OPERATIONS = {
    op.key: op
    for op in (
        Operation(
            "pause", "Pause", "Pause this schedule?",
            "No occurrence starts until it is resumed; one already sending finishes. Occurrences that fall due "
            "meanwhile are recorded as skipped runs, never sent late.",
            "Yes, pause it", "Paused: nothing starts until it is resumed.",
        ),
        Operation(
            "resume", "Resume", "Resume this schedule?",
            "It continues with its next occurrence due after now. Occurrences that fell due while it was paused "
            "are recorded as skipped runs: nothing is sent late, there is no burst.",
            "Yes, resume it", "Resumed: next, {next}.",
        ),
        Operation(
            "run_now", "Run the next occurrence now", "Run the next occurrence now?",
            "The next occurrence is sent now instead of at its due time; the schedule then continues on its rule "
            "with the one after it.",
            "Yes, run it now", "Queued occurrence #{occurrence} to run now.",
        ),
        Operation(
            "cancel", "Cancel", "Cancel this schedule?",
            "It will send nothing more: occurrences already sending finish, no later one starts. "
            "This cannot be undone.",
            "Yes, cancel it", "Canceled: it sends nothing more.",
        ),
    )
}


def operations_allowed(schedule: Schedule) -> list[Operation]:
    """The buttons that make sense for the schedule's status."""
    allowed = []
    if schedule.status in Schedule.ACTIVE:
        allowed.append(OPERATIONS["pause"])
    if schedule.status == Schedule.Status.PAUSED:
        allowed.append(OPERATIONS["resume"])
    if schedule.status in Schedule.ACTIVE and schedule.next_run_at is not None:
        allowed.append(OPERATIONS["run_now"])
    if schedule.status not in Schedule.ENDED:
        allowed.append(OPERATIONS["cancel"])
    return allowed


class ScheduleOperationsMixin:
    """For ScheduleAdmin: the buttons' confirmation pages and what confirming them does."""

    def operation_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/operate/<str:key>/", wrap(self.operate_view), name="schedules_schedule_operate"),
            path(
                "<path:object_id>/runs/<int:occurrence_number>/retry-failed/",
                wrap(self.retry_failed_view),
                name="schedules_schedule_retry_failed",
            ),
        ]

    def _operable(self, request, object_id) -> Schedule:
        schedule = self.get_object(request, unquote(object_id))
        if schedule is None:
            raise Http404("No such schedule.")
        # The model's permission, not the object's: an ended schedule's page is read-only, yet a run's failed
        # deliveries can still be retried, and a button that no longer fits says why it did nothing.
        if not self.has_change_permission(request):
            raise PermissionDenied
        return schedule

    def _confirmation(self, request, schedule, **context):
        if schedule.status == Schedule.Status.PAUSED:
            next_text = f"if resumed now, {continues_at(services.schedule_preview(schedule=schedule, count=1))}"
        else:
            next_text = next_up(schedule)
        return TemplateResponse(
            request,
            "admin/schedules/schedule/operate_confirmation.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "schedule": schedule,
                "next_text": next_text,
                "rule_text": rule_full(schedule),
                "change_url": reverse("admin:schedules_schedule_change", args=[schedule.pk]),
                **context,
            },
        )

    def operate_view(self, request, object_id, key):
        """GET: what the operation will do, and a form to confirm it. POST (confirmed): do it, say how it went."""
        schedule = self._operable(request, object_id)
        operation = OPERATIONS.get(key)
        if operation is None:
            raise Http404("No such operation.")
        change_url = reverse("admin:schedules_schedule_change", args=[schedule.pk])
        if request.method != "POST" or request.POST.get("confirmed") != "yes":
            return self._confirmation(request, schedule, title=operation.question, operation=operation)
        try:
            if key == "run_now":
                occurrence = operator.schedule_operate_run_now(schedule=schedule, actor_user=request.user)
                self.message_user(request, operation.done.format(occurrence=occurrence), messages.SUCCESS)
            else:
                after = operator.schedule_operate(schedule=schedule, action=key, actor_user=request.user)
                if after.status != schedule.status:
                    self.message_user(request, operation.done.format(next=next_up(after)), messages.SUCCESS)
                else:
                    self.message_user(request, f"Nothing to do: it was already {schedule.status}.", messages.INFO)
        except ApplicationError as refusal:
            self.message_user(request, f"Not done: {refusal.message}", messages.ERROR)
        return HttpResponseRedirect(change_url)

    def retry_failed_view(self, request, object_id, occurrence_number):
        """GET: the run and how many deliveries would go again. POST (confirmed): queue them (once per run)."""
        schedule = self._operable(request, object_id)
        run = Run.objects.filter(schedule=schedule, occurrence_number=occurrence_number).first()
        if run is None:
            raise Http404("No such run.")
        change_url = reverse("admin:schedules_schedule_change", args=[schedule.pk])
        if request.method != "POST" or request.POST.get("confirmed") != "yes":
            failed = Delivery.objects.filter(send_id=run.send_id, status__in=Delivery.UNSUCCESSFUL).count()
            operation = Operation(
                "retry_failed", "Retry failed deliveries", f"Retry the failed deliveries of run #{run.occurrence_number}?",
                f"Its {failed} failed or expired deliveries are queued again with fresh attempts. Each first asks the "
                "gateway whether its message arrived after all, so none is sent twice. A run can be retried once.",
                f"Yes, send the {failed} failed deliveries again", "",
            )
            return self._confirmation(request, schedule, title=operation.question, operation=operation, run=run)
        try:
            retried = operator.run_operate_retry_failed(
                schedule=schedule, occurrence_number=occurrence_number, actor_user=request.user
            )
            if retried:
                message, level = f"Queued {retried} failed deliveries of run #{occurrence_number} again.", messages.SUCCESS
            else:
                message, level = f"Run #{occurrence_number} was already retried: nothing queued.", messages.INFO
            self.message_user(request, message, level)
        except ApplicationError as refusal:
            self.message_user(request, f"Not retried: {refusal.message}", messages.ERROR)
        return HttpResponseRedirect(change_url)
