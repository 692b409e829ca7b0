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
from django.db.models import F
from django.utils import timezone

from outbound.models import Delivery, MediaFile, Send, Session
from outbound.services.events import EVENT_FOR_STATUS, delivery_content, delivery_events_record
from outbound.services.pacing import RESERVE_HORIZON, send_slot_reserve, session_is_paced
from outbound.services.sends import send_finish_if_done
from outbound.services.sessions import session_status_set
from outbound.transports import TransportError, get_client

logger = logging.getLogger(__name__)

# A slot this close is "now": not worth a trip through the queue.
SLOT_TOLERANCE = timedelta(milliseconds=20)


@dataclass(frozen=True)
class RetryAt:
    """The attempt ended transiently; the next one may start at `when`."""

    when: datetime


class LeaseLost(Exception):
    """Another worker took the delivery over; stop without writing."""


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
    if delivery.attempts > 1 or delivery.unconfirmed:
        # Any earlier attempt may have reached the gateway (a timeout, a 5xx
        # after accepting, a worker killed mid-call): ask before sending again.
        found = client.get_message(session=session_name, chat_id=delivery.chat_id, message_id=message_id)
        if delivery.unconfirmed and not _fenced(delivery).update(unconfirmed=False):
            raise LeaseLost()
        delivery.unconfirmed = False  # the gateway answered: we know again
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


def _finish(
    delivery: Delivery,
    status: str,
    *,
    error_code: str = "",
    error_message: str = "",
    last_part_id: str | None = None,
    unconfirmed: bool | None = None,
) -> bool:
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
        "slot_at": None,
        "error_code": error_code,
        "error_message": error_message[:2000],
        "updated_at": now,
    }
    if unconfirmed is not None:
        changes["unconfirmed"] = unconfirmed
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
    unconfirmed = delivery.unconfirmed or error.maybe_delivered
    if delivery.attempts >= delivery.max_send_attempts:
        _finish(
            delivery,
            Delivery.Status.FAILED,
            error_code=error.code,
            error_message=f"Gave up after {delivery.attempts} attempts: {error.message}",
            unconfirmed=unconfirmed,
        )
        return None
    next_at = now + timedelta(seconds=_backoff(delivery.attempts))
    if next_at >= delivery.expires_at:
        _finish(delivery, Delivery.Status.EXPIRED, error_code="expired", error_message=error.message, unconfirmed=unconfirmed)
        return None
    requeued = _fenced(delivery).update(
        status=Delivery.Status.QUEUED,
        next_attempt_at=next_at,
        lease_expires_at=None,
        slot_at=None,
        unconfirmed=unconfirmed,
        error_code=error.code,
        error_message=error.message[:2000],
        updated_at=now,
    )
    return RetryAt(next_at) if requeued else None


def _release_claim(delivery: Delivery, **changes) -> bool:
    """Put a claimed delivery back to queued without using up the attempt (it sent nothing)."""
    return bool(
        _fenced(delivery).update(
            status=Delivery.Status.QUEUED,
            attempts=F("attempts") - 1,
            lease_expires_at=None,
            updated_at=timezone.now(),
            **changes,
        )
    )


def _hold(delivery: Delivery, reason: str) -> None:
    """Hold a delivery whose session cannot send: no attempt used, no retry queued.

    It waits until the session is WORKING again (session_deliveries_release
    queues it) or until it expires (the sweeper finds it then).
    """
    _release_claim(
        delivery,
        next_attempt_at=delivery.expires_at,
        slot_at=None,
        error_code="session_not_working",
        error_message=reason[:2000],
    )


def _wait_for_slot(delivery: Delivery, now) -> RetryAt | None:
    """The session's pacing: None to send now, else when to come back (slot kept, attempt kept)."""
    session = delivery.send.session
    if delivery.slot_at is not None and delivery.slot_at <= now + SLOT_TOLERANCE:
        return None  # this attempt's slot has come
    if delivery.slot_at is None:
        if not session_is_paced(session):
            return None
        slot = send_slot_reserve(session_id=session.pk, messages=delivery.parts_total - delivery.parts_sent, now=now)
        if slot is not None and slot <= now + SLOT_TOLERANCE:
            return None
        when = slot or now + RESERVE_HORIZON / 2
    else:
        slot = when = delivery.slot_at  # arrived early for the slot it holds
    released = _release_claim(delivery, slot_at=slot, next_attempt_at=when)
    return RetryAt(when) if released else None


def delivery_attempt(*, delivery_id: uuid.UUID) -> RetryAt | None:
    """Make one attempt at a delivery. Returns when to try again, if it should be.

    1. Claim the row (or take over an abandoned attempt); no claim, no call.
    2. Expire it if its time is up.
    3. Hold it if its session is not WORKING (no attempt used).
    4. Wait for the session's send slot (back on the queue, attempt kept).
    5. Send each part not yet recorded, asking the gateway first on retries.
    6. Record sent, failed (permanent error, or out of attempts), held (the
       gateway says the session is not working) or requeue.
    """
    now = timezone.now()
    delivery, taken_over = _claim(delivery_id, now)
    if delivery is None:
        return _not_claimed(delivery_id, now)
    if taken_over and not delivery.unconfirmed:
        # The dead worker may have reached the gateway: unknown until we ask.
        _fenced(delivery).update(unconfirmed=True)
        delivery.unconfirmed = True
    if delivery.expires_at <= now:
        _finish(delivery, Delivery.Status.EXPIRED, error_code="expired", error_message="The message expired before it could be sent.")
        return None
    session = delivery.send.session
    if session.status != Session.Status.WORKING:
        _hold(delivery, f"Session {session.name} is {session.status}; held until it is WORKING again.")
        return None
    wait = _wait_for_slot(delivery, now)
    if wait is not None:
        return wait
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
        if error.code == "session_not_working":
            # The gateway knows better than our record: note it, hold the message.
            session_status_set(session=session, status=error.session_status or Session.Status.FAILED)
            _hold(delivery, error.message)
            return None
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
        # Come back then, unless that is far off (a held delivery waits for its
        # session's release or its expiry, not for a days-long countdown).
        if row["next_attempt_at"] - now <= timedelta(seconds=settings.OUTBOUND_RETRY_MAX_SECONDS * 1.5):
            return RetryAt(row["next_attempt_at"])
    return None
