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

from outbound.api.outputs import text_digest
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


def run_item(run: Run) -> dict:
    return {
        "occurrence_number": run.occurrence_number,
        "updated_at_ms": to_ms(run.updated_at),
        "send_id": str(run.send_id) if run.send_id else None,
        "error_code": run.error_code or None,
        "error_message": run.error_message or None,
        "started_at_ms": to_ms(run.started_at),
        "failed_at_ms": to_ms(run.failed_at),
        "status": run.status,
        "due_at_ms": to_ms(run.due_at),
        "completed_at_ms": to_ms(run.completed_at),
    }


def schedule_detail(schedule: Schedule, *, with_runs: bool = True) -> dict:
    body = {
        "id": str(schedule.id),
        "actor_user_id": str(schedule.actor_user_id) if schedule.actor_user_id else "",
        "session_id": str(schedule.session_id),
        "session_name": schedule.session.name,
        "session_label": schedule.session.label,
        "group_ids": sorted(str(g.id) for g in schedule.groups.all()),
        **text_digest(schedule.text),
        "media_count": len(schedule.media),
        "status": schedule.status,
        "first_run_at_ms": to_ms(schedule.first_run_at),
        "max_occurrences": schedule.max_occurrences,
        "run_count": schedule.run_count,
        "failed_run_count": schedule.failed_run_count,
        "updated_at_ms": to_ms(schedule.updated_at),
        "next_run_at_ms": to_ms(schedule.next_run_at),
        "interval_ms": schedule.interval_ms,
        "last_run_at_ms": to_ms(schedule.last_run_at),
        "completed_at_ms": to_ms(schedule.completed_at),
        "canceled_at_ms": to_ms(schedule.canceled_at),
        "workflow_id": schedule.workflow_id,
    }
    if with_runs:
        body["runs"] = [run_item(run) for run in schedule.runs.all()]
    return body


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
    )
    def get(self, request):
        filters = self.FilterInput(data=request.query_params)
        filters.is_valid(raise_exception=True)
        schedules = selectors.schedule_list(account=request.user.account, **filters.validated_data)
        paginator = NewestFirstPagination()
        page = paginator.paginate_queryset(schedules, request, view=self)
        return paginator.get_paginated_response([schedule_detail(s, with_runs=False) for s in page])


class ScheduleDetailView(APIView):
    @extend_schema(operation_id="outbound_schedules_retrieve", summary="Scheduled outbound WhatsApp send detail")
    def get(self, request, schedule_id):
        return Response(schedule_detail(_schedule_or_404(request, schedule_id)))


class ScheduleCancelView(APIView):
    @extend_schema(
        operation_id="outbound_schedules_cancel",
        summary="Cancel a schedule: no further occurrence sends",
        request=None,
    )
    def post(self, request, schedule_id):
        schedule = services.schedule_cancel(schedule=_schedule_or_404(request, schedule_id))
        return Response(schedule_detail(selectors.schedule_get(account=request.user.account, schedule_id=schedule.id)))
