"""How late occurrences start, for GET /metrics (docs/operations.md, "Metrics")."""

import time

from django.conf import settings
from django.db.models import Count

# prometheus-client chooses multiprocess mode when it is first imported (see outbound/metrics.py).
_ = settings.PROMETHEUS_MULTIPROC_DIR

from prometheus_client import Histogram  # noqa: E402

FIRE_LAG = Histogram(
    "outbound_schedule_fire_lag_seconds",
    "How late an occurrence started: its run's started_at minus its due time (0 for an operator's run ahead of time).",
    # account: the schedule's account when it is among the SCHEDULE_FIRE_LAG_TOP_ACCOUNTS with the most
    # active schedules, else "other": an operator sees whose fires are late, and the series stay bounded.
    ["trigger", "account"],
    # A healthy beat fires within a poll (1 s); the grace for a late fire is 600 s.
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 600),
)


OTHER_ACCOUNTS = "other"
# How often a process asks again which accounts are the top ones (one grouped query).
TOP_ACCOUNTS_REFRESH_SECONDS = 300.0
_top_accounts: tuple[float, frozenset[str]] | None = None  # (monotonic time asked, account ids)


def top_accounts_forget() -> None:
    """Ask again at the next fire (tests; an operator changing SCHEDULE_FIRE_LAG_TOP_ACCOUNTS restarts anyway)."""
    global _top_accounts
    _top_accounts = None


def account_label(account_id) -> str:
    """The account's id if it is a top account (by active schedules; the same in every process), else "other"."""
    global _top_accounts
    if _top_accounts is None or time.monotonic() - _top_accounts[0] > TOP_ACCOUNTS_REFRESH_SECONDS:
        from schedules.models import Schedule

        top = (
            Schedule.objects.filter(status__in=Schedule.ACTIVE)
            .values("account_id").annotate(n=Count("id")).order_by("-n", "account_id")
            .values_list("account_id", flat=True)[: settings.SCHEDULE_FIRE_LAG_TOP_ACCOUNTS]
        )
        _top_accounts = (time.monotonic(), frozenset(str(a) for a in top))
    return str(account_id) if str(account_id) in _top_accounts[1] else OTHER_ACCOUNTS


def fire_lag_observe(*, trigger: str, seconds: float, account_id=None) -> None:
    FIRE_LAG.labels(trigger, account_label(account_id) if account_id is not None else OTHER_ACCOUNTS).observe(max(0.0, seconds))
