"""How late occurrences start, for GET /metrics (docs/operations.md, "Metrics")."""

from django.conf import settings

# prometheus-client chooses multiprocess mode when it is first imported (see outbound/metrics.py).
_ = settings.PROMETHEUS_MULTIPROC_DIR

from prometheus_client import Histogram  # noqa: E402

FIRE_LAG = Histogram(
    "outbound_schedule_fire_lag_seconds",
    "How late an occurrence started: its run's started_at minus its due time (0 for an operator's run ahead of time).",
    ["trigger"],
    # A healthy beat fires within a poll (1 s); the grace for a late fire is 600 s.
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 600),
)


def fire_lag_observe(*, trigger: str, seconds: float) -> None:
    FIRE_LAG.labels(trigger).observe(max(0.0, seconds))
