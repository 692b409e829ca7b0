"""Per-session send pacing, shared by every worker: evenly spaced send slots.

Celery's rate_limit is per worker; this is per WhatsApp number. Each session
row keeps `next_send_slot_at`; a delivery about to send reserves the next slot
under the row's lock, for as many messages as it will send, so any number of
workers on any number of machines together stay within the session's
`messages_per_minute`, with a random extra gap between messages so the number
does not send in a steady, bot-like rhythm.

A delivery whose slot is in the future does not wait in the worker: it goes
back on the queue for that moment, keeping its attempt and its slot, so it
blocks no other session's deliveries.
"""

import random
from datetime import datetime, timedelta

from django.db import transaction

from outbound.models import Session

# Slots are reserved at most this far ahead; later work is deferred without
# one, so a long backlog does not turn into hours-long task countdowns.
RESERVE_HORIZON = timedelta(minutes=10)
# Added to every gap. A message reaches the gateway some milliseconds after
# its slot; over a minute of N slots the guard adds up to N x 50 ms, so that
# jitter would have to exceed it to let an (N+1)th message into any minute.
GUARD = timedelta(milliseconds=50)


def session_is_paced(session: Session) -> bool:
    return bool(session.messages_per_minute) or session.send_delay_max_ms > 0


def _gap(session: Session, typing: timedelta = timedelta(0)) -> timedelta:
    # A human-like send types before it sends (deliveries/typing.py): its
    # typing time is part of its gap, so the next slot waits for the send.
    gap = typing
    if session.messages_per_minute:
        gap += timedelta(seconds=60 / session.messages_per_minute) + GUARD
    if session.send_delay_max_ms:
        low = min(session.send_delay_min_ms, session.send_delay_max_ms)
        gap += timedelta(milliseconds=random.uniform(low, session.send_delay_max_ms))
    return gap


def send_slot_reserve(*, session_id, messages: int, now: datetime, typing: timedelta = timedelta(0)) -> datetime | None:
    """Reserve slots for `messages` messages; the first slot's time, or None if beyond the horizon.

    The slots run from the returned time on; the caller sends its messages
    from then (together, for the images of one delivery), or starts typing
    then and sends `typing` later.
    """
    with transaction.atomic():
        session = (
            Session.objects.select_for_update()
            .only("id", "messages_per_minute", "send_delay_min_ms", "send_delay_max_ms", "next_send_slot_at")
            .get(pk=session_id)
        )
        slot = max(now, session.next_send_slot_at or now)
        if slot - now > RESERVE_HORIZON:
            return None
        # Typing comes once, before the first message (the images of one delivery go together).
        next_slot = slot + sum((_gap(session, typing if i == 0 else timedelta(0)) for i in range(messages)), timedelta(0))
        Session.objects.filter(pk=session.pk).update(next_send_slot_at=next_slot)
        return slot
