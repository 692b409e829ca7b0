"""Response bodies, built as plain dicts so the field list reads like the contract."""

import hashlib

from outbound.models import Delivery, Group, Send, Session
from outbound.timefmt import to_ms


def text_digest(text: str) -> dict:
    # Message text is customer content: responses describe it, never echo it.
    return {"text_sha256": hashlib.sha256(text.encode()).hexdigest(), "text_length": len(text)}


def delivery_result(delivery: Delivery) -> dict:
    return {
        "recipient_send_id": str(delivery.id),
        "group_id": str(delivery.group_id),
        "chat_id": delivery.chat_id,
        "ok": delivery.status not in Delivery.UNSUCCESSFUL,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "max_send_attempts": delivery.max_send_attempts,
        "provider_message_id": delivery.provider_message_id,
        "error_code": delivery.error_code or None,
        "error_message": delivery.error_message or None,
        "queued_at_ms": to_ms(delivery.created_at),
        "last_attempted_at_ms": to_ms(delivery.last_attempted_at),
        "sent_at_ms": to_ms(delivery.sent_at),
        "delivered_at_ms": to_ms(delivery.delivered_at),
        "read_at_ms": to_ms(delivery.read_at),
        "failed_at_ms": to_ms(delivery.failed_at),
        "expired_at_ms": to_ms(delivery.expired_at),
        "expires_at_ms": to_ms(delivery.expires_at),
    }


def send_detail(send: Send) -> dict:
    return {
        "send_id": str(send.id),
        "status": send.status,
        "session_id": str(send.session_id),
        "schedule_id": str(send.schedule_id) if send.schedule_id else None,
        "occurrence_number": send.occurrence_number,
        **text_digest(send.text),
        "media_count": len(send.media),
        "created_at_ms": to_ms(send.created_at),
        "completed_at_ms": to_ms(send.completed_at),
        "results": [delivery_result(d) for d in send.deliveries.all()],
    }


def session_item(session: Session) -> dict:
    return {
        "id": str(session.id),
        "name": session.name,
        "label": session.label,
        "role": session.role,
        "status": session.status,
        "status_changed_at_ms": to_ms(session.status_changed_at),
    }


def group_item(group: Group) -> dict:
    return {
        "id": str(group.id),
        "chat_id": group.chat_id,
        "name": group.name,
        "session_ids": [str(s.id) for s in group.sessions.all()],
    }
