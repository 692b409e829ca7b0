"""The operators' dashboard (Admin → Dashboard): what sends soon, what failed, what is stuck, who fires.

One page, read-only, a handful of queries: occurrences due in the next hour,
runs failed in the last 24 hours, sessions not WORKING, unhealthy sessions, the Celery queues'
depths and the beat leader. Bars are inline SVG (schedules.admin.timeline).
"""

from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils import timezone

from core.admin_format import moment

from .. import selectors
from .display import rule_full
from .timeline import OUTCOMES, Bar, bar_chart_svg

DUE_WINDOW = timedelta(hours=1)
DUE_BUCKET = timedelta(minutes=5)
FAILED_WINDOW = timedelta(hours=24)

# The admin index links here (admin/schedules/index.html adds a "Dashboard" box above the apps).
admin.site.index_template = "admin/schedules/index.html"


def _due_bars(due: list[selectors.DueSchedule], now) -> list[Bar]:
    """Occurrences per 5 minutes over the next hour (overdue ones in the first bar)."""
    buckets = int(DUE_WINDOW / DUE_BUCKET)
    counts = [0] * buckets
    for item in due:
        for at in item.due:
            counts[min(max(int((at - now) / DUE_BUCKET), 0), buckets - 1)] += 1
    bars = []
    for i, count in enumerate(counts):
        start = timezone.localtime(now + i * DUE_BUCKET)
        end = start + DUE_BUCKET
        bars.append(Bar(f"{start:%H:%M}", count, f"{count} occurrence(s) due {moment(start)} to {end:%H:%M:%S}"))
    return bars


def _failed_bars(by_hour: dict, now) -> list[Bar]:
    """Failed runs per hour of the operator's day, the last 24 hours (oldest first)."""
    this_hour = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    counts = {timezone.localtime(hour): n for hour, n in by_hour.items()}
    bars = []
    for back in range(23, -1, -1):
        hour = this_hour - timedelta(hours=back)
        n = counts.get(hour, 0)
        bars.append(Bar(f"{hour:%H}h", n, f"{n} run(s) failed {moment(hour)} to {hour + timedelta(hours=1):%H:%M:%S}"))
    return bars


def dashboard_view(model_admin, request):
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    now = timezone.now()
    due, due_total = selectors.occurrences_due_within(window=DUE_WINDOW, now=now)
    failed = selectors.runs_failed_since(since=now - FAILED_WINDOW)
    leader = selectors.beat_leader()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": "Dashboard",
        "opts": model_admin.opts,
        "now": now,
        "due": due,
        "due_rows": [(item, rule_full(item.schedule)) for item in due],  # the rule as the schedule's page words it
        "due_total": due_total,
        "due_occurrences": sum(len(item.due) for item in due),
        "due_chart": bar_chart_svg(
            bars=_due_bars(due, now), colour=OUTCOMES["upcoming"].colour,
            label="Occurrences due in the next hour, per 5 minutes",
        ),
        "failed": failed,
        "failed_chart": bar_chart_svg(
            bars=_failed_bars(failed.by_hour, now), colour=OUTCOMES["failed"].colour,
            label="Runs failed in the last 24 hours, per hour",
        ),
        "sessions": list(selectors.sessions_not_working()),
        "unhealthy_sessions": list(selectors.sessions_unhealthy()),
        "queues": selectors.queue_depths(),
        "queue_method": (
            "files waiting in the filesystem broker's folder" if settings.CELERY_BROKER_URL.startswith("filesystem://")
            else "Redis LLEN"
        ),
        "leader": leader,
        # On the database's clock, as the lease itself (a web host's clock may differ from it).
        "leader_poll_age": leader.poll_age.total_seconds() if leader and leader.poll_age is not None else None,
    }
    return TemplateResponse(request, "admin/schedules/dashboard.html", context)
