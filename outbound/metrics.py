"""Counters of what deliveries became, for GET /metrics (docs/operations.md, "Metrics").

prometheus-client in multiprocess mode (config/metrics.py adds up every
process's files): counting is a write to a memory-mapped file, cheap enough
for the hot path (one inc per status per recorded batch, no query).
"""

from collections import Counter as Tally

from django.conf import settings

# prometheus-client chooses multiprocess mode when it is first imported, from
# PROMETHEUS_MULTIPROC_DIR, which the settings export: load them first.
_ = settings.PROMETHEUS_MULTIPROC_DIR

from prometheus_client import Counter, Histogram  # noqa: E402

DELIVERIES = Counter(
    "outbound_deliveries",
    "Deliveries that reached a final status: sent, failed, expired (recorded by a worker), skipped (frequency cap).",
    ["status"],
)


def deliveries_finished(statuses) -> None:
    """Count deliveries that reached these final statuses (one inc per status, however many deliveries)."""
    for status, count in Tally(statuses).items():
        DELIVERIES.labels(status).inc(count)


DEFERRED = Counter(
    "outbound_deliveries_deferred",
    "Deliveries put back to wait (still queued, not failed) by reason: quiet_hours or daily_cap; one per deferral.",
    ["reason"],
)


def deliveries_deferred(reason: str, count: int = 1) -> None:
    DEFERRED.labels(reason).inc(count)


# Human-like sends (outbound.services.deliveries.typing). Buckets in seconds,
# from the shortest typing a session may set to the longest (a minute).
TYPING_SECONDS = Histogram(
    "outbound_typing_seconds",
    "Typing time shown before a message by human-like sessions (the message went out this long after the chat was marked seen).",
    buckets=(0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60),
)
TYPING_CALLS_FAILED = Counter(
    "outbound_typing_calls_failed",
    "Seen or typing calls the gateway refused (the message was sent anyway), by error code.",
    ["code"],
)


def typing_started(seconds: float) -> None:
    TYPING_SECONDS.observe(seconds)


def typing_call_failed(code: str) -> None:
    TYPING_CALLS_FAILED.labels(code).inc()
