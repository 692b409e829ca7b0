"""The seam through which a send request can become a schedule.

outbound sits below schedules and never imports it. POST /v2/outbound/sends
accepts a `schedule` object; the schedules app registers a handler here at
start-up (SchedulesConfig.ready) that validates the rule and creates the
schedule. Without one, scheduled sends are refused with a clear error.
"""

from typing import Protocol


class ScheduledSendHandler(Protocol):
    def validate(self, raw: dict) -> dict:
        """The validated rule; raises rest_framework ValidationError keyed by field."""

    def create(
        self, *, targets, text: str, media: list[dict], actor_user, request_id: str,
        variants: list[dict], skip_within_hours: float | None, rule: dict,
    ) -> dict:
        """Write the schedule (in the caller's transaction); return the response's `schedule` part."""


_handler: ScheduledSendHandler | None = None


def register_scheduled_send_handler(handler: ScheduledSendHandler) -> None:
    global _handler
    _handler = handler


def scheduled_send_handler() -> ScheduledSendHandler | None:
    return _handler
