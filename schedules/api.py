"""The schedule resource: GET /v2/outbound/schedules[/{id}], POST .../{id}/cancel,
and the `schedule` object of POST /v2/outbound/sends.

Bodies follow seeds/watchcollect-get-schedule.txt and watchcollect-post-sends.txt.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from outbound.api.outputs import MillisecondsField, TextDigestMixin, UUIDStringField
from outbound.api.pagination import NewestFirstPagination
from outbound.errors import OutboundError
from outbound.timefmt import from_ms, to_ms

from . import selectors, services
from .models import Run, Schedule


class ScheduleRuleInput(serializers.Serializer):
    """The `schedule` object of a send request."""

    first_run_at_ms = serializers.IntegerField(help_text="Due time of the first occurrence, ms since the epoch.")
    interval_ms = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_occurrences = serializers.IntegerField(required=False, default=1, min_value=1, max_value=10000)

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {name: [serializers.ErrorDetail("Unknown field.", code="unknown_field")] for name in unknown}
            )
        return super().to_internal_value(data)

    def validate_first_run_at_ms(self, value):
        now_ms = to_ms(timezone.now())
        if value < now_ms - settings.SCHEDULE_CLOCK_SKEW_MS:
            raise serializers.ValidationError("The first run is in the past.", code="first_run_in_past")
        horizon_ms = settings.SCHEDULE_HORIZON_DAYS * 86_400_000
        if value > now_ms + horizon_ms:
            raise serializers.ValidationError(
                f"The first run is more than {settings.SCHEDULE_HORIZON_DAYS} days ahead.",
                code="first_run_beyond_horizon",
            )
        return value

    def validate_interval_ms(self, value):
        if value is not None and value < settings.SCHEDULE_MIN_INTERVAL_MS:
            raise serializers.ValidationError(
                f"The interval must be at least {settings.SCHEDULE_MIN_INTERVAL_MS} ms.", code="interval_too_short"
            )
        return value

    def validate(self, attrs):
        interval = attrs.get("interval_ms")
        if attrs["max_occurrences"] > 1 and interval is None:
            raise serializers.ValidationError(
                {"interval_ms": [serializers.ErrorDetail("Required when max_occurrences > 1.", code="interval_required")]}
            )
        try:
            # The last occurrence must be a representable date.
            from_ms(attrs["first_run_at_ms"]) + timedelta(milliseconds=(attrs["max_occurrences"] - 1) * (interval or 0))
        except OverflowError:
            raise serializers.ValidationError(
                {"max_occurrences": [serializers.ErrorDetail("The last occurrence is too far ahead.", code="schedule_too_long")]}
            )
        return attrs


class ScheduledSendHandler:
    """Plugged into POST /v2/outbound/sends (see outbound.scheduling)."""

    def validate(self, raw: dict) -> dict:
        rule = ScheduleRuleInput(data=raw)
        rule.is_valid(raise_exception=True)
        return dict(rule.validated_data)

    def create(self, *, targets, text, media, actor_user, request_id, rule) -> dict:
        schedule = services.schedule_create(
            targets=targets,
            text=text,
            media=media,
            actor_user=actor_user,
            first_run_at=from_ms(rule["first_run_at_ms"]),
            interval_ms=rule.get("interval_ms"),
            max_occurrences=rule["max_occurrences"],
            request_id=request_id,
        )
        return {
            "status": "accepted",
            "schedule_id": str(schedule.id),
            "workflow_id": schedule.workflow_id,
            "next_run_at_ms": to_ms(schedule.next_run_at),
            "interval_ms": schedule.interval_ms,
            "max_occurrences": schedule.max_occurrences,
        }


class RunOutput(serializers.Serializer):
    occurrence_number = serializers.IntegerField()
    updated_at_ms = MillisecondsField(source="updated_at")
    send_id = UUIDStringField()
    error_code = serializers.SerializerMethodField()
    error_message = serializers.SerializerMethodField()
    started_at_ms = MillisecondsField(source="started_at")
    failed_at_ms = MillisecondsField(source="failed_at")
    status = serializers.ChoiceField(choices=Run.Status.choices)
    due_at_ms = MillisecondsField(source="due_at")
    completed_at_ms = MillisecondsField(source="completed_at")

    def get_error_code(self, run) -> str | None:
        return run.error_code or None

    def get_error_message(self, run) -> str | None:
        return run.error_message or None


class ScheduleOutput(TextDigestMixin):
    """seeds/watchcollect-get-schedule.txt, plus workflow_id."""

    id = UUIDStringField()
    actor_user_id = serializers.SerializerMethodField()
    session_id = UUIDStringField()
    session_name = serializers.CharField(source="session.name")
    session_label = serializers.CharField(source="session.label")
    group_ids = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=Schedule.Status.choices)
    first_run_at_ms = MillisecondsField(source="first_run_at")
    max_occurrences = serializers.IntegerField()
    run_count = serializers.IntegerField()
    failed_run_count = serializers.IntegerField()
    updated_at_ms = MillisecondsField(source="updated_at")
    next_run_at_ms = MillisecondsField(source="next_run_at")
    interval_ms = serializers.IntegerField(allow_null=True)
    last_run_at_ms = MillisecondsField(source="last_run_at")
    completed_at_ms = MillisecondsField(source="completed_at")
    canceled_at_ms = MillisecondsField(source="canceled_at")
    workflow_id = serializers.CharField()

    def get_actor_user_id(self, schedule) -> str:
        return str(schedule.actor_user_id) if schedule.actor_user_id else ""

    def get_group_ids(self, schedule) -> list[str]:
        return sorted(str(g.id) for g in schedule.groups.all())


class ScheduleDetailOutput(ScheduleOutput):
    runs = RunOutput(source="runs.all", many=True)


def _schedule_or_404(request, schedule_id) -> Schedule:
    schedule = selectors.schedule_get(account=request.user.account, schedule_id=schedule_id)
    if schedule is None:
        raise OutboundError("not_found", "No such schedule.", http_status=404)
    return schedule


class ScheduleListView(APIView):
    class FilterInput(serializers.Serializer):
        status = serializers.ChoiceField(choices=Schedule.Status.choices, required=False)
        session_id = serializers.UUIDField(required=False)

    @extend_schema(
        operation_id="outbound_schedules_list",
        summary="Scheduled sends, newest first",
        parameters=[
            OpenApiParameter("status", str, enum=Schedule.Status.values),
            OpenApiParameter("session_id", str),
            OpenApiParameter("cursor", str),
            OpenApiParameter("limit", int),
        ],
        responses=ScheduleOutput(many=True),
    )
    def get(self, request):
        filters = self.FilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        schedules = selectors.schedule_list(account=request.user.account, **filters.validated_data)
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(schedules, request, view=self)
        return paginator.get_paginated_response(ScheduleOutput(page, many=True).data)


class ScheduleDetailView(APIView):
    @extend_schema(
        operation_id="outbound_schedules_retrieve",
        summary="Scheduled outbound WhatsApp send detail",
        responses=ScheduleDetailOutput,
    )
    def get(self, request, schedule_id):
        return Response(ScheduleDetailOutput(_schedule_or_404(request, schedule_id)).data)


class ScheduleCancelView(APIView):
    @extend_schema(
        operation_id="outbound_schedules_cancel",
        summary="Cancel a schedule: no further occurrence sends",
        request=None,
        responses=ScheduleDetailOutput,
    )
    def post(self, request, schedule_id):
        schedule = services.schedule_cancel(schedule=_schedule_or_404(request, schedule_id))
        schedule = selectors.schedule_get(account=request.user.account, schedule_id=schedule.id)
        return Response(ScheduleDetailOutput(schedule).data)
