"""The service's clock: this host's, set to the database's, the one clock every host shares.

A decision that compares a time with "now" (is this occurrence due? has this
retry waited long enough?) must come out the same on every host, or a host
whose clock runs ahead fires early and one behind fires late. Each process
measures how far its clock is from PostgreSQL's now and then, and corrects
by that much; in between it reads its own clock, so "now" costs no query.

On SQLite (the embedded default: one host) and where CLOCK_FOLLOWS_DATABASE
is off (the tests, whose clock is frozen far from the database's) it is
this host's clock.
"""

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from outbound import sql

# How often a process measures its offset again: clocks drift by
# milliseconds an hour, and NTP steps are rare.
REMEASURE_SECONDS = 60.0

_offset = timedelta(0)
_measured_at: float | None = None  # monotonic


def now() -> datetime:
    """The current time on the database's clock (UTC, aware), shifted by OUTBOUND_CLOCK_OFFSET_SECONDS (tests only)."""
    shift = timedelta(seconds=settings.OUTBOUND_CLOCK_OFFSET_SECONDS)
    if not (settings.CLOCK_FOLLOWS_DATABASE and connection.vendor == "postgresql"):
        return timezone.now() + shift
    if _measured_at is None or time.monotonic() - _measured_at > REMEASURE_SECONDS:
        offset_measure()
    return timezone.now() + _offset + shift


def offset_measure() -> timedelta:
    """Measure this host's offset from the database's clock (half the round trip is the error at most)."""
    global _offset, _measured_at
    before = timezone.now()
    database = sql.database_now()
    after = timezone.now()
    _offset = database - (before + (after - before) / 2)
    _measured_at = time.monotonic()
    return _offset
