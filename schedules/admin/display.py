"""What the schedule pages say about a schedule in words: its rule in short, what comes next, an edit's diff.

Kept apart from the ModelAdmin so each reads alone (and new fields, e.g. a
daily cap or quiet hours, get their words here next to the others).
"""

from datetime import datetime

from django.utils.html import format_html, format_html_join

from core.admin_format import moment

from ..models import Schedule
from ..rules import DAY_NAMES, MAX_OCCURRENCES

# A calendar's times shown in a list cell before "+N more".
LIST_TIMES = 2


def _every(ms: int) -> str:
    for unit, size in (("day", 86_400_000), ("hour", 3_600_000), ("minute", 60_000), ("second", 1000)):
        if ms % size == 0:
            n = ms // size
            return f"every {unit}" if n == 1 else f"every {n} {unit}s"
    return f"every {ms} ms"


def _days(schedule: Schedule) -> str:
    weekdays = [DAY_NAMES.index(d) for d in schedule.days_of_week]
    names = ", ".join(DAY_NAMES[d][:3].capitalize() for d in sorted(weekdays))
    if schedule.days_of_month:
        days = ", ".join("last" if d == -1 else str(d) for d in sorted(schedule.days_of_month, key=lambda d: d % 32))
        days = f"day {days} of the month"
        return f"{names} on {days}" if names and len(weekdays) < 7 else days[0].upper() + days[1:]
    return "Every day" if len(weekdays) in (0, 7) else names


def rule_short(schedule: Schedule) -> str:
    """One line for a list cell, e.g. "Once", "Hourly x 5" or "Fri, Sat at 14:30, 18:00 +1 (Africa/Cairo)".

    The full rule (dates, skips, caps) is on the schedule's page (Schedule.rule_summary).
    """
    if schedule.kind == Schedule.Kind.CALENDAR:
        times = schedule.send_times or ([schedule.send_time.strftime("%H:%M")] if schedule.send_time else [])
        times = [t[:5] for t in times]
        shown = ", ".join(times[:LIST_TIMES]) + (f" +{len(times) - LIST_TIMES}" if len(times) > LIST_TIMES else "")
        return f"{_days(schedule)} at {shown} ({schedule.timezone})"
    if schedule.max_occurrences == 1 or not schedule.interval_ms:
        return "Once"
    every = _every(schedule.interval_ms)
    return f"{every[0].upper()}{every[1:]}, {schedule.max_occurrences} times"


def rule_full(schedule: Schedule) -> str:
    """The whole rule: a calendar's in its own zone (Schedule.rule_summary), an interval's start in the operator's."""
    if schedule.kind == Schedule.Kind.CALENDAR:
        return schedule.rule_summary
    first = moment(schedule.first_run_at, millis=True)
    if schedule.max_occurrences == 1 or not schedule.interval_ms:
        return f"Once at {first}"
    every = _every(schedule.interval_ms)
    return f"{every[0].upper()}{every[1:]}, {schedule.max_occurrences} times from {first}"


def next_up(schedule: Schedule) -> str:
    """What fires next, in words: "#4 of 5 at 2026-12-04 21:30:05 EET", or why nothing does.

    next_occurrence counts on past the last occurrence once none is left (3 for
    a schedule of 2), so it is shown only with a due time.
    """
    if schedule.next_run_at is not None:
        # "of N" only for a real cap (a calendar without one stores the ceiling, 10000).
        of = f" of {schedule.max_occurrences}" if schedule.max_occurrences < MAX_OCCURRENCES else ""
        return f"#{schedule.next_occurrence}{of} at {moment(schedule.next_run_at, millis=True)}"
    if schedule.status == Schedule.Status.PAUSED:
        return "nothing while paused (resuming continues with the next occurrence due after that moment)"
    if schedule.status == Schedule.Status.CANCELED:
        return "nothing: canceled"
    return f"nothing: all {schedule.run_count} occurrence(s) ran"


def continues_at(upcoming: list) -> str:
    """When a paused schedule would continue if resumed now, from schedule_preview's (occurrence, due) pairs."""
    if not upcoming:
        return "never: no occurrence is left after now"
    k, due = upcoming[0]
    return f"occurrence #{k} at {moment(due, millis=True)}"


def _value(value) -> str:
    if value is None or value == "" or value == []:
        return "(empty)"
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        try:  # an instant, as the audit stores it (ISO 8601, UTC): written as everywhere else in the console
            return moment(datetime.fromisoformat(value.replace("Z", "+00:00")), millis=True)
        except ValueError:
            pass
    if isinstance(value, dict) and "sha256" in value:
        return f"{value.get('length', '?')} characters"  # text is audited as a hash, never in clear
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def change_lines(changes: dict) -> list[tuple[str, str]]:
    """A ScheduleChange's {"field": [old, new]} as (field, "old → new") pairs; an action ({"run_now": {...}}) as its details."""
    lines = []
    for field, change in changes.items():
        if isinstance(change, list) and len(change) == 2:
            old, new = change
            if isinstance(old, dict) and isinstance(new, dict) and "sha256" in old and "sha256" in new:
                lines.append((field, f"changed ({_value(old)} → {_value(new)})"))
            else:
                lines.append((field, f"{_value(old)} → {_value(new)}"))
        else:
            lines.append((field.replace("_", " "), _value(change)))
    return lines


def change_diff_html(changes: dict):
    return format_html(
        '<ul class="change-diff">{}</ul>',
        format_html_join("", "<li><strong>{}</strong>: {}</li>", change_lines(changes)),
    )
