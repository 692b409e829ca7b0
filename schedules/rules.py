"""When occurrences are due: pure arithmetic on the rule, no database, no clock."""

from dataclasses import dataclass
from datetime import datetime, timedelta


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

    def last_due_at(self) -> datetime:
        return self.due_at(self.max_occurrences)

    def occurrences_due_by(self, start: int, moment: datetime) -> int:
        """How many occurrences from `start` on are due at or before `moment` (O(1))."""
        first = self.due_at(start)
        if first is None or first > moment:
            return 0
        if not self.interval_ms:
            return 1
        elapsed_ms = (moment - first) // timedelta(milliseconds=1)
        return min(self.max_occurrences - start + 1, elapsed_ms // self.interval_ms + 1)
