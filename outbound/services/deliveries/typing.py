"""Human-like sends: mark the chat seen and show typing, then send, without a worker waiting while it "types".

An attempt of a human-like session's delivery runs in two phases:
1. At its send slot: note typing_started_at (fenced on the claim), mark the
   chat seen, start typing, and put the delivery back on the queue for
   typing_ms later (the claim let go, its attempt not used up).
2. At that moment: stop typing and send (attempt.attempt_claimed).
typing_started_at is written before the gateway is called, so a duplicated
or retried task never repeats phase 1 of the same attempt; a new attempt
(after a backoff or a hold) types again. Seen and typing are cosmetic: when
the gateway refuses them for any reason but a session that is not working,
the message still goes out, and the failure is logged and counted.
"""

import logging
import random
from datetime import datetime, timedelta

from outbound import metrics
from outbound.models import Delivery, Session
from outbound.services.events import delivery_content
from outbound.transports import TransportError, get_client

from .claiming import claim_release, fenced
from .retries import RetryAt

logger = logging.getLogger(__package__)


def typing_needed(delivery: Delivery, session: Session) -> bool:
    """True when this attempt still has to type: a human-like session, nothing sent yet, not typed yet."""
    return session.human_like and delivery.parts_sent == 0 and delivery.typing_started_at is None


def typing_ms_draw(*, session: Session, characters: int, rng=random) -> int:
    """How long to type a text of `characters`: min + per-char x length, +-20%, within [min, max]."""
    low, high = session.typing_ms_min, max(session.typing_ms_min, session.typing_ms_max)
    grown = (low + session.typing_ms_per_char * characters) * rng.uniform(0.8, 1.2)
    return int(min(high, max(low, grown)))


def delivery_typing_ms_draw(delivery: Delivery, session: Session) -> int:
    text, _ = delivery_content(delivery.send, delivery)
    return typing_ms_draw(session=session, characters=len(text))


def typing_start(delivery: Delivery, session: Session, now: datetime) -> RetryAt | None:
    """Phase 1: seen + startTyping, then back on the queue for when typing ends. None if the claim was lost.

    A TransportError for a session that is not working propagates: the
    caller holds the delivery as it would for a refused send.
    """
    typing_ms = delivery.typing_ms if delivery.typing_ms is not None else delivery_typing_ms_draw(delivery, session)
    if not fenced(delivery).update(typing_started_at=now, typing_ms=typing_ms):
        return None  # another worker owns the delivery now
    delivery.typing_started_at, delivery.typing_ms = now, typing_ms
    client = get_client()
    for call in (client.send_seen, client.start_typing):
        _cosmetic(call, delivery, session)
    metrics.typing_started(typing_ms / 1000)
    send_at = now + timedelta(milliseconds=typing_ms)
    # The send keeps the claim's attempt: phase 2 claims it again at send_at.
    released = claim_release(delivery, slot_at=send_at, next_attempt_at=send_at)
    return RetryAt(send_at) if released else None


def typing_stop(delivery: Delivery, session: Session) -> None:
    """Phase 2's first call: the typing indicator goes away as the message arrives."""
    _cosmetic(get_client().stop_typing, delivery, session)


def _cosmetic(call, delivery: Delivery, session: Session) -> None:
    try:
        call(session=session.name, chat_id=delivery.chat_id)
    except TransportError as error:
        if error.code == "session_not_working":
            raise
        metrics.typing_call_failed(error.code)
        logger.warning("delivery %s: %s failed (%s); sending anyway", delivery.pk, call.__name__, error)
