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

Where a slot starts also obeys the session's quiet hours and daily cap
(sending_windows.py): a delivery whose slot would fall inside quiet hours,
or over the local day's cap, is deferred to the window's end or the next
local day. The deferred come back then and reserve slots one after another
from there at the session's gap, so a window's end is no burst.
The cap counts messages given a slot, on the session row, under the same
lock (cap_day, cap_day_count): exact across any number of workers, one
row write that the reservation makes anyway. Counting sent deliveries
instead would miss those holding a slot but not yet sent (many workers
would overshoot), and costs a query over the day's deliveries. A slot
reserved and then not used (the delivery failed or expired) still counts:
the cap may be undershot, never exceeded.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from outbound.models import Session
from outbound.services import sending_windows

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


@dataclass(frozen=True)
class Deferral:
    """No slot: the session may not send before `not_before` (quiet hours or the daily cap), `reason` says which."""

    not_before: datetime
    reason: str


def send_slot_reserve(
    *, session_id, messages: int, now: datetime, typing: timedelta = timedelta(0)
) -> datetime | Deferral | None:
    """Reserve slots for `messages` messages; the first slot's time, a Deferral, or None if beyond the horizon.

    The slots run from the returned time on; the caller sends its messages
    from then (together, for the images of one delivery), or starts typing
    then and sends `typing` later. A Deferral (the next slot falls in quiet
    hours or over the day's cap: not before `not_before`) reserves nothing
    and counts nothing.
    """
    with transaction.atomic():
        session = (
            Session.objects.select_for_update(of=("self",))
            .select_related("account")
            .get(pk=session_id)
        )
        slot = max(now, session.next_send_slot_at or now)
        slot, reason, day, used = _slot_allowed(session, slot, messages)
        if reason:
            # Not reserved ahead: the deferred come back at `slot` and reserve
            # then, one after another under this lock, so they leave at the
            # session's gap from there, and the new day's count starts then.
            return Deferral(slot, reason)
        if slot - now > RESERVE_HORIZON:
            return None
        # Typing comes once, before the first message (the images of one delivery go together).
        next_slot = slot + sum((_gap(session, typing if i == 0 else timedelta(0)) for i in range(messages)), timedelta(0))
        changes = {"next_send_slot_at": next_slot}
        if day is not None:
            changes.update(cap_day=day, cap_day_count=used + messages)
        Session.objects.filter(pk=session.pk).update(**changes)
        return slot


def _slot_allowed(session: Session, slot: datetime, messages: int):
    """The first instant at or after `slot` outside quiet hours and within the day's cap.

    Returns (slot, what moved it: "" / quiet_hours / daily_cap, the local day
    it counts on or None without a cap, messages already counted that day).
    A delivery with more parts than a whole day's cap goes as the day's first
    (else it would never go).
    """
    quiet = sending_windows.quiet_hours_of(session)
    zone = sending_windows.zone_of(session.time_zone)
    reason = ""
    for _ in range(8):  # each turn moves past a window or a day; a few suffice
        end = quiet.end_if_inside(slot) if quiet else None
        if end is not None:
            slot, reason = end, sending_windows.QUIET_HOURS
            continue
        day = sending_windows.local_day(slot, zone)
        cap = sending_windows.daily_cap_on(session, day)
        if cap is None:
            return slot, reason, None, 0
        used = session.cap_day_count if session.cap_day == day else 0
        if session.cap_day is not None and day < session.cap_day:
            used = max(used, cap)  # a day already left behind: closed
        if used == 0 or used + messages <= cap:
            return slot, reason, day, used
        slot, reason = sending_windows.day_start(day + timedelta(days=1), zone), sending_windows.DAILY_CAP
    return slot, reason, None, 0
