"""Sending one delivery: claim, call the gateway part by part, record the outcome.

Guarantees (docs/architecture.md, "Exactly once"):
- A delivery is claimed with a conditional UPDATE before the gateway is
  called; a duplicate task finds nothing to claim.
- Every gateway message carries an id derived from the delivery and part, and
  every attempt after the first asks the gateway for that id before sending,
  so an attempt that died after the gateway accepted it is not sent again.
- Each write after a gateway call is fenced on the attempt number: a worker
  whose lease was taken over cannot overwrite the new owner's progress.
"""

import base64
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from outbound.models import Delivery, MediaFile, Send
from outbound.services.events import EVENT_FOR_STATUS, delivery_content, delivery_events_record
from outbound.services.sends import send_finish_if_done
from outbound.transports import TransportError, get_client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryAt:
    """The attempt ended transiently; the next one may start at `when`."""

    when: datetime


class LeaseLost(Exception):
    """Another worker took the delivery over; stop without writing."""


def deliveries_enqueue(*, delivery_ids: list, countdown: float | None = None) -> None:
    """Queue attempts for these deliveries, OUTBOUND_DELIVERY_BATCH_SIZE per task.

    Batches because a task costs more than the work of one delivery (measured:
    publishing one message took about as long as sending one message);
    parallelism is kept by spreading a send's batches over the workers.
    """
    from outbound.tasks import deliveries_attempt  # tasks call services; import here breaks the cycle

    if not delivery_ids:
        return
    Delivery.objects.filter(pk__in=delivery_ids).update(enqueued_at=timezone.now())
    size = settings.OUTBOUND_DELIVERY_BATCH_SIZE
    for start in range(0, len(delivery_ids), size):
        batch = [str(i) for i in delivery_ids[start:start + size]]
        deliveries_attempt.apply_async((batch,), countdown=countdown)


def deliveries_attempt(*, delivery_ids: list, budget_seconds: float) -> tuple[dict, list]:
    """Attempt each delivery in turn; returns ({id: RetryAt}, ids not reached within the budget).

    The budget keeps a batch well inside the task time limit when the
    gateway is slow; what is left goes back on the queue.
    """
    deadline = time.monotonic() + budget_seconds
    retries = {}
    for index, delivery_id in enumerate(delivery_ids):
        if time.monotonic() > deadline:
            return retries, list(delivery_ids[index:])
        retry = delivery_attempt(delivery_id=delivery_id)
        if retry is not None:
            retries[delivery_id] = retry
    return retries, []


def _claim(delivery_id: uuid.UUID, now: datetime) -> tuple[Delivery | None, bool]:
    """Move the delivery to `sending` if it is ours to send; (delivery, taken_over)."""
    lease = now + timedelta(seconds=settings.OUTBOUND_SEND_LEASE_SECONDS)
    claim = {
        "status": Delivery.Status.SENDING,
        "attempts": F("attempts") + 1,
        "last_attempted_at": now,
        "lease_expires_at": lease,
        "updated_at": now,
    }
    rows = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.QUEUED, next_attempt_at__lte=now)
    if rows.update(**claim):
        return Delivery.objects.select_related("send__session").get(pk=delivery_id), False
    # A `sending` row whose lease ran out was abandoned by a dead worker.
    rows = Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.SENDING, lease_expires_at__lt=now)
    if rows.update(**claim):
        logger.warning("delivery %s: taking over an abandoned attempt", delivery_id)
        return Delivery.objects.select_related("send__session").get(pk=delivery_id), True
    return None, False


def _fenced(delivery: Delivery):
    """Rows this attempt may still write: ours only while our claim stands."""
    return Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING, attempts=delivery.attempts)


def _part_payload(send: Send, delivery: Delivery, part: int) -> tuple[str, dict | None, str | None]:
    """(kind, file, text) for gateway message `part`: the text rides as the first image's caption."""
    text, media = delivery_content(send, delivery)
    if not media:
        return "text", None, text
    item = media[part]
    caption = text if part == 0 and text else None
    if "file_id" in item:
        media_file = MediaFile.objects.get(pk=item["file_id"])
        with media_file.file.open("rb") as fh:
            data = base64.b64encode(fh.read()).decode()
        return "image", {"mimetype": media_file.mimetype, "data": data, "filename": media_file.filename}, caption
    file = {"mimetype": item.get("mimetype") or "image/jpeg", "url": item["url"]}
    if item.get("filename"):
        file["filename"] = item["filename"]
    return "image", file, caption


def _send_part(delivery: Delivery, part: int) -> str:
    """Put part `part` on the gateway unless it is already there; return its provider id."""
    client = get_client()
    send = delivery.send
    session_name = send.session.name
    message_id = delivery.gateway_message_id(part)
    if delivery.attempts > 1:
        # Any earlier attempt may have reached the gateway (a timeout, a 5xx
        # after accepting, a worker killed mid-call): ask before sending again.
        found = client.get_message(session=session_name, chat_id=delivery.chat_id, message_id=message_id)
        if found is not None:
            logger.info("delivery %s part %s: already on the gateway, not resending", delivery.pk, part)
            return _provider_id(found) or message_id
    kind, file, text = _part_payload(send, delivery, part)
    if kind == "text":
        sent = client.send_text(session=session_name, chat_id=delivery.chat_id, text=text, message_id=message_id)
    else:
        sent = client.send_image(
            session=session_name, chat_id=delivery.chat_id, file=file, caption=text, message_id=message_id
        )
    return sent.message_id


def _provider_id(message: dict) -> str | None:
    raw = message.get("id")
    if isinstance(raw, dict):
        return raw.get("_serialized") or raw.get("id")
    return raw


def _record_part(delivery: Delivery, part: int, provider_id: str) -> None:
    ids = list(delivery.provider_message_ids) + [provider_id]
    lease = timezone.now() + timedelta(seconds=settings.OUTBOUND_SEND_LEASE_SECONDS)
    if not _fenced(delivery).update(parts_sent=part + 1, provider_message_ids=ids, lease_expires_at=lease):
        raise LeaseLost()
    delivery.parts_sent = part + 1
    delivery.provider_message_ids = ids


def _finish(delivery: Delivery, status: str, *, error_code: str = "", error_message: str = "", last_part_id: str | None = None) -> bool:
    """Record a final status, its event and, if it was the last, the send's outcome: one transaction.

    `last_part_id`: the provider id of the last part, recorded here rather than
    in a write of its own.
    """
    now = timezone.now()
    stamp = {
        Delivery.Status.SENT: "sent_at",
        Delivery.Status.FAILED: "failed_at",
        Delivery.Status.EXPIRED: "expired_at",
    }[status]
    changes = {
        "status": status,
        stamp: now,
        "lease_expires_at": None,
        "error_code": error_code,
        "error_message": error_message[:2000],
        "updated_at": now,
    }
    if last_part_id is not None:
        changes["parts_sent"] = delivery.parts_total
        changes["provider_message_ids"] = list(delivery.provider_message_ids) + [last_part_id]
    with transaction.atomic():
        if not _fenced(delivery).update(**changes):
            return False
        for name, value in changes.items():
            setattr(delivery, name, value)
        delivery_events_record(send=delivery.send, deliveries=[delivery], type=EVENT_FOR_STATUS[status])
        # Lock the send last, so the lock is held only for the check: finishers
        # of one send take turns here, and each sees the statuses its
        # predecessors committed, so the last one completes the send.
        send = Send.objects.select_for_update().get(pk=delivery.send_id)
        send_finish_if_done(send=send)
    return True


def _backoff(attempts: int) -> float:
    base = settings.OUTBOUND_RETRY_BASE_SECONDS * (2 ** (attempts - 1))
    # Jitter spreads retries of a whole send so they do not hit the gateway together.
    return min(settings.OUTBOUND_RETRY_MAX_SECONDS, base) * random.uniform(0.8, 1.2)


def _after_transient(delivery: Delivery, error: TransportError) -> RetryAt | None:
    now = timezone.now()
    if delivery.attempts >= delivery.max_send_attempts:
        _finish(
            delivery,
            Delivery.Status.FAILED,
            error_code=error.code,
            error_message=f"Gave up after {delivery.attempts} attempts: {error.message}",
        )
        return None
    next_at = now + timedelta(seconds=_backoff(delivery.attempts))
    if next_at >= delivery.expires_at:
        _finish(delivery, Delivery.Status.EXPIRED, error_code="expired", error_message=error.message)
        return None
    requeued = _fenced(delivery).update(
        status=Delivery.Status.QUEUED,
        next_attempt_at=next_at,
        lease_expires_at=None,
        error_code=error.code,
        error_message=error.message[:2000],
        updated_at=now,
    )
    return RetryAt(next_at) if requeued else None


def delivery_attempt(*, delivery_id: uuid.UUID) -> RetryAt | None:
    """Make one attempt at a delivery. Returns when to try again, if it should be.

    1. Claim the row (or take over an abandoned attempt); no claim, no call.
    2. Expire it if its time is up.
    3. Send each part not yet recorded, asking the gateway first on retries.
    4. Record sent, failed (permanent error, or out of attempts) or requeue.
    """
    now = timezone.now()
    delivery, _ = _claim(delivery_id, now)
    if delivery is None:
        return _not_claimed(delivery_id, now)
    if delivery.expires_at <= now:
        _finish(delivery, Delivery.Status.EXPIRED, error_code="expired", error_message="The message expired before it could be sent.")
        return None
    last_part_id = None
    try:
        for part in range(delivery.parts_sent, delivery.parts_total):
            provider_id = _send_part(delivery, part)
            if part < delivery.parts_total - 1:
                _record_part(delivery, part, provider_id)
            else:
                last_part_id = provider_id  # recorded with the final status, one write fewer
    except LeaseLost:
        logger.warning("delivery %s: lease lost to another worker; stopping", delivery.pk)
        return None
    except TransportError as error:
        if error.permanent:
            _finish(delivery, Delivery.Status.FAILED, error_code=error.code, error_message=error.message)
            return None
        return _after_transient(delivery, error)
    _finish(delivery, Delivery.Status.SENT, last_part_id=last_part_id)
    return None


def _not_claimed(delivery_id: uuid.UUID, now: datetime) -> RetryAt | None:
    """A task that found nothing to claim: early (come back later) or nothing to do."""
    row = Delivery.objects.filter(pk=delivery_id).values("status", "next_attempt_at").first()
    if row and row["status"] == Delivery.Status.QUEUED and row["next_attempt_at"] > now:
        return RetryAt(row["next_attempt_at"])
    return None


def deliveries_sweep(*, stale_seconds: float, batch_size: int = 1000) -> int:
    """Re-enqueue deliveries whose task may have been lost; return how many.

    The broker may drop messages (a Redis restart without persistence) and a
    worker may die mid-send. A queued delivery due a while ago with no recent
    enqueue, or a sending one whose lease ran out, gets a new task; the claim
    makes an extra task harmless.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=stale_seconds)
    ids = list(
        Delivery.objects.filter(
            Q(status=Delivery.Status.QUEUED, next_attempt_at__lte=stale)
            | Q(status=Delivery.Status.SENDING, lease_expires_at__lt=now)
        )
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lte=stale))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:batch_size]
    )
    deliveries_enqueue(delivery_ids=ids)
    return len(ids)
