"""Lifecycle events, recorded in the caller's transaction (the outbox).

Event data follows seeds/sms-gateway-webhook-scheduled.txt: the whole message
record, with its attempts, limits, failure reason and status timestamps.
"""

from outbound.models import Delivery, Event, Send
from outbound.signals import events_recorded
from outbound.timefmt import to_iso


class EventType:
    MESSAGE_SCHEDULED = "message.notification.scheduled"
    MESSAGE_SENT = "message.notification.sent"
    MESSAGE_DELIVERED = "message.notification.delivered"
    MESSAGE_READ = "message.notification.read"
    MESSAGE_FAILED = "message.notification.failed"
    MESSAGE_EXPIRED = "message.notification.expired"
    MESSAGE_SKIPPED = "message.notification.skipped"
    SCHEDULE_RUN_STARTED = "schedule.run.started"
    SCHEDULE_RUN_COMPLETED = "schedule.run.completed"
    SCHEDULE_RUN_FAILED = "schedule.run.failed"
    SCHEDULE_COMPLETED = "schedule.completed"
    SCHEDULE_CANCELED = "schedule.canceled"
    SCHEDULE_PAUSED = "schedule.paused"

    ALL = (
        "message.notification.scheduled", "message.notification.sent", "message.notification.delivered",
        "message.notification.read", "message.notification.failed", "message.notification.expired",
        "message.notification.skipped", "schedule.run.started", "schedule.run.completed", "schedule.run.failed",
        "schedule.completed", "schedule.canceled", "schedule.paused",
    )


# The event each terminal delivery status announces.
EVENT_FOR_STATUS = {
    Delivery.Status.SENT: EventType.MESSAGE_SENT,
    Delivery.Status.DELIVERED: EventType.MESSAGE_DELIVERED,
    Delivery.Status.READ: EventType.MESSAGE_READ,
    Delivery.Status.FAILED: EventType.MESSAGE_FAILED,
    Delivery.Status.EXPIRED: EventType.MESSAGE_EXPIRED,
}


def delivery_content(send: Send, delivery: Delivery) -> tuple[str, list[dict]]:
    """(text, media) this delivery sends: its variant's, or the send's."""
    if delivery.variant_name:
        for variant in send.variants:
            if variant["variant_name"] == delivery.variant_name:
                return variant.get("text") or "", variant.get("media") or []
    return send.text, send.media


def delivery_event_data(delivery: Delivery, send: Send) -> dict:
    text, media = delivery_content(send, delivery)
    return {
        "id": str(delivery.id),
        "request_id": send.request_id,
        "send_id": str(send.id),
        "schedule_id": str(send.schedule_id) if send.schedule_id else None,
        "occurrence_number": send.occurrence_number,
        "session_id": str(send.session_id),
        "group_id": str(delivery.group_id),
        "chat_id": delivery.chat_id,
        "content": text,
        "media_count": len(media),
        "variant_name": delivery.variant_name or None,
        "status": delivery.status,
        "provider_message_id": delivery.provider_message_id,
        "send_attempt_count": delivery.attempts,
        "max_send_attempts": delivery.max_send_attempts,
        "message_expiration_seconds": delivery.message_expiration_seconds,
        "failure_reason": delivery.error_message or None,
        "error_code": delivery.error_code or None,
        "timezone": "UTC",
        "schedule_send_at": to_iso(delivery.created_at),
        "last_attempted_at": to_iso(delivery.last_attempted_at),
        "sent_at": to_iso(delivery.sent_at),
        "delivered_at": to_iso(delivery.delivered_at),
        "read_at": to_iso(delivery.read_at),
        "failed_at": to_iso(delivery.failed_at),
        "expired_at": to_iso(delivery.expired_at),
        "created_at": to_iso(delivery.created_at),
        "updated_at": to_iso(delivery.updated_at),
    }


def delivery_events_record(*, send: Send, deliveries: list[Delivery], type: str) -> list[Event]:
    return events_record(
        account_id=send.account_id, events=[(type, delivery_event_data(delivery, send)) for delivery in deliveries]
    )


def events_record(*, account_id, events: list[tuple[str, dict]]) -> list[Event]:
    """Record (type, data) events in the caller's transaction: they exist if and only if it commits."""
    if not events:
        return []
    recorded = Event.objects.bulk_create([Event(account_id=account_id, type=type, data=data) for type, data in events])
    events_recorded.send(sender=Event, account_id=account_id)
    return recorded
