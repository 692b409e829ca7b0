"""Recording claimed deliveries' final statuses, their events and the sends they complete."""

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from outbound import clock, metrics
from outbound.models import Delivery, Send
from outbound.services.events import EVENT_FOR_STATUS, delivery_events_record
from outbound.services.sends import send_finish_if_done

logger = logging.getLogger(__package__)

_STAMP = {
    Delivery.Status.SENT: "sent_at",
    Delivery.Status.FAILED: "failed_at",
    Delivery.Status.EXPIRED: "expired_at",
}


@dataclass
class Finish:
    """A final status to record for a claimed delivery (see deliveries_finish)."""

    delivery: Delivery
    status: str
    error_code: str = ""
    error_message: str = ""
    last_part_id: str | None = None
    unconfirmed: bool | None = None


def delivery_finish(delivery: Delivery, status: str, **outcome) -> bool:
    """Record one final status (see deliveries_finish); False if the delivery was no longer ours."""
    return bool(deliveries_finish([Finish(delivery, status, **outcome)]))


def deliveries_finish(finishes: list[Finish]) -> set:
    """Record final statuses, their events and the sends they complete: one transaction.

    1. Lock the rows and keep those still ours (status `sending`, our attempt
       number): a worker whose lease was taken over writes nothing.
    2. Write them by field set (_rows_update), one INSERT per event type.
    3. Lock each send last, so the lock is held only for the check: finishers
       of one send take turns there, each sees the statuses its predecessors
       committed, and the last one completes the send.
    Returns the ids recorded.
    """
    if not finishes:
        return set()
    now = clock.now()
    with transaction.atomic():
        current = _sending_attempts_locked([f.delivery.pk for f in finishes])
        ours = [f for f in finishes if current.get(f.delivery.pk) == f.delivery.attempts]
        by_fields = defaultdict(list)
        for finish in ours:
            changes = _final_changes(finish, now)
            for name, value in changes.items():
                setattr(finish.delivery, name, value)
            by_fields[tuple(sorted(changes))].append(finish.delivery)
        for fields, deliveries in by_fields.items():
            _rows_update(deliveries, fields)
        by_event = defaultdict(list)
        for finish in ours:
            by_event[EVENT_FOR_STATUS[finish.status]].append(finish.delivery)
        for event_type, deliveries in by_event.items():
            delivery_events_record(send=deliveries[0].send, deliveries=deliveries, type=event_type)
        for send_id in sorted({f.delivery.send_id for f in ours}):
            send_finish_if_done(send=Send.objects.select_for_update().get(pk=send_id))
    transaction.on_commit(lambda: metrics.deliveries_finished(f.status for f in ours))
    for finish in ours:  # one line per delivery; every id is in hand (the send was loaded with the claim)
        send = finish.delivery.send
        logger.info(
            "delivery %s", finish.status,
            extra={
                "event": f"delivery.{finish.status}", "delivery_id": str(finish.delivery.pk), "send_id": str(send.pk),
                "schedule_id": send.schedule_id and str(send.schedule_id), "occurrence": send.occurrence_number,
                "request_id": send.request_id, "error_code": finish.error_code,
            },
        )
    return {f.delivery.pk for f in ours}


def _sending_attempts_locked(ids: list) -> dict:
    """{id: attempt number} of these deliveries still `sending`, locked for the transaction."""
    rows = Delivery.objects.select_for_update().filter(pk__in=ids, status=Delivery.Status.SENDING)
    return dict(rows.values_list("pk", "attempts"))


def _rows_update(deliveries: list[Delivery], fields: tuple[str, ...]) -> None:
    """Write `fields` of each delivery as it holds them (the rows are locked by the caller: nothing to fence).

    A field every row gets the same value of (the status, its time) is one
    UPDATE for all; only the fields whose values differ by row (the provider
    ids) go through bulk_update, whose per-row CASE costs CPU by the field.
    """
    same, differ = [], []
    for name in fields:
        first = getattr(deliveries[0], name)
        (same if all(getattr(d, name) == first for d in deliveries[1:]) else differ).append(name)
    if same:
        Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).update(**{name: getattr(deliveries[0], name) for name in same})
    if differ:
        Delivery.objects.bulk_update(deliveries, differ)


def _final_changes(finish: Finish, now: datetime) -> dict:
    delivery = finish.delivery
    changes = {
        "status": finish.status,
        _STAMP[finish.status]: now,
        "lease_expires_at": None,
        "slot_at": None,
        "error_code": finish.error_code,
        "error_message": finish.error_message[:2000],
        "updated_at": now,
    }
    if finish.unconfirmed is not None:
        changes["unconfirmed"] = finish.unconfirmed
    if finish.last_part_id is not None:
        # The last part's provider id, recorded here rather than in a write of its own.
        changes["parts_sent"] = delivery.parts_total
        changes["provider_message_ids"] = list(delivery.provider_message_ids) + [finish.last_part_id]
    return changes
