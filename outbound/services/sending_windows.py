"""When a session may send at all: its daily cap (with a new number's warm-up) and its quiet hours.

Pure functions of a session (and its account) and an instant; the pacing
(pacing.send_slot_reserve) applies them under the session row's lock.

Local times follow the wall clock of the zone, with one rule for DST days:
a window starts (or ends) at the first instant the wall clock reads its
time or later. So a time that does not exist (the spring gap: 02:30 where
clocks jump from 02:00 to 03:00) is reached at the jump (03:00 local), and
a time that exists twice (autumn: 01:30 twice) is reached the first time;
the repeated hour after an end is not quiet again. A local day starts at
the first instant the wall clock reads 00:00 or later on that date.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.zones import zone_get

DAILY_CAP = "daily_cap"
QUIET_HOURS = "quiet_hours"
# error_code of a queued delivery waiting for one of them (Delivery.error_code).
DEFERRAL_REASONS = (DAILY_CAP, QUIET_HOURS)


def zone_of(name: str) -> ZoneInfo:
    """The zone called `name`; UTC when empty (or, defensively, unknown: the API and admin refuse those)."""
    return zone_get(name) or ZoneInfo("UTC")


def local_day(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def wall_reached(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the wall clock in `zone` reads `at` or later on `day`."""
    naive = datetime.combine(day, at)
    first = naive.replace(tzinfo=zone)  # fold=0: the first of two, if it exists twice
    instant = first.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == naive:
        return instant
    # `at` falls in a gap: interpreted with the offset before it, `instant` is
    # past the jump by (at - gap start); the jump lies between the two readings.
    early = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    late = instant
    after = late.astimezone(zone).utcoffset()
    while late - early > timedelta(seconds=1):
        middle = early + (late - early) / 2
        if middle.astimezone(zone).utcoffset() == after:
            late = middle
        else:
            early = middle
    return late.replace(microsecond=0)


def day_start(day: date, zone: ZoneInfo) -> datetime:
    return wall_reached(day, time(0), zone)


@dataclass(frozen=True)
class QuietHours:
    """A daily window of local times in which nothing is sent; `days`: ISO weekdays a window starts on (empty: all)."""

    start: time
    end: time
    days: tuple[int, ...]
    zone: ZoneInfo

    def end_if_inside(self, instant: datetime) -> datetime | None:
        """The end of the window `instant` is in (UTC), or None if it is in none."""
        today = local_day(instant, self.zone)
        for day in (today - timedelta(days=1), today):
            if self.days and day.isoweekday() not in self.days:
                continue
            begins = wall_reached(day, self.start, self.zone)
            ends = wall_reached(day if self.end > self.start else day + timedelta(days=1), self.end, self.zone)
            if begins <= instant < ends:
                return ends
        return None


def quiet_hours_of(session) -> QuietHours | None:
    """The session's quiet hours, or else its account's (loaded with it), or None."""
    if session.quiet_hours_start is not None and session.quiet_hours_end is not None:
        return QuietHours(
            session.quiet_hours_start, session.quiet_hours_end, tuple(session.quiet_hours_days or ()), zone_of(session.time_zone)
        )
    account = session.account
    if account.quiet_hours_start is not None and account.quiet_hours_end is not None:
        return QuietHours(
            account.quiet_hours_start, account.quiet_hours_end, tuple(account.quiet_hours_days or ()), zone_of(account.time_zone)
        )
    return None


def daily_cap_on(session, day: date) -> int | None:
    """Most messages the session may send on local `day`: the cap, or the warm-up's for that day; None: no cap.

    Warm-up day k (day 1 = warmup_started_at) allows first + (cap - first) x (k - 1) / (N - 1),
    rounded down: linear from the first day's cap to the full cap on day N.
    """
    cap = session.daily_message_cap
    if cap is None:
        return None
    first, days, started = session.warmup_first_day_cap, session.warmup_days, session.warmup_started_at
    if first is None or days <= 1 or started is None:
        return cap
    k = (day - started).days + 1
    if k >= days:
        return cap
    if k <= 1:
        return min(first, cap)
    return first + (cap - first) * (k - 1) // (days - 1)


def session_has_windows(session) -> bool:
    """Does anything but the pacing restrict when this session sends (then every send reserves a slot)?"""
    if session.daily_message_cap is not None or session.quiet_hours_start is not None:
        return True
    account = session.account
    return account.quiet_hours_start is not None
