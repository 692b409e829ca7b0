"""Pictures for operators, drawn on the server as inline SVG: a schedule's occurrences, and bar charts.

No JavaScript and no chart library: the admin page carries the picture
itself, hover titles (<title>) name each mark, and colours come with a
legend. Text takes the admin theme's colour (light or dark) through
`currentColor`.
"""

import math
from dataclasses import dataclass
from datetime import datetime

from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from core.admin_format import moment

from ..models import Run


@dataclass(frozen=True)
class Outcome:
    key: str
    label: str
    colour: str
    meaning: str


# In legend order. "missed" is a failed run with error_code "missed" (beat did not fire it in time).
OUTCOMES = {
    o.key: o
    for o in (
        Outcome("sent", "sent", "#2e7d32", "its send completed"),
        Outcome("sending", "sending", "#1565c0", "its deliveries are in progress"),
        Outcome("failed", "failed", "#c62828", "the run failed"),
        Outcome("missed", "missed", "#ef6c00", "not fired within the grace period, not sent"),
        Outcome("skipped", "skipped", "#9e9e9e", "fell due while the schedule was paused"),
        Outcome("upcoming", "upcoming", "#5c6bc0", "due later, from the rule"),
    )
}


def run_outcome(run: Run) -> str:
    if run.status == Run.Status.COMPLETED:
        return "sent"
    if run.status == Run.Status.RUNNING:
        return "sending"
    if run.status == Run.Status.SKIPPED:
        return "skipped"
    return "missed" if run.error_code == "missed" else "failed"


def when(value: datetime) -> str:
    """A due time as the console writes instants (core.admin_format), to the millisecond when it has some."""
    return moment(value, millis=True)


@dataclass(frozen=True)
class Mark:
    number: int
    due: datetime
    outcome: str
    detail: str = ""
    href: str = ""


def timeline_marks(runs: list[Run], upcoming: list[tuple[int, datetime]]) -> list[Mark]:
    marks = []
    for run in runs:
        outcome = run_outcome(run)
        detail = ""
        if outcome in ("failed", "missed", "skipped") and (run.error_code or run.error_message):
            detail = f"{run.error_code}: {run.error_message}".strip(": ")
        if run.trigger == Run.Trigger.OPERATOR:
            detail = f"{detail} (run now by an operator)".strip()
        href = reverse("admin:outbound_send_change", args=[run.send_id]) if run.send_id else ""
        marks.append(Mark(run.occurrence_number, run.due_at, outcome, detail, href))
    marks.extend(Mark(k, due, "upcoming") for k, due in upcoming)
    return marks


WIDTH = 960


def schedule_timeline_svg(*, runs: list[Run], upcoming: list[tuple[int, datetime]], label: str) -> SafeString:
    """A row of marks, one per occurrence (the given runs, then the upcoming ones), a "now" line between.

    Marks are evenly spaced in occurrence order rather than by time: a
    schedule's occurrences can be a minute or a month apart, and bursts
    (missed or skipped runs recorded together) stay readable. Each mark's
    hover title gives its number, due time and outcome; a run's mark links to
    its send (the deliveries).
    """
    marks = timeline_marks(runs, upcoming)
    height, track_y, pad = 128, 46, 40  # pad: room for the first and last date labels
    if not marks:
        return _svg(
            label, 40,
            '<text x="0" y="24" font-size="13" fill="currentColor">No runs yet and no occurrence left to come.</text>',
        )
    past = sum(1 for m in marks if m.outcome != "upcoming")
    now_gap = 28 if 0 < past < len(marks) else 0
    step = min(60.0, (WIDTH - 2 * pad - now_gap) / max(len(marks) - 1, 1))
    radius = max(2.5, min(9.0, step * 0.38))
    xs = [pad + i * step + (now_gap if i >= past else 0) for i in range(len(marks))]
    parts = [
        f'<line x1="{xs[0]:.1f}" y1="{track_y}" x2="{xs[-1]:.1f}" y2="{track_y}" stroke="currentColor" '
        'stroke-opacity="0.35" stroke-width="2"/>'
    ]
    if 0 < past < len(marks):
        now_x = (xs[past - 1] + xs[past]) / 2
        parts.append(
            f'<line x1="{now_x:.1f}" y1="8" x2="{now_x:.1f}" y2="{track_y + 22}" stroke="currentColor" '
            'stroke-dasharray="3 3" stroke-opacity="0.7"/>'
            f'<text x="{now_x:.1f}" y="8" font-size="10" text-anchor="middle" fill="currentColor">now</text>'
        )
    number_every = math.ceil(26 / step)
    date_width, last_date_x = 84, -1e9  # a date label is about 80 px wide: never two closer than that
    for i, (mark, x) in enumerate(zip(marks, xs)):
        outcome = OUTCOMES[mark.outcome]
        title = f"#{mark.number} · {when(mark.due)} · {outcome.label}" + (f" · {mark.detail}" if mark.detail else "")
        if mark.outcome == "upcoming":
            shape = (
                f'<circle cx="{x:.1f}" cy="{track_y}" r="{radius:.1f}" fill="none" stroke="{outcome.colour}" '
                'stroke-width="2" stroke-dasharray="2 1.5"/>'
            )
        else:
            shape = f'<circle cx="{x:.1f}" cy="{track_y}" r="{radius:.1f}" fill="{outcome.colour}"/>'
        mark_svg = f'<g class="timeline-mark timeline-{outcome.key}"><title>{escape(title)}</title>{shape}</g>'
        if mark.href:
            mark_svg = f'<a href="{escape(mark.href)}">{mark_svg}</a>'
        parts.append(mark_svg)
        last = i == len(marks) - 1
        if i % number_every == 0 or last:
            parts.append(
                f'<text x="{x:.1f}" y="{track_y - radius - 6:.1f}" font-size="10" text-anchor="middle" '
                f'fill="currentColor">#{mark.number}</text>'
            )
        if x - last_date_x >= date_width:
            last_date_x = x
            local = timezone.localtime(mark.due)
            parts.append(
                f'<text x="{x:.1f}" y="{track_y + radius + 16:.1f}" font-size="10" text-anchor="middle" '
                f'fill="currentColor" fill-opacity="0.8">{local:%m-%d %H:%M:%S}</text>'
            )
    parts.append(_legend(marks, y=height - 14))
    return _svg(label, height, "".join(parts))


def _legend(marks: list[Mark], *, y: int) -> str:
    counts = {key: 0 for key in OUTCOMES}
    for mark in marks:
        counts[mark.outcome] += 1
    items, x = [], 22
    for key, outcome in OUTCOMES.items():
        fill = "none" if key == "upcoming" else outcome.colour
        text = f"{outcome.label} {counts[key]}"
        faded = "" if counts[key] else ' fill-opacity="0.55"'
        items.append(
            f'<g class="timeline-legend-{key}"><title>{escape(outcome.label)}: {escape(outcome.meaning)}</title>'
            f'<circle cx="{x}" cy="{y - 4}" r="6" fill="{fill}" stroke="{outcome.colour}" stroke-width="2"/>'
            f'<text x="{x + 11}" y="{y}" font-size="12" fill="currentColor"{faded}>{escape(text)}</text></g>'
        )
        x += 34 + 7 * len(text)
    return "".join(items)


def _svg(label: str, height: int, body: str) -> SafeString:
    return mark_safe(
        f'<svg class="outbound-chart" role="img" aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {height}" '
        # Its max-width and colour come from schedules/static/schedules/admin.css: no inline style under the CSP.
        f'width="100%" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="var(--font-family-primary, sans-serif)">'
        f"<title>{escape(label)}</title>{body}</svg>"
    )


@dataclass(frozen=True)
class Bar:
    label: str  # under the bar (shown every few bars when crowded)
    count: int
    title: str  # the hover title


def bar_chart_svg(*, bars: list[Bar], colour: str, label: str, height: int = 150) -> SafeString:
    """Vertical bars with their counts above and labels below, scaled to the tallest."""
    if not bars:
        return _svg(label, 30, '<text x="0" y="20" font-size="13" fill="currentColor">Nothing to show.</text>')
    top, bottom, pad = 18, height - 22, 22
    step = (WIDTH - 2 * pad) / len(bars)
    width = max(2.0, step * 0.7)
    tallest = max(bar.count for bar in bars) or 1
    label_every = math.ceil(64 / step)
    parts = [
        f'<line x1="{pad}" y1="{bottom}" x2="{WIDTH - pad}" y2="{bottom}" stroke="currentColor" stroke-opacity="0.35"/>'
    ]
    for i, bar in enumerate(bars):
        x = pad + i * step + (step - width) / 2
        h = (bottom - top) * bar.count / tallest
        parts.append(
            f'<g><title>{escape(bar.title)}</title>'
            f'<rect x="{x:.1f}" y="{bottom - max(h, 1 if bar.count else 0):.1f}" width="{width:.1f}" '
            f'height="{max(h, 1 if bar.count else 0):.1f}" fill="{colour}"/>'
            f'<rect x="{x:.1f}" y="{top}" width="{width:.1f}" height="{bottom - top}" fill="transparent"/></g>'
        )
        if bar.count:
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{bottom - h - 4:.1f}" font-size="10" text-anchor="middle" '
                f'fill="currentColor">{bar.count}</text>'
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + width / 2:.1f}" y="{height - 6}" font-size="10" text-anchor="middle" '
                f'fill="currentColor" fill-opacity="0.8">{escape(bar.label)}</text>'
            )
    return _svg(label, height, "".join(parts))

