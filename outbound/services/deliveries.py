"""Sending one delivery: claim, call the gateway part by part, record the outcome.

Guarantees (docs/architecture.md, "Exactly once"):
- A delivery is claimed with a conditional UPDATE before the gateway is
  called; a duplicate task finds nothing to claim.
- Every gateway message carries an id derived from the delivery and part, and
  every attempt after the first asks the gateway for that id before sending,
  so an attempt that died after the gateway accepted it is not sent again.
- Each write after a gateway call is fenced on the attempt number: a worker
  whose lease was taken over cannot overwrite the new owner's progress.

A task attempts a batch of deliveries (OUTBOUND_DELIVERY_BATCH_SIZE), and
the database work is per batch, not per delivery: one UPDATE ... RETURNING
claims them, one query loads them with their send and session, and the sent
ones are recorded together (one locked read, one UPDATE, one INSERT of their
events, one completion check per send) as soon as the batch is done or
FLUSH_SECONDS after the first of them, whichever comes first. Only the rare
outcomes (a retry, a hold, a failure) are written one by one.
"""

import base64
import logging
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from outbound import metrics, rawsql
from outbound.models import Delivery, MediaFile, Send, Session
from outbound.services.events import EVENT_FOR_STATUS, delivery_content, delivery_events_record
from outbound.services.gateway_checks import content_over_limits, media_urls_check
from outbound.services.pacing import RESERVE_HORIZON, send_slot_reserve, session_is_paced
from outbound.services.sends import send_finish_if_done
from outbound.services.sessions import session_status_set
from outbound.transports import TransportError, get_client

logger = logging.getLogger(__name__)

# A slot this close is "now": not worth a trip through the queue.
SLOT_TOLERANCE = timedelta(milliseconds=20)
# Sent deliveries are recorded together, but never later than this after the
# first of them: with a slow gateway a batch takes seconds, and its status
# (and the webhook saying so) should not wait for the whole batch.
FLUSH_SECONDS = 0.25


@dataclass(frozen=True)
class RetryAt:
    """The attempt ended transiently; the next one may start at `when`."""

    when: datetime


@dataclass
class Finish:
    """A final status to record for a claimed delivery (see _finish_many)."""

    delivery: Delivery
    status: str
    error_code: str = ""
    error_message: str = ""
    last_part_id: str | None = None
    unconfirmed: bool | None = None


class LeaseLost(Exception):
    """Another worker took the delivery over; stop without writing."""


def deliveries_attempt(*, delivery_ids: list, budget_seconds: float) -> tuple[dict, list]:
    """Attempt a batch of deliveries; returns ({id: RetryAt}, ids not reached within the budget).

    1. Claim every delivery of the batch that is ours to send (one UPDATE),
       load them (one query), find out why the others were not claimed.
    2. Attempt each in turn; sent ones wait in `sent` to be recorded together.
    3. Past the budget (a slow gateway), put back the claimed ones not
       started: what is left goes back on the queue, the batch stays well
       inside the task time limit.
    """
    deadline = time.monotonic() + budget_seconds
    now = timezone.now()
    given = {uuid.UUID(str(i)): i for i in delivery_ids}  # to hand back ids as they came (str from a task)
    ids = list(given)
    claimed = _claim_many(ids, now)
    retries = _not_claimed_many([i for i in ids if i not in claimed], now)
    sent: list[Finish] = []
    first_sent_at = None
    order = [i for i in ids if i in claimed]
    for index, delivery_id in enumerate(order):
        if time.monotonic() > deadline:
            _release_claims([claimed[i][0] for i in order[index:]])
            _finish_many(sent)
            return retries, [given[i] for i in order[index:]]
        delivery, taken_over = claimed[delivery_id]
        outcome = _attempt_claimed(delivery, taken_over)
        if isinstance(outcome, RetryAt):
            retries[str(delivery_id)] = outcome
        elif isinstance(outcome, Finish):
            sent.append(outcome)
            first_sent_at = first_sent_at or time.monotonic()
            if time.monotonic() - first_sent_at >= FLUSH_SECONDS:
                _finish_many(sent)
                sent, first_sent_at = [], None
    _finish_many(sent)
    return retries, []


def delivery_attempt(*, delivery_id: uuid.UUID) -> RetryAt | None:
    """Make one attempt at one delivery (a batch of one). Returns when to try again, if it should be."""
    retries, _ = deliveries_attempt(delivery_ids=[delivery_id], budget_seconds=float("inf"))
    return retries.get(str(delivery_id))


def _claim_many(ids: list[uuid.UUID], now: datetime) -> dict[uuid.UUID, tuple[Delivery, bool]]:
    """Move to `sending` the deliveries that are ours to send; {id: (delivery, taken_over)}.

    Queued and due, or `sending` with a lease that ran out (abandoned by a
    dead worker: taken over). The second UPDATE runs only for ids the first
    did not claim, which in steady state is none.
    """
    lease = now + timedelta(seconds=settings.OUTBOUND_SEND_LEASE_SECONDS)
    fresh = _claim_update(ids, now, lease, abandoned=False)
    rest = [i for i in ids if i not in fresh]
    abandoned = _claim_update(rest, now, lease, abandoned=True) if rest else set()
    for delivery_id in abandoned:
        logger.warning("delivery %s: taking over an abandoned attempt", delivery_id)
    loaded = _deliveries_load(fresh | abandoned)
    return {i: (loaded[i], i in abandoned) for i in ids if i in loaded}


def _deliveries_load(ids) -> dict[uuid.UUID, Delivery]:
    """{id: delivery} with its send and the send's session loaded, as select_related("send__session") would.

    Plain SQL (outbound/rawsql.py): every task loads its batch, and building
    the ORM's join cost a paced delivery (a batch of one) a fifth of its worker CPU.
    """
    if not ids:
        return {}
    parts = [(Delivery, "d", rawsql.columns(Delivery)), (Send, "s", rawsql.columns(Send)), (Session, "x", rawsql.columns(Session))]
    q = rawsql.quote
    select = ", ".join(f"{alias}.{q(f.column)}" for _, alias, fields in parts for f in fields)
    send_fk, session_fk = Delivery._meta.get_field("send"), Send._meta.get_field("session")
    sql = (
        f"SELECT {select} FROM {q(Delivery._meta.db_table)} d "
        f"JOIN {q(Send._meta.db_table)} s ON s.{q(Send._meta.pk.column)} = d.{q(send_fk.column)} "
        f"JOIN {q(Session._meta.db_table)} x ON x.{q(Session._meta.pk.column)} = s.{q(session_fk.column)} "
        f"WHERE d.{q(Delivery._meta.pk.column)} IN ({rawsql.placeholders(list(ids))})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [Delivery._meta.pk.get_db_prep_value(i, connection) for i in ids])
        rows = cursor.fetchall()
    columns, start = [], 0
    for model, _, fields in parts:
        columns.append(rawsql.instances_from_rows(model, fields, [row[start:start + len(fields)] for row in rows]))
        start += len(fields)
    loaded = {}
    for delivery, send, session in zip(*columns):
        send.session = session
        delivery.send = send
        loaded[delivery.pk] = delivery
    return loaded


def _claim_update(ids: list[uuid.UUID], now: datetime, lease: datetime, *, abandoned: bool) -> set[uuid.UUID]:
    """The claim itself: one conditional UPDATE ... RETURNING (PostgreSQL, and SQLite >= 3.35).

    Raw SQL because the ORM's update() says how many rows changed, not which.
    """
    if not ids:
        return set()
    quote = connection.ops.quote_name
    moment = Delivery._meta.get_field("updated_at")
    pk = Delivery._meta.pk
    before, when = (
        (Delivery.Status.SENDING, "lease_expires_at") if abandoned else (Delivery.Status.QUEUED, "next_attempt_at")
    )
    comparison = "<" if abandoned else "<="
    sql = (
        f"UPDATE {quote(Delivery._meta.db_table)} SET status = %s, attempts = attempts + 1, "
        f"last_attempted_at = %s, lease_expires_at = %s, updated_at = %s "
        f"WHERE id IN ({', '.join(['%s'] * len(ids))}) AND status = %s AND {quote(when)} {comparison} %s "
        f"RETURNING id"
    )
    prep_now, prep_lease = moment.get_db_prep_value(now, connection), moment.get_db_prep_value(lease, connection)
    params = [Delivery.Status.SENDING, prep_now, prep_lease, prep_now]
    params += [pk.get_db_prep_value(i, connection) for i in ids] + [before, prep_now]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {uuid.UUID(str(row[0])) for row in cursor.fetchall()}


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


_STAMP = {
    Delivery.Status.SENT: "sent_at",
    Delivery.Status.FAILED: "failed_at",
    Delivery.Status.EXPIRED: "expired_at",
}


def _finish(delivery: Delivery, status: str, **outcome) -> bool:
    """Record one final status (see _finish_many); False if the delivery was no longer ours."""
    return bool(_finish_many([Finish(delivery, status, **outcome)]))


def _finish_many(finishes: list[Finish]) -> set:
    """Record final statuses, their events and the sends they complete: one transaction.

    1. Lock the rows and keep those still ours (status `sending`, our attempt
       number): a worker whose lease was taken over writes nothing.
    2. One UPDATE for all of them (by field set), one INSERT per event type.
    3. Lock each send last, so the lock is held only for the check: finishers
       of one send take turns there, each sees the statuses its predecessors
       committed, and the last one completes the send.
    Returns the ids recorded.
    """
    if not finishes:
        return set()
    now = timezone.now()
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
            _update_rows(deliveries, fields)
        by_event = defaultdict(list)
        for finish in ours:
            by_event[EVENT_FOR_STATUS[finish.status]].append(finish.delivery)
        for event_type, deliveries in by_event.items():
            delivery_events_record(send=deliveries[0].send, deliveries=deliveries, type=event_type)
        for send_id in sorted({f.delivery.send_id for f in ours}):
            send_finish_if_done(send=rawsql.select_by_pk(Send, send_id, for_update=True))
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
    """{id: attempt number} of these deliveries still `sending`, locked for the transaction (plain SQL, in every batch)."""
    q = rawsql.quote
    opts = Delivery._meta
    sql = (
        f"SELECT {q(opts.pk.column)}, {q(opts.get_field('attempts').column)} FROM {q(opts.db_table)} "
        f"WHERE {q(opts.pk.column)} IN ({rawsql.placeholders(ids)}) AND {q(opts.get_field('status').column)} = %s"
    )
    if connection.features.has_select_for_update:
        sql += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(sql, [opts.pk.get_db_prep_value(i, connection) for i in ids] + [Delivery.Status.SENDING])
        rows = cursor.fetchall()
    return {rawsql.value_from_db(opts.pk, pk): attempts for pk, attempts in rows}


def _update_rows(deliveries: list[Delivery], fields: tuple[str, ...]) -> None:
    """Write `fields` of each delivery as it holds them: one prepared UPDATE run per row.

    Not bulk_update: building its CASE expressions cost more CPU than the
    rows' updates themselves (measured: over half of a worker's time).
    The rows are locked by the caller, so there is nothing to fence here.
    """
    quote = connection.ops.quote_name
    opts = Delivery._meta
    columns = [opts.get_field(name) for name in fields]
    sql = (
        f"UPDATE {quote(opts.db_table)} SET {', '.join(f'{quote(c.column)} = %s' for c in columns)} "
        f"WHERE {quote(opts.pk.column)} = %s"
    )
    rows = [
        [c.get_db_prep_save(getattr(d, c.attname), connection) for c in columns] + [opts.pk.get_db_prep_value(d.pk, connection)]
        for d in deliveries
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


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


def _release_claims(deliveries: list[Delivery]) -> None:
    """Put back claimed deliveries that were never started (the batch ran out of time)."""
    for delivery in deliveries:
        _release_claim(delivery)


def _hold(delivery: Delivery, reason: str) -> RetryAt | None:
    """Hold a delivery whose session cannot send: no attempt used, no retry queued.

    It waits until the session is WORKING again (session_deliveries_release
    queues it) or until it expires (the sweeper finds it then).

    The status this worker read may be stale by now (read at the start of its
    batch): the hold is written under a lock on the session row, and only if
    the session is still not WORKING. A release that set it WORKING either
    committed first (then this attempt is retried at once instead) or waits
    for this lock, and then finds the held delivery. Either way none is left
    held behind a session that works.
    """
    with transaction.atomic():
        status = Session.objects.select_for_update().filter(pk=delivery.send.session_id).values_list("status", flat=True).first()
        if status == Session.Status.WORKING:
            released = _release_claim(delivery)
            return RetryAt(timezone.now()) if released else None
        _release_claim(
            delivery,
            next_attempt_at=delivery.expires_at,
            slot_at=None,
            error_code="session_not_working",
            error_message=reason[:2000],
        )
    return None


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


def _attempt_claimed(delivery: Delivery, taken_over: bool) -> RetryAt | Finish | None:
    """Make one attempt at a claimed delivery. Returns when to try again, or the Finish to record once sent.

    1. Expire it if its time is up; fail it if its message is over the gateway's limits.
    2. Hold it if its session is not WORKING (no attempt used).
    3. Wait for the session's send slot (back on the queue, attempt kept).
    4. Check the media URLs still to be sent (core/addresses.py), then send
       each part not yet recorded, asking the gateway first on retries.
    5. Sent: the caller records it with the rest of the batch. Failed
       (permanent error, or out of attempts), held (the gateway says the
       session is not working) or requeued: recorded here.
    """
    now = timezone.now()
    if taken_over and not delivery.unconfirmed:
        # The dead worker may have reached the gateway: unknown until we ask.
        _fenced(delivery).update(unconfirmed=True)
        delivery.unconfirmed = True
    if delivery.expires_at <= now:
        _finish(delivery, Delivery.Status.EXPIRED, error_code="expired", error_message="The message expired before it could be sent.")
        return None
    over_limits = content_over_limits(delivery)
    if over_limits:
        _finish(delivery, Delivery.Status.FAILED, error_code="content_over_limits", error_message=over_limits)
        return None
    session = delivery.send.session
    if session.status != Session.Status.WORKING:
        return _hold(delivery, f"Session {session.name} is {session.status}; held until it is WORKING again.")
    wait = _wait_for_slot(delivery, now)
    if wait is not None:
        return wait
    last_part_id = None
    try:
        media_urls_check(delivery)
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
            return _hold(delivery, error.message)
        if error.permanent:
            _finish(delivery, Delivery.Status.FAILED, error_code=error.code, error_message=error.message)
            return None
        return _after_transient(delivery, error)
    return Finish(delivery, Delivery.Status.SENT, last_part_id=last_part_id)


def _not_claimed_many(ids: list[uuid.UUID], now: datetime) -> dict[str, RetryAt]:
    """Deliveries a task found nothing to claim for: early ones come back later, the rest need nothing."""
    if not ids:
        return {}
    retries = {}
    rows = Delivery.objects.filter(pk__in=ids, status=Delivery.Status.QUEUED, next_attempt_at__gt=now)
    for delivery_id, next_attempt_at in rows.values_list("pk", "next_attempt_at"):
        # Come back then, unless that is far off (a held delivery waits for its
        # session's release or its expiry, not for a days-long countdown).
        if next_attempt_at - now <= timedelta(seconds=settings.OUTBOUND_RETRY_MAX_SECONDS * 1.5):
            retries[str(delivery_id)] = RetryAt(next_attempt_at)
    return retries
