"""Customer webhook attempts by outcome, for GET /metrics (docs/operations.md, "Metrics")."""

from django.conf import settings

# prometheus-client chooses multiprocess mode when it is first imported (see outbound/metrics.py).
_ = settings.PROMETHEUS_MULTIPROC_DIR

from prometheus_client import Counter  # noqa: E402

WEBHOOK_DELIVERIES = Counter(
    "outbound_webhook_deliveries",
    "Customer webhook attempts by outcome: succeeded, retrying (a later attempt is scheduled), failed (given up).",
    ["result"],
)


def webhook_attempt_count(result: str) -> None:
    WEBHOOK_DELIVERIES.labels(result).inc()
