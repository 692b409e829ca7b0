"""When occurrences are due: pure functions of the rule, no database, no clock.

Two rules share one interface, `next_due(k, after)`: the due time of
occurrence k given that occurrence k-1 was due at `after` (None for k = 1),
or None when the rule has no occurrence k.

Calendar rules are computed with zoneinfo (never celery's crontab, which has
open DST bugs). What a local time that does not exist on a day (spring
forward: a gap) or exists twice (fall back: an overlap) does is the rule's
DST policy (GAP_POLICIES, OVERLAP_POLICIES). By default, as before there
was a choice: a gap's time is sent at the first valid minute after it, an
overlap's once, at its first instance.
"""

import calendar
import functools
import hashlib
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_OCCURRENCES = 10_000


@dataclass(frozen=True)
class IntervalRule:
    """Occurrence k (1-based) is due at first_run_at + (k - 1) * interval_ms, exactly."""

    first_run_at: datetime
    interval_ms: int | None
    max_occurrences: int

    def due_at(self, k: int) -> datetime | None:
        """Due time of occurrence k, or None past the last one."""
        if k < 1 or k > self.max_occurrences:
            return None
        if k == 1:
            return self.first_run_at
        # timedelta holds integer microseconds: exact for any k and interval.
        return self.first_run_at + timedelta(milliseconds=(k - 1) * self.interval_ms)

    def next_due(self, k: int, after: datetime | None = None) -> datetime | None:
        return self.due_at(k)

    def max_jitter_ms(self) -> int:
        """Half the interval (so every occurrence fires before the next is due); an hour for a one-shot."""
        return self.interval_ms // 2 if self.interval_ms else MAX_ONE_SHOT_JITTER_MS

    def summary(self) -> str:
        if self.max_occurrences == 1:
            return f"Once at {self.first_run_at:%Y-%m-%d %H:%M:%S} UTC"
        return f"Every {_duration(self.interval_ms)}, {self.max_occurrences} times from {self.first_run_at:%Y-%m-%d %H:%M:%S} UTC"


# A local time in a spring-forward gap: sent at the first minute that exists after it (the default,
# e.g. 02:30 -> 03:00 in New York), moved forward by the gap's length (02:30 -> 03:30, as PEP 495 reads
# it), or not sent that day.
GAP_NEXT_VALID_TIME = "next_valid_time"
GAP_SHIFT_FORWARD = "shift_forward"
GAP_SKIP = "skip"
GAP_POLICIES = (GAP_NEXT_VALID_TIME, GAP_SHIFT_FORWARD, GAP_SKIP)
# A local time that exists twice (fall back): sent at its first instance (the default, still summer
# time), its second (winter time), or at both.
OVERLAP_FIRST = "first"
OVERLAP_SECOND = "second"
OVERLAP_BOTH = "both"
OVERLAP_POLICIES = (OVERLAP_FIRST, OVERLAP_SECOND, OVERLAP_BOTH)


def _exists(aware: datetime, zone: zoneinfo.ZoneInfo) -> bool:
    """Does this wall time (with its fold) round-trip through UTC, i.e. is it a real local time?"""
    return aware.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) == aware.replace(tzinfo=None)


def local_dues(
    day: date, send_time: time, zone: zoneinfo.ZoneInfo, gap: str = GAP_NEXT_VALID_TIME, overlap: str = OVERLAP_FIRST
) -> list[datetime]:
    """The UTC instants (0, 1 or 2, in order) of `send_time` on `day` in `zone` under the DST policies."""
    wall = datetime.combine(day, send_time)
    first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    if not _exists(first, zone):  # a spring-forward gap
        if gap == GAP_SKIP:
            return []
        if gap == GAP_SHIFT_FORWARD:
            # fold=0 reads the wall time with the offset from before the change: later by the gap.
            return [first.astimezone(timezone.utc)]
        return [local_due(day, send_time, zone)]
    if first.utcoffset() != second.utcoffset() and _exists(second, zone):  # exists twice: fall back
        instants = {OVERLAP_FIRST: [first], OVERLAP_SECOND: [second], OVERLAP_BOTH: [first, second]}[overlap]
        return [at.astimezone(timezone.utc) for at in instants]
    return [first.astimezone(timezone.utc)]


def local_due(day: date, send_time: time, zone: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant of `send_time` on `day` in `zone`, by the default DST policies above."""
    wall = datetime.combine(day, send_time)
    # fold=0 is the first instance of an ambiguous (fall back) wall time.
    candidate = wall.replace(tzinfo=zone, fold=0)
    if _exists(candidate, zone):
        return candidate.astimezone(timezone.utc)
    # The wall time falls in a spring-forward gap: walk to the first minute that exists.
    probe = wall.replace(second=0, microsecond=0)
    for _ in range(24 * 60):
        probe += timedelta(minutes=1)
        aware = probe.replace(tzinfo=zone)
        if aware.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) == probe:
            return aware.astimezone(timezone.utc)
    raise ValueError(f"No valid local time after {wall} in {zone.key}")


@dataclass(frozen=True)
class CalendarRule:
    """Matching local days at one or more local times, from start_date through end_date (inclusive).

    A day matches when every filter given matches it (an AND, as in
    Temporal's calendar specs, not cron's OR): its weekday is one of
    days_of_week (empty: any weekday), its day of the month one of
    days_of_month (empty: any; -1 is the last day of the month; 31 matches
    only months that have a 31st), and it is not one of skip_dates. On a
    matching day an occurrence is due at each of its times, in order.
    Two times that land on the same instant (both in a spring-forward gap)
    are one occurrence.
    """

    days_of_week: tuple[int, ...]  # 0 = Monday; empty: any weekday (then days_of_month is not empty)
    send_time: time  # the first (or only) time of a day
    timezone: str
    start_date: date
    end_date: date | None
    max_occurrences: int
    days_of_month: tuple[int, ...] = ()  # 1-31 and -1 (the last day); empty: any day of the month
    send_times: tuple[time, ...] = ()  # every time of a day; empty: (send_time,)
    skip_dates: frozenset[date] = frozenset()  # local days that never run
    dst_gap_policy: str = GAP_NEXT_VALID_TIME  # a time that does not exist that day (GAP_POLICIES)
    dst_overlap_policy: str = OVERLAP_FIRST  # a time that exists twice that day (OVERLAP_POLICIES)

    @property
    def dst_default(self) -> bool:
        return self.dst_gap_policy == GAP_NEXT_VALID_TIME and self.dst_overlap_policy == OVERLAP_FIRST

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    @property
    def times(self) -> tuple[time, ...]:
        return tuple(sorted(set(self.send_times))) if self.send_times else (self.send_time,)

    def matches(self, day: date) -> bool:
        """Does an occurrence fall on this local day (ignoring start and end)?"""
        if day in self.skip_dates:
            return False
        if self.days_of_week and day.weekday() not in self.days_of_week:
            return False
        if self.days_of_month and not _is_day_of_month(day, self.days_of_month):
            return False
        return True

    def instants(self, day: date) -> list[datetime]:
        """The UTC instants of the day's times, in order, each once (a matching day is assumed)."""
        zone = self.zone
        # A set: two times may land on one instant (in a gap), and with the policies a later time
        # may come first (02:30 shifted to 03:30 is after 03:00; a repeated 01:30's second instance
        # is after 01:45's first).
        return sorted({due for at in self.times for due in local_dues(day, at, zone, self.dst_gap_policy, self.dst_overlap_policy)})

    def dst_effect(self, due: datetime) -> str | None:
        """What a DST policy did to this instant of the rule: "gap_<policy>", "overlap_<first|second>", or None.

        For previews: an instant whose local time is not one of the rule's
        times was moved out of a gap; one whose local time exists twice that
        day is the first or the second instance.
        """
        zone = self.zone
        local = due.astimezone(zone)
        if local.time().replace(tzinfo=None) not in self.times:
            return f"gap_{self.dst_gap_policy}"
        wall = local.replace(tzinfo=None)
        first, second = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
        if first.utcoffset() != second.utcoffset() and _exists(first, zone) and _exists(second, zone):
            return "overlap_second" if local.fold else "overlap_first"
        return None

    def next_due(self, k: int, after: datetime | None = None) -> datetime | None:
        """Occurrence k: the first time of a matching local day that is after `after`."""
        if k < 1 or k > self.max_occurrences:
            return None
        return self.first_after(after)

    def first_after(self, after: datetime | None) -> datetime | None:
        """The rule's first instant after `after` (from start_date when None), whatever max_occurrences says."""
        day = self.start_date
        if after is not None:
            day = max(day, after.astimezone(self.zone).date())
        while (day := self._next_day(day)) is not None:
            for due in self.instants(day):
                if after is None or due > after:
                    return due
            day += timedelta(days=1)
        return None

    def _next_day(self, day: date) -> date | None:
        """The first matching day on or after `day`, through end_date; None when there is none."""
        try:
            if not self.days_of_month:
                # A listed weekday is at most a week away; each skipped date can push it a week further.
                for _ in range(7 * (len(self.skip_dates) + 1) + 1):
                    if self.end_date is not None and day > self.end_date:
                        return None
                    if self.matches(day):
                        return day
                    day += timedelta(days=1)
                return None  # pragma: no cover - days_of_week is never empty without days_of_month
            year, month = day.year, day.month
            # Weekdays and days of the month line up the same way every 400 years (the Gregorian cycle).
            for _ in range(400 * 12 + 1):
                for candidate in _month_days(year, month, self.days_of_month):
                    if candidate < day:
                        continue
                    if self.end_date is not None and candidate > self.end_date:
                        return None
                    if self.matches(candidate):
                        return candidate
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
                if self.end_date is not None and date(year, month, 1) > self.end_date:
                    return None
        except (OverflowError, ValueError):  # walked off the end of the calendar (year 9999)
            return None
        return None

    def count_between(self, first: datetime | None = None, before: datetime | None = None, limit: int = MAX_OCCURRENCES + 1) -> int:
        """How many instants the rule has at or after `first` and before `before` (up to `limit`), ignoring max_occurrences.

        From start_date when `first` is None, through end_date when `before`
        is None (with neither bound: `limit`). The result equals what
        iterating next_due would give, computed a month at a time, so a far
        end date costs milliseconds.
        """
        return _count_between(self, first, before, limit)

    def count_through_end(self, limit: int = MAX_OCCURRENCES + 1, first: datetime | None = None) -> int:
        """How many occurrences the dates allow (up to `limit`), ignoring max_occurrences; from `first` when given."""
        if self.end_date is None:
            return limit
        return self.count_between(first, None, limit)

    def max_jitter_ms(self) -> int:
        """The largest jitter allowed: an hour, and at most half the shortest gap between two of a day's times.

        Within that, every occurrence fires before the next one is due.
        """
        seconds = [t.hour * 3600 + t.minute * 60 + t.second for t in self.times]
        gaps = [b - a for a, b in zip(seconds, seconds[1:])] + [seconds[0] + 86_400 - seconds[-1]]
        return min(MAX_CALENDAR_JITTER_MS, min(gaps) * 1000 // 2)

    def summary(self, first_day: date | None = None, first: datetime | None = None) -> str:
        """e.g. "Fri, Sat, Sun at 14:30 Africa/Cairo until 31 Aug 2025".

        `first` (or `first_day`, its local day) is the first occurrence:
        occurrences of the rule before it never run (the start date was
        today and today's time had passed), so they must not make
        max_occurrences look like a cap.
        """
        text = f"{self._days_text()} at {', '.join(_clock(t) for t in self.times)} {self.timezone}"
        if self.skip_dates:
            skipped = sorted(self.skip_dates)
            text += f" except {_and([f'{d.day} {d:%b %Y}' for d in skipped])}" if len(skipped) <= 3 else f" except {len(skipped)} dates"
        if self.end_date is not None:
            text += f" until {self.end_date.day} {self.end_date:%b %Y}"
        if self.dst_gap_policy != GAP_NEXT_VALID_TIME:
            text += ", times in a DST gap " + ("skipped" if self.dst_gap_policy == GAP_SKIP else "shifted forward by the gap")
        if self.dst_overlap_policy != OVERLAP_FIRST:
            text += ", repeated times " + ("at both instances" if self.dst_overlap_policy == OVERLAP_BOTH else "at the second instance")
        if first is None and first_day is not None:
            first = local_due(first_day, time(0), self.zone)
        if self.max_occurrences < MAX_OCCURRENCES and self.max_occurrences < self.count_through_end(self.max_occurrences + 1, first):
            text += f", at most {self.max_occurrences} times"
        return text

    def _days_text(self) -> str:
        weekdays = ", ".join(DAY_NAMES[d][:3].capitalize() for d in sorted(self.days_of_week))
        if not self.days_of_month:
            return "Every day" if len(self.days_of_week) == 7 else weekdays
        numbers = [str(d) for d in sorted(d for d in self.days_of_month if d > 0)]
        last = ["the last day"] if -1 in self.days_of_month else []
        days = f"day {_and(numbers + last, 'or' if self.days_of_week else 'and')}" if numbers else "the last day"
        days += " of the month"
        if not self.days_of_week or len(self.days_of_week) == 7:
            return days[0].upper() + days[1:]
        return f"{weekdays} on {days}"


MAX_CALENDAR_JITTER_MS = 3_600_000
MAX_ONE_SHOT_JITTER_MS = 3_600_000


def _is_day_of_month(day: date, days_of_month: tuple[int, ...]) -> bool:
    if day.day in days_of_month:
        return True
    return -1 in days_of_month and day.day == calendar.monthrange(day.year, day.month)[1]


def _month_days(year: int, month: int, days_of_month: tuple[int, ...]) -> list[date]:
    """The month's days among days_of_month (-1: its last day), in order, each once."""
    last = calendar.monthrange(year, month)[1]
    numbers = {last if d == -1 else d for d in days_of_month if d == -1 or d <= last}
    return [date(year, month, d) for d in sorted(numbers)]


def _weekday_count(first: date, days: int, weekdays: tuple[int, ...]) -> int:
    """How many of the `days` days from `first` fall on one of `weekdays`."""
    weeks, rest = divmod(days, 7)
    start = first.weekday()
    return weeks * len(weekdays) + sum(1 for w in weekdays if (w - start) % 7 < rest)


@functools.lru_cache(maxsize=4096)
def _count_between(rule: CalendarRule, first: datetime | None, before: datetime | None, limit: int) -> int:
    """CalendarRule.count_between: the two end days instant by instant, the days between in closed form.

    A day between counts len(times) occurrences, except a day whose UTC
    offset changes (a DST transition), where two times may land on one
    instant: such days (found month by month, comparing offsets) are
    counted one by one.
    """
    zone = rule.zone
    lo = rule.start_date if first is None else max(rule.start_date, first.astimezone(zone).date())
    hi = rule.end_date
    if before is not None:
        hi = before.astimezone(zone).date() if hi is None else min(hi, before.astimezone(zone).date())
    if hi is None:
        return limit
    if lo > hi:
        return 0

    def on_edge_day(day: date) -> int:
        if not rule.matches(day):
            return 0
        return sum(1 for at in rule.instants(day) if (first is None or at >= first) and (before is None or at < before))

    count = on_edge_day(lo) + (on_edge_day(hi) if hi > lo else 0)
    if hi - lo >= timedelta(days=2):
        count += _count_days(rule, lo + timedelta(days=1), hi - timedelta(days=1), limit - count)
    return min(count, limit)


GREGORIAN_CYCLE = timedelta(days=146_097)  # 400 years: weekdays and month days line up again


def _count_days(rule: CalendarRule, first: date, last: date, limit: int) -> int:
    """Occurrences on the whole days first..last (up to about `limit`)."""
    per_day = len(rule.times)
    count = 0
    if not rule.days_of_month:
        days = _weekday_count(first, (last - first).days + 1, rule.days_of_week)
        days -= sum(1 for d in rule.skip_dates if first <= d <= last and d.weekday() in rule.days_of_week)
        count = days * per_day
    elif per_day == 1 and rule.dst_default and last - first > GREGORIAN_CYCLE:
        # Days of the month and weekdays repeat every 400 years: count one cycle, multiply, then the rest.
        cycles = (last - first) // GREGORIAN_CYCLE
        pattern = CalendarRule(rule.days_of_week, rule.send_time, "UTC", first, first + GREGORIAN_CYCLE - timedelta(days=1), 1, rule.days_of_month)
        end = first + cycles * GREGORIAN_CYCLE
        count = cycles * _count_days(pattern, pattern.start_date, pattern.end_date, MAX_OCCURRENCES * 100)
        count -= sum(1 for d in rule.skip_dates if first <= d < end and _is_day_of_month(d, rule.days_of_month)
                     and (not rule.days_of_week or d.weekday() in rule.days_of_week))
        return count + _count_days(rule, end, last, limit - count) if end <= last else count
    else:
        day = first
        while day <= last and count < limit:
            end = min(last, date(day.year, day.month, calendar.monthrange(day.year, day.month)[1]))
            count += per_day * sum(1 for d in _month_days(day.year, day.month, rule.days_of_month) if day <= d <= end and rule.matches(d))
            day = end + timedelta(days=1)
    # Up to four DST changes a year (Morocco has had four) can each merge per_day - 1 times into one
    # (or, with the policies, drop per_day times, or add as many).
    if (per_day > 1 or not rule.dst_default) and count - per_day * 4 * ((last - first).days // 365 + 1) < limit:
        count -= _collapsed(rule, first, last, per_day)
    return count


def _collapsed(rule: CalendarRule, first: date, last: date, per_day: int) -> int:
    """How many of a day's times merge into an instant already counted (or are skipped; negative: are
    sent twice), on DST days first..last.

    Month by month: a month whose offset differs at its two ends has a DST
    change, whose day is found by bisection. (Two changes within one month
    that cancel out are not seen; no zone has such a month with two
    times in a gap.)
    """
    zone, merged, day = rule.zone, 0, first
    while day <= last:
        end = min(last, date(day.year, day.month, calendar.monthrange(day.year, day.month)[1]))
        after = _offset(zone, end + timedelta(days=1))
        if _offset(zone, day) != after:
            lo, hi = day, end + timedelta(days=1)  # offset(lo) differs from `after`, offset(hi) equals it
            while (hi - lo).days > 1:
                mid = lo + (hi - lo) // 2
                lo, hi = (lo, mid) if _offset(zone, mid) == after else (mid, hi)
            if rule.matches(lo):
                merged += per_day - len(rule.instants(lo))
        day = end + timedelta(days=1)
    return merged


def _offset(zone: zoneinfo.ZoneInfo, day: date) -> timedelta:
    """The zone's UTC offset as the day starts: it differs from the next day's when the day has a DST change."""
    return datetime.combine(day, time(0)).replace(tzinfo=zone).utcoffset()


def jitter_offset_ms(schedule_id, occurrence_number: int, jitter_ms: int) -> int:
    """The deterministic extra delay of an occurrence, in [0, jitter_ms]: the same for the same occurrence, always.

    From a hash of the schedule id and the occurrence number, so schedules
    that share a due time spread over the jitter window, and a preview, a
    fire and a retry of the fire agree.
    """
    if not jitter_ms or jitter_ms <= 0:
        return 0
    digest = hashlib.sha256(f"{schedule_id}:{occurrence_number}:jitter".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (jitter_ms + 1)


def iterate(rule, k: int, due: datetime | None, limit: int):
    """Up to `limit` (occurrence, due) pairs from occurrence k, due at `due`."""
    while due is not None and limit > 0:
        yield k, due
        k, limit = k + 1, limit - 1
        due = rule.next_due(k, due)


def _clock(at: time) -> str:
    return at.strftime("%H:%M:%S" if at.second else "%H:%M")


def _and(items: list[str], word: str = "and") -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {word} {items[-1]}"


def _duration(ms: int) -> str:
    for unit, size in (("day", 86_400_000), ("hour", 3_600_000), ("minute", 60_000), ("second", 1000)):
        if ms % size == 0:
            n = ms // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{ms} ms"
