"""Delivery receipts from the gateway (WAHA message.ack): sent -> delivered -> read, never backwards."""

from django.db import transaction
from django.utils import timezone

from outbound.models import Delivery, Send
from outbound.services.events import EVENT_FOR_STATUS, delivery_events_record
from outbound.services.session_health import session_ack_error_count, session_healthy_mark

# WAHA ack levels: -1 ERROR, 0 PENDING, 1 SERVER, 2 DEVICE, 3 READ, 4 PLAYED.
STATUS_FOR_ACK = {
    -1: Delivery.Status.FAILED,
    0: Delivery.Status.SENT,
    1: Delivery.Status.SENT,
    2: Delivery.Status.DELIVERED,
    3: Delivery.Status.READ,
    4: Delivery.Status.READ,
}
RANK = {Delivery.Status.SENT: 1, Delivery.Status.DELIVERED: 2, Delivery.Status.READ: 3}
STAMP = {Delivery.Status.DELIVERED: "delivered_at", Delivery.Status.READ: "read_at", Delivery.Status.FAILED: "failed_at"}


class NotReady(Exception):
    """The receipt is for a delivery whose attempt is still being recorded: ask the gateway to retry."""


def delivery_ack_record(*, message_id: str, ack: int) -> str:
    """Apply one receipt; returns what happened ("updated", "ignored", "unknown").

    1. Only our own message ids name a delivery (they carry its id).
    2. A receipt never moves a delivery backwards: a late DEVICE after READ,
       or an ERROR after DEVICE, changes nothing.
    3. A receipt for a delivery still being sent raises NotReady: its worker
       has not recorded the attempt yet, and writing now would take the row
       from under it.
    4. A receipt that the message arrived settles a delivery that had ended
       failed or expired on an unconfirmed attempt: it did go out.
    """
    parsed = Delivery.from_gateway_message_id(message_id)
    target = STATUS_FOR_ACK.get(ack)
    if parsed is None or target is None:
        return "unknown"
    delivery_id, _part = parsed
    with transaction.atomic():
        delivery = _delivery_locked(delivery_id)
        if delivery is None:
            return "unknown"
        if delivery.status in (Delivery.Status.QUEUED, Delivery.Status.SENDING):
            raise NotReady(str(delivery_id))
        if not _moves_forward(delivery, target):
            return "ignored"
        now = timezone.now()
        changes = {"status": target, "updated_at": now}
        if target in STAMP:
            changes[STAMP[target]] = now
        if target == Delivery.Status.FAILED:
            changes.update(error_code="gateway_ack_error", error_message="The gateway reported the message as failed (ack -1).")
        elif delivery.status in Delivery.UNSUCCESSFUL:
            # It was on WhatsApp after all: the failure was an unconfirmed attempt.
            changes.update(error_code="", error_message="", unconfirmed=False, sent_at=delivery.sent_at or now)
        Delivery.objects.filter(pk=delivery.pk).update(**changes)
        for name, value in changes.items():
            setattr(delivery, name, value)
        send = _send_with_session(delivery.send_id)
        delivery_events_record(send=send, deliveries=[delivery], type=EVENT_FOR_STATUS[target])
        _session_health_note(send, target)
        return "updated"


def _session_health_note(send: Send, target: str) -> None:
    """A run of ack ERRORs makes the session unhealthy; a delivered message ends the run."""
    if target == Delivery.Status.FAILED:
        session_ack_error_count(session_id=send.session_id)
    elif target in (Delivery.Status.DELIVERED, Delivery.Status.READ):
        session_healthy_mark(session_id=send.session_id)


def _delivery_locked(delivery_id) -> Delivery | None:
    return Delivery.objects.select_for_update().filter(pk=delivery_id).first()


def _send_with_session(send_id) -> Send:
    return Send.objects.select_related("session").get(pk=send_id)


def _moves_forward(delivery: Delivery, target: str) -> bool:
    if delivery.status in Delivery.UNSUCCESSFUL:
        return target != Delivery.Status.FAILED and delivery.unconfirmed
    if delivery.status == Delivery.Status.SKIPPED:
        return False
    if target == Delivery.Status.FAILED:
        return delivery.status == Delivery.Status.SENT  # not after it was delivered or read
    return RANK[target] > RANK.get(delivery.status, 0)
