"""When occurrences are due: pure functions of the rule, no database, no clock.

Two rules share one interface, `next_due(k, after)`: the due time of
occurrence k given that occurrence k-1 was due at `after` (None for k = 1),
or None when the rule has no occurrence k.

Calendar rules are computed with zoneinfo (never celery's crontab, which has
open DST bugs). A local time that does not exist on a day (spring forward)
is sent at the first valid minute after it; one that exists twice (fall
back) is sent once, at its first instance.
"""

import zoneinfo
from dataclasses import dataclass, replace
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

    def summary(self) -> str:
        if self.max_occurrences == 1:
            return f"Once at {self.first_run_at:%Y-%m-%d %H:%M:%S} UTC"
        return f"Every {_duration(self.interval_ms)}, {self.max_occurrences} times from {self.first_run_at:%Y-%m-%d %H:%M:%S} UTC"


def local_due(day: date, send_time: time, zone: zoneinfo.ZoneInfo) -> datetime:
    """The UTC instant of `send_time` on `day` in `zone`, by the DST rules above."""
    wall = datetime.combine(day, send_time)
    # fold=0 is the first instance of an ambiguous (fall back) wall time.
    candidate = wall.replace(tzinfo=zone, fold=0)
    if candidate.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) == wall:
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
    """On the given weekdays at a local time, from start_date through end_date (inclusive)."""

    days_of_week: tuple[int, ...]  # 0 = Monday
    send_time: time
    timezone: str
    start_date: date
    end_date: date | None
    max_occurrences: int

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def next_due(self, k: int, after: datetime | None = None) -> datetime | None:
        """Occurrence k: the first matching local day whose send time is after `after`."""
        if k < 1 or k > self.max_occurrences:
            return None
        day = self.start_date
        if after is not None:
            day = max(day, after.astimezone(self.zone).date())
        for _ in range(8):  # a matching weekday is at most a week away
            if self.end_date is not None and day > self.end_date:
                return None
            if day.weekday() in self.days_of_week:
                due = local_due(day, self.send_time, self.zone)
                if after is None or due > after:
                    return due
            day += timedelta(days=1)
        return None  # pragma: no cover - days_of_week is never empty

    def count_through_end(self, limit: int = MAX_OCCURRENCES + 1) -> int:
        """How many occurrences the dates allow (up to `limit`), ignoring max_occurrences."""
        if self.end_date is None:
            return limit
        days = (self.end_date - self.start_date).days + 1
        weeks, rest = divmod(max(days, 0), 7)
        count = weeks * len(self.days_of_week)
        count += sum(1 for i in range(rest) if (self.start_date + timedelta(days=i)).weekday() in self.days_of_week)
        return min(count, limit)

    def summary(self, first_day: date | None = None) -> str:
        """e.g. "Fri, Sat, Sun at 14:30 Africa/Cairo until 31 Aug 2025".

        `first_day` is the local day of the first occurrence: days between
        start_date and it never run (the start date was today and today's
        time had passed), so they must not make max_occurrences look like a cap.
        """
        names = ", ".join(DAY_NAMES[d][:3].capitalize() for d in sorted(self.days_of_week))
        if len(self.days_of_week) == 7:
            names = "Every day"
        clock = self.send_time.strftime("%H:%M:%S" if self.send_time.second else "%H:%M")
        text = f"{names} at {clock} {self.timezone}"
        if self.end_date is not None:
            text += f" until {self.end_date.day} {self.end_date:%b %Y}"
        dates = self if first_day is None else replace(self, start_date=max(self.start_date, first_day))
        if self.max_occurrences < min(MAX_OCCURRENCES, dates.count_through_end()):
            text += f", at most {self.max_occurrences} times"
        return text


def iterate(rule, k: int, due: datetime | None, limit: int):
    """Up to `limit` (occurrence, due) pairs from occurrence k, due at `due`."""
    while due is not None and limit > 0:
        yield k, due
        k, limit = k + 1, limit - 1
        due = rule.next_due(k, due)


def _duration(ms: int) -> str:
    for unit, size in (("day", 86_400_000), ("hour", 3_600_000), ("minute", 60_000), ("second", 1000)):
        if ms % size == 0:
            n = ms // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{ms} ms"
