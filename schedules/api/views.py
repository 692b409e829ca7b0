"""The schedule resource under /v2/outbound/schedules."""

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import Cursor
from rest_framework.response import Response
from rest_framework.views import APIView

from core import scopes
from core.api.pagination import NewestFirstPagination, StrictCursorPagination, paginated_response
from core.errors import ApplicationError
from core.time import from_ms, to_ms
from schedules import selectors, services
from schedules.models import Run, Schedule

from . import schema  # noqa: F401  (registers the `schedule` field's schema)
from .inputs import BackfillInput, ScheduleRuleInput, ScheduleUpdateInput
from .outputs import (
    BackfillOutput,
    PreviewOutput,
    RunDetailOutput,
    RunOutput,
    ScheduleDetailOutput,
    ScheduleOutput,
    preview_body,
)

MAX_PREVIEW = 100
# Runs the schedule detail holds (the last occurrences); all of them are paged at .../runs.
LATEST_RUNS = 100


class RunHistoryPagination(StrictCursorPagination):
    """A schedule's runs, newest occurrence first: the first page is the detail's runs, `next` goes back in time.

    Cursors are occurrence numbers (unique per schedule, served by the index
    of run_unique_occurrence), so a page stays put while new runs are added.
    """

    ordering = "-occurrence_number"
    page_size = LATEST_RUNS
    max_page_size = 500

    def url_after(self, page_url: str, occurrence_number: int) -> str:
        """`page_url` with the cursor of the page that follows a page ending at `occurrence_number`, as `next` gives it."""
        self.base_url = page_url
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=str(occurrence_number)))


def _schedule_or_404(request, schedule_id) -> Schedule:
    schedule = selectors.schedule_get(account=request.user.account, schedule_id=schedule_id)
    if schedule is None:
        raise ApplicationError("not_found", "No such schedule.", http_status=404)
    return schedule


def _older_runs_url(request, schedule: Schedule) -> str | None:
    """The runs list's page of the runs before the detail's latest ones; None when the detail holds them all."""
    if not schedule.latest_runs or schedule.runs_total <= len(schedule.latest_runs):
        return None
    page_url = request.build_absolute_uri(reverse("schedule-runs", args=[schedule.id]))
    return RunHistoryPagination().url_after(page_url, schedule.latest_runs[0].occurrence_number)


def _detail_response(request, schedule_id) -> Response:
    schedule = selectors.schedule_get_with_latest_runs(
        account=request.user.account, schedule_id=schedule_id, count=LATEST_RUNS
    )
    if schedule is None:
        raise ApplicationError("not_found", "No such schedule.", http_status=404)
    return Response(ScheduleDetailOutput(schedule, context={"runs_next": _older_runs_url(request, schedule)}).data)


def _detail(request, schedule: Schedule) -> Response:
    return _detail_response(request, schedule.id)


class ScheduleListView(APIView):
    pagination_class = NewestFirstPagination

    class FilterInput(serializers.Serializer):
        status = serializers.ChoiceField(choices=Schedule.Status.choices, required=False)
        session_id = serializers.UUIDField(required=False)

    @extend_schema(
        operation_id="outbound_schedules_list",
        summary="Scheduled sends, newest first",
        parameters=[FilterInput],
        responses=ScheduleOutput(many=True),
    )
    def get(self, request):
        filters = self.FilterInput(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        schedules = selectors.schedule_list(account=request.user.account, **filters.validated_data)
        return paginated_response(self, schedules, ScheduleOutput)


class ScheduleDetailView(APIView):
    write_scope = scopes.SCHEDULES_WRITE
    refusals = {
        "PATCH": {
            409: ["schedule_not_editable (completed or canceled)"],
            422: ["group_not_found", "group_not_in_session", "max_occurrences_below_runs", "next_run_in_past"],
        }
    }

    @extend_schema(
        operation_id="outbound_schedules_retrieve",
        summary="Scheduled outbound WhatsApp send detail",
        responses=ScheduleDetailOutput,
    )
    def get(self, request, schedule_id):
        return _detail_response(request, schedule_id)

    @extend_schema(
        operation_id="outbound_schedules_update",
        summary="Change text, media, groups, variants, cap or timing of occurrences not yet started (audited)",
        request=ScheduleUpdateInput,
        responses=ScheduleDetailOutput,
    )
    def patch(self, request, schedule_id):
        schedule = _schedule_or_404(request, schedule_id)
        changes = ScheduleUpdateInput(data=request.data, context={"schedule": schedule})
        changes.is_valid(raise_exception=True)
        params = dict(changes.validated_data)
        if "media" in params:
            params["media"] = [dict(m) for m in params["media"]]
        schedule = services.schedule_update(
            schedule=schedule,
            actor_user=request.user.user,
            source="api",
            timing=params.pop("schedule", None),
            group_ids=params.pop("group_ids", None),
            **params,
        )
        return _detail(request, schedule)


class _ScheduleAction(APIView):
    service = None  # the schedules service the POST runs
    write_scope = scopes.SCHEDULES_WRITE
    refusals = {"POST": {409: ["schedule_already_completed", "schedule_canceled"]}}

    def post(self, request, schedule_id):
        return _detail(request, self.service(schedule=_schedule_or_404(request, schedule_id)))


class ScheduleCancelView(_ScheduleAction):
    service = staticmethod(services.schedule_cancel)

    @extend_schema(operation_id="outbound_schedules_cancel", summary="Cancel: no further occurrence sends", request=None, responses=ScheduleDetailOutput)
    def post(self, request, schedule_id):
        return super().post(request, schedule_id)


class SchedulePauseView(_ScheduleAction):
    service = staticmethod(services.schedule_pause)

    @extend_schema(operation_id="outbound_schedules_pause", summary="Pause: no occurrence starts until resumed", request=None, responses=ScheduleDetailOutput)
    def post(self, request, schedule_id):
        return super().post(request, schedule_id)


class ScheduleResumeView(_ScheduleAction):
    service = staticmethod(services.schedule_resume)

    @extend_schema(
        operation_id="outbound_schedules_resume",
        summary="Resume: occurrences due while paused are recorded as skipped; continue with the next future one",
        request=None,
        responses=ScheduleDetailOutput,
    )
    def post(self, request, schedule_id):
        return super().post(request, schedule_id)


class CountInput(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=MAX_PREVIEW, default=10, help_text="How many, 1-100.")


class SchedulePreviewView(APIView):
    @extend_schema(
        operation_id="outbound_schedules_preview",
        summary="The next N due times of a schedule, exactly as they will fire",
        parameters=[CountInput],
        responses=PreviewOutput,
    )
    def get(self, request, schedule_id):
        schedule = _schedule_or_404(request, schedule_id)
        count = CountInput(data=request.query_params.dict())
        count.is_valid(raise_exception=True)
        occurrences = services.schedule_preview_fires(schedule=schedule, count=count.validated_data["count"])
        return Response(preview_body(schedule, occurrences))


class DraftPreviewView(APIView):
    write_scope = scopes.READ  # a POST that only computes

    @extend_schema(
        operation_id="outbound_schedules_preview_draft",
        summary="The first N due times of a draft `schedule` object, before creating it",
        request=ScheduleRuleInput,
        parameters=[CountInput],
        responses=PreviewOutput,
    )
    def post(self, request):
        count = CountInput(data=request.query_params.dict())
        count.is_valid(raise_exception=True)
        rule = ScheduleRuleInput(data=request.data)
        rule.is_valid(raise_exception=True)
        draft = Schedule(**rule.validated_data)
        occurrences = services.schedule_preview_fires(schedule=draft, count=count.validated_data["count"])
        return Response(preview_body(draft, occurrences))


class ScheduleBackfillView(APIView):
    write_scope = scopes.SCHEDULES_WRITE
    refusals = {"POST": {409: ["schedule_canceled"], 422: ["too_many_occurrences (more than 100 never ran in the range)"]}}

    @extend_schema(
        operation_id="outbound_schedules_backfill",
        summary="Run, once each and in order, the occurrences due in a past range that never ran (skipped, missed, before the first)",
        request=BackfillInput,
        responses={202: BackfillOutput},
    )
    def post(self, request, schedule_id):
        schedule = _schedule_or_404(request, schedule_id)
        body = BackfillInput(data=request.data)
        body.is_valid(raise_exception=True)
        start, end = body.validated_data["from_ms"], body.validated_data["to_ms"]
        occurrences = services.schedule_backfill(
            schedule=schedule, start=from_ms(start), end=from_ms(end), actor_user=request.user.user, source="api"
        )
        answer = {"schedule_id": schedule.id, "from_ms": start, "to_ms": min(end, to_ms(timezone.now())), "occurrences": occurrences}
        return Response(BackfillOutput(answer).data, status=202)


class RunListView(APIView):
    pagination_class = RunHistoryPagination

    class FilterInput(serializers.Serializer):
        status = serializers.ChoiceField(choices=Run.Status.choices, required=False)

    @extend_schema(
        operation_id="outbound_schedule_runs_list",
        summary="Every run of a schedule, newest occurrence first",
        parameters=[FilterInput],
        responses=RunOutput(many=True),
    )
    def get(self, request, schedule_id):
        schedule = _schedule_or_404(request, schedule_id)
        filters = self.FilterInput(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return paginated_response(self, selectors.run_list(schedule=schedule, **filters.validated_data), RunOutput)


class RunDetailView(APIView):
    @extend_schema(
        operation_id="outbound_schedule_runs_retrieve",
        summary="One run: its outcome and what each group got (variant, status, reason)",
        responses=RunDetailOutput,
    )
    def get(self, request, schedule_id, occurrence_number):
        schedule = _schedule_or_404(request, schedule_id)
        run = Run.objects.filter(schedule=schedule, occurrence_number=occurrence_number).select_related("send").first()
        if run is None:
            raise ApplicationError("not_found", "No such run.", http_status=404)
        return Response(RunDetailOutput(run).data)


class RunRetryFailedView(APIView):
    write_scope = scopes.SCHEDULES_WRITE
    refusals = {"POST": {409: ["run_has_no_deliveries", "run_in_progress", "nothing_to_retry"]}}

    @extend_schema(
        operation_id="outbound_schedule_runs_retry_failed",
        summary="Re-send only the failed deliveries of a run (once; repeating it changes nothing)",
        request=None,
        responses=RunDetailOutput,
    )
    def post(self, request, schedule_id, occurrence_number):
        schedule = _schedule_or_404(request, schedule_id)
        run, retried = services.run_retry_failed(schedule=schedule, occurrence_number=occurrence_number)
        return Response({**RunDetailOutput(run).data, "retried_deliveries": retried})
