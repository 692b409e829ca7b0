"""Lifecycle events, recorded in the caller's transaction (the outbox).

Event data follows seeds/sms-gateway-webhook-scheduled.txt: the whole message
record, with its sending session (`phone`), attempts, limits, failure reason
and status timestamps. docs/webhooks.md maps every seed field.
"""

import uuid
from collections.abc import Callable
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from core.ids import id_time, occurrence_delivery_id
from core.models import Event
from core.time import to_iso
from outbound import sql
from outbound.alternatives import text_vary, variation_seed
from outbound.models import Delivery, Group, Send, Session
from outbound.services.sending_windows import DEFERRAL_REASONS
from outbound.signals import events_recorded
from outbound.variants import variants_assign


class EventType:
    MESSAGE_SCHEDULED = "message.notification.scheduled"
    MESSAGE_SENT = "message.notification.sent"
    MESSAGE_DELIVERED = "message.notification.delivered"
    MESSAGE_READ = "message.notification.read"
    MESSAGE_FAILED = "message.notification.failed"
    MESSAGE_EXPIRED = "message.notification.expired"
    MESSAGE_SKIPPED = "message.notification.skipped"
    # Held by quiet hours or the daily cap; still queued (data: deferred_reason, not_before_at).
    MESSAGE_DEFERRED = "message.notification.deferred"
    SCHEDULE_RUN_STARTED = "schedule.run.started"
    SCHEDULE_RUN_COMPLETED = "schedule.run.completed"
    SCHEDULE_RUN_FAILED = "schedule.run.failed"
    SCHEDULE_COMPLETED = "schedule.completed"
    SCHEDULE_CANCELED = "schedule.canceled"
    SCHEDULE_PAUSED = "schedule.paused"
    SESSION_UNHEALTHY = "session.unhealthy"

    ALL = (
        "message.notification.scheduled", "message.notification.sent", "message.notification.delivered",
        "message.notification.read", "message.notification.failed", "message.notification.expired",
        "message.notification.skipped", "schedule.run.started", "schedule.run.completed", "schedule.run.failed",
        "schedule.completed", "schedule.canceled", "schedule.paused", "session.unhealthy",
        "message.notification.deferred",
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
    """(text, media) this delivery sends: its variant's, or the send's, with its alternatives chosen."""
    text, media = _stored_content(send, delivery)
    return delivery_text_vary(send, delivery, text)[0], media


def delivery_alternatives(send: Send, delivery: Delivery) -> list[int]:
    """Which alternative of each `{a|b}` group the delivery's text took (0-based), e.g. [2, 0]; [] without any."""
    return delivery_text_vary(send, delivery, _stored_content(send, delivery)[0])[1]


def delivery_text_vary(send: Send, delivery: Delivery, text: str) -> tuple[str, list[int]]:
    """(the text this delivery's group gets, the alternative chosen in each group of it)."""
    if not text or ("{" not in text and "\\" not in text):
        return text or "", []  # nothing to choose or unescape: no seed to build (every create-send request runs this)
    seed = variation_seed(
        send_id=send.id,
        schedule_id=send.schedule_id,
        occurrence_number=send.occurrence_number,
        group_id=delivery.group_id,
    )
    return text_vary(text or "", seed=seed)


def _stored_content(send: Send, delivery: Delivery) -> tuple[str, list[dict]]:
    if delivery.variant_name:
        for variant in send.variants:
            if variant["variant_name"] == delivery.variant_name:
                return variant.get("text") or "", variant.get("media") or []
    return send.text, send.media


# The seed's `type`: what kind of recipient the message went to.
MESSAGE_TYPE = "sent_to_group"
# The status of an announced message: scheduled, no delivery row yet.
ANNOUNCED_STATUS = "scheduled"


def session_event_data(session: Session) -> dict:
    """The seed's `phone`: the sending session.

    Every seed key is there, so a receiver written against the seed finds
    them all; those we have no counterpart for (user, SIM, missed calls,
    heartbeats, online history) are null. Built once per batch of events.
    """
    return {
        "id": str(session.id),
        "user_id": None,
        "phone_number": session.phone_number or None,
        "name": session.label or session.name,
        "sim": None,
        "max_send_attempts": settings.OUTBOUND_MAX_SEND_ATTEMPTS,
        "message_expiration_seconds": settings.OUTBOUND_MESSAGE_EXPIRATION_SECONDS,
        "missed_call_auto_reply_message": None,
        "is_online": session.status == Session.Status.WORKING,
        "last_online_at": None,
        "last_offline_at": None,
        "last_message_at": None,
        "last_missed_call_at": None,
        "last_heartbeat_at": None,
        "heartbeat_enabled_at": None,
        "timezone": "UTC",
        "created_at": to_iso(session.created_at),
        "updated_at": to_iso(session.updated_at),
    }


def _schedule_send_at(delivery: Delivery, send: Send) -> datetime:
    # A scheduled occurrence's delivery id carries the due time (core.ids.
    # occurrence_delivery_id): the time it was scheduled for, with no column
    # of its own. An immediate send is scheduled for when it was made.
    return id_time(delivery.id) if send.schedule_id else delivery.created_at


def _deferred_reason(delivery: Delivery) -> str | None:
    if delivery.status == Delivery.Status.QUEUED and delivery.error_code in DEFERRAL_REASONS:
        return delivery.error_code
    return None


def delivery_event_data(delivery: Delivery, send: Send, phone: dict | None = None) -> dict:
    """The message record as the seed shapes it, plus our own fields (send, schedule, group, variant, error code).

    `phone`: session_event_data(send.session), when the caller has built it
    already for a batch. An announcement passes an unsaved send (no id yet).
    """
    stored_text, media = _stored_content(send, delivery)
    text, alternatives = delivery_text_vary(send, delivery, stored_text)
    if phone is None:
        phone = session_event_data(send.session)
    return {
        "id": str(delivery.id),
        "request_id": send.request_id,
        "phone": phone,
        "message_thread_id": str(delivery.group_id),
        "phone_id": phone["id"],
        "from_phone_number": phone["phone_number"],
        "to_phone_number": delivery.chat_id,
        "type": MESSAGE_TYPE,
        "send_id": str(send.id) if send.pk is not None else None,
        "schedule_id": str(send.schedule_id) if send.schedule_id else None,
        "occurrence_number": send.occurrence_number,
        "session_id": phone["id"],
        "group_id": str(delivery.group_id),
        "chat_id": delivery.chat_id,
        "content": text,
        "media_count": len(media),
        "variant_name": delivery.variant_name or None,
        # Issue 22: which alternative of each {a|b} group `content` took, and
        # how long the session showed typing first (null: no typing).
        "text_alternatives": alternatives,
        "typing_ms": delivery.typing_ms,
        "status": delivery.status,
        "provider_message_id": delivery.provider_message_id,
        "send_attempt_count": delivery.attempts,
        "max_send_attempts": delivery.max_send_attempts,
        "message_expiration_seconds": delivery.message_expiration_seconds,
        "failure_reason": delivery.error_message or None,
        "error_code": delivery.error_code or None,
        # Waiting for quiet hours to end or the next day's cap: why, and until when.
        "deferred_reason": _deferred_reason(delivery),
        "not_before_at": to_iso(delivery.next_attempt_at) if _deferred_reason(delivery) else None,
        "send_duration": None,
        "sim": None,
        "timezone": "UTC",
        "schedule_send_at": to_iso(_schedule_send_at(delivery, send)),
        "schedule_on_phone_at": None,
        "last_attempted_at": to_iso(delivery.last_attempted_at),
        "sent_at": to_iso(delivery.sent_at),
        "delivered_at": to_iso(delivery.delivered_at),
        "received_at": None,
        "read_at": to_iso(delivery.read_at),
        "failed_at": to_iso(delivery.failed_at),
        "expired_at": to_iso(delivery.expired_at),
        "created_at": to_iso(delivery.created_at),
        "updated_at": to_iso(delivery.updated_at),
    }


def delivery_events_record(*, send: Send, deliveries: list[Delivery], type: str) -> list[Event]:
    if not deliveries:
        return []
    # One phone record for the whole batch: the session comes loaded with the send.
    phone = session_event_data(send.session)
    return events_record(
        account_id=send.account_id, events=[(type, delivery_event_data(delivery, send, phone)) for delivery in deliveries]
    )


def occurrence_messages_announce(
    *,
    session: Session,
    groups: list[Group],
    schedule_id: uuid.UUID,
    occurrence_number: int,
    due_at: datetime,
    text: str,
    media: list[dict],
    variants: list[dict],
    request_id: str,
) -> list[Event]:
    """Announce what a schedule's occurrence will send: one message.notification.scheduled per group.

    Each message has the id its delivery will have when the occurrence
    fires, the variant that group will get, and status `scheduled`. The
    records are built from the send and deliveries the occurrence would
    make, unsaved, so they have exactly the shape of the later events.
    """
    now = timezone.now()
    send = Send(
        id=None,  # made when the occurrence fires
        account_id=session.account_id,
        session=session,
        text=text,
        media=media,
        variants=variants,
        request_id=request_id,
        schedule_id=schedule_id,
        occurrence_number=occurrence_number,
    )
    group_ids = [g.id for g in groups]
    # The seed send_create splits an occurrence's groups with, so each group
    # is announced the variant it will get.
    assignment = variants_assign(variants=variants, group_ids=group_ids, seed=f"{schedule_id}:{occurrence_number}") if variants else {}
    phone = session_event_data(session)
    events = []
    for group in groups:
        message = Delivery(
            id=occurrence_delivery_id(
                schedule_id=schedule_id, occurrence_number=occurrence_number, group_id=group.id, due_at=due_at
            ),
            send=send,
            group=group,
            chat_id=group.chat_id,
            variant_name=assignment.get(group.id, ""),
            status=ANNOUNCED_STATUS,
            max_send_attempts=settings.OUTBOUND_MAX_SEND_ATTEMPTS,
            message_expiration_seconds=settings.OUTBOUND_MESSAGE_EXPIRATION_SECONDS,
            created_at=now,
            updated_at=now,
        )
        events.append((EventType.MESSAGE_SCHEDULED, delivery_event_data(message, send, phone)))
    return events_record(account_id=session.account_id, events=events)


def _always_subscribed(account_id) -> bool:
    return True


# Does anyone want this account's events relayed (a webhook endpoint)? outbound
# does not import webhooks: the webhooks app registers the answer at start-up.
# Until then every event waits for a relay, so none is lost.
_subscription_check: Callable[[uuid.UUID], bool] = _always_subscribed


def events_subscription_check_register(*, check: Callable[[uuid.UUID], bool]) -> None:
    """Set how events_record learns whether an account's events need relaying (webhooks.receivers)."""
    global _subscription_check
    _subscription_check = check


def events_record(*, account_id, events: list[tuple[str, dict]]) -> list[Event]:
    """Record (type, data) events in the caller's transaction: they exist if and only if it commits.

    Events of an account nobody subscribes to are written already relayed:
    the relay would only mark them, and a backlog of them must never stand
    in front of anyone else's webhooks.
    """
    if not events:
        return []
    awaiting_relay = _subscription_check(account_id)
    now = timezone.now()
    recorded = [
        Event(account_id=account_id, type=type, data=data, relayed=not awaiting_relay, created_at=now)
        for type, data in events
    ]
    sql.rows_insert(recorded)
    events_recorded.send(sender=Event, account_id=account_id, awaiting_relay=awaiting_relay)
    return recorded
