"""The order of an attempt: a batch claimed, each delivery checked, sent part by part, its outcome recorded."""

import logging
import time
import uuid

from outbound import clock
from outbound.models import Delivery, Session
from outbound.services.gateway_checks import content_over_limits, media_urls_check
from outbound.services.sessions import session_status_set
from outbound.transports import TransportError

from . import gateway
from .claiming import LeaseLost, claims_release, deliveries_claim, fenced
from .recording import Finish, deliveries_finish, delivery_finish
from .retries import SEND_NOW, RetryAt, deliveries_not_claimed, delivery_hold, retry_after_transient, slot_wait
from .typing import typing_needed, typing_start, typing_stop

logger = logging.getLogger(__package__)

# Sent deliveries are recorded together, but never later than this after the
# first of them: with a slow gateway a batch takes seconds, and its status
# (and the webhook saying so) should not wait for the whole batch.
FLUSH_SECONDS = 0.25


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
    now = clock.now()
    given = {uuid.UUID(str(i)): i for i in delivery_ids}  # to hand back ids as they came (str from a task)
    ids = list(given)
    claimed = deliveries_claim(ids, now)
    retries = deliveries_not_claimed([i for i in ids if i not in claimed], now)
    sent: list[Finish] = []
    first_sent_at = None
    order = [i for i in ids if i in claimed]
    for index, delivery_id in enumerate(order):
        if time.monotonic() > deadline:
            claims_release([claimed[i][0] for i in order[index:]])
            deliveries_finish(sent)
            return retries, [given[i] for i in order[index:]]
        delivery, taken_over = claimed[delivery_id]
        outcome = attempt_claimed(delivery, taken_over)
        if isinstance(outcome, RetryAt):
            retries[str(delivery_id)] = outcome
        elif isinstance(outcome, Finish):
            sent.append(outcome)
            first_sent_at = first_sent_at or time.monotonic()
            if time.monotonic() - first_sent_at >= FLUSH_SECONDS:
                deliveries_finish(sent)
                sent, first_sent_at = [], None
    deliveries_finish(sent)
    return retries, []


def delivery_attempt(*, delivery_id: uuid.UUID) -> RetryAt | None:
    """Make one attempt at one delivery (a batch of one). Returns when to try again, if it should be."""
    retries, _ = deliveries_attempt(delivery_ids=[delivery_id], budget_seconds=float("inf"))
    return retries.get(str(delivery_id))


def attempt_claimed(delivery: Delivery, taken_over: bool) -> RetryAt | Finish | None:
    """Make one attempt at a claimed delivery. Returns when to try again, or the Finish to record once sent.

    1. Expire it if its time is up; fail it if its message is over the gateway's limits.
    2. Hold it if its session is not WORKING (no attempt used).
    3. Wait for the session's send slot (back on the queue, attempt kept).
       A human-like session marks the chat seen and starts typing at the
       slot, and comes back when typing ends (typing.py); then stops typing.
    4. Check the media URLs still to be sent (core/addresses.py), then send
       each part not yet recorded, asking the gateway first on retries.
    5. Sent: the caller records it with the rest of the batch. Failed
       (permanent error, or out of attempts), held (the gateway says the
       session is not working) or requeued: recorded here.
    """
    now = clock.now()
    if taken_over and not delivery.unconfirmed:
        # The dead worker may have reached the gateway: unknown until we ask.
        fenced(delivery).update(unconfirmed=True)
        delivery.unconfirmed = True
    if delivery.expires_at <= now:
        delivery_finish(delivery, Delivery.Status.EXPIRED, error_code="expired", error_message="The message expired before it could be sent.")
        return None
    over_limits = content_over_limits(delivery)
    if over_limits:
        delivery_finish(delivery, Delivery.Status.FAILED, error_code="content_over_limits", error_message=over_limits)
        return None
    session = delivery.send.session
    if session.status != Session.Status.WORKING:
        return delivery_hold(delivery, f"Session {session.name} is {session.status}; held until it is WORKING again.")
    wait = slot_wait(delivery, now)
    if wait is not SEND_NOW:
        return wait  # back later (pacing), or deferred (quiet hours, daily cap)
    last_part_id = None
    try:
        if typing_needed(delivery, session):
            return typing_start(delivery, session, now)  # sends at the end of typing, from a new task
        media_urls_check(delivery)
        if delivery.typing_started_at is not None and delivery.parts_sent == 0:
            typing_stop(delivery, session)
        for part in range(delivery.parts_sent, delivery.parts_total):
            provider_id = gateway.part_send(delivery, part)
            if part < delivery.parts_total - 1:
                gateway.part_record(delivery, part, provider_id)
            else:
                last_part_id = provider_id  # recorded with the final status, one write fewer
    except LeaseLost:
        logger.warning("delivery %s: lease lost to another worker; stopping", delivery.pk)
        return None
    except TransportError as error:
        if error.code == "session_not_working":
            # The gateway knows better than our record: note it, hold the message.
            session_status_set(session=session, status=error.session_status or Session.Status.FAILED)
            return delivery_hold(delivery, error.message)
        if error.permanent:
            delivery_finish(delivery, Delivery.Status.FAILED, error_code=error.code, error_message=error.message)
            return None
        return retry_after_transient(delivery, error)
    return Finish(delivery, Delivery.Status.SENT, last_part_id=last_part_id)
