"""The `schedule` object of POST /v2/outbound/sends, plugged in through outbound.scheduling."""

from core.time import to_ms
from schedules import services

from .inputs import ScheduleRuleInput


class ScheduledSendHandler:
    def validate(self, raw: dict) -> dict:
        rule = ScheduleRuleInput(data=raw)
        rule.is_valid(raise_exception=True)
        return dict(rule.validated_data)

    def create(self, *, targets, text, media, actor_user, request_id, variants, skip_within_hours, rule) -> dict:
        # `rule` is the validated `schedule` object: its timing fields and, optionally, the schedule's name.
        timing = {field: value for field, value in rule.items() if field != "name"}
        schedule = services.schedule_create(
            targets=targets,
            text=text,
            media=media,
            actor_user=actor_user,
            timing=timing,
            name=rule.get("name", ""),
            variants=variants,
            skip_within_hours=skip_within_hours,
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
