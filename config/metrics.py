"""Prometheus metrics, served as text at GET /metrics (docs/operations.md, "Metrics").

prometheus-client in multiprocess mode: each process (every gunicorn worker,
every Celery prefork child, the test runner) writes its counters to files of
its own in PROMETHEUS_MULTIPROC_DIR, and /metrics adds up every file there,
so one scrape of the web process reports the web workers and the Celery
workers of its host. Counting is a write to a memory-mapped file: cheap
enough for the hot paths (one inc per recorded batch, no query).

Files are removed when their process is gone for good: a process that
starts (the gunicorn master, the Celery worker's main process) removes the
files of processes no longer running, and a process that exits is marked
dead (`process_dead`: gunicorn's child_exit, Celery's
worker_process_shutdown), which drops its live gauges. Counters of a worker
that died during the run are kept until then, so a total never goes down
mid-run.

What the database and the broker hold (queue depth, beat leader, sessions)
is read when scraped (StateCollector), not counted.
"""

import glob
import hmac
import logging
import os
import time

from django.conf import settings
from django.http import JsonResponse

# prometheus-client chooses multiprocess mode when it is first imported, from
# PROMETHEUS_MULTIPROC_DIR, which the settings export: load them first.
_ = settings.PROMETHEUS_MULTIPROC_DIR

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess  # noqa: E402
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from prometheus_client.django import PrometheusDjangoView  # noqa: E402

logger = logging.getLogger(__name__)

# What the processes count is defined beside the code that counts it:
# outbound/metrics.py (deliveries), schedules/metrics.py (fire lag),
# webhooks/metrics.py (webhook attempts). Apps never import config.


# ------------------------------------------------------------------------------
# Read when scraped
# ------------------------------------------------------------------------------
class StateCollector:
    """Gauges read at scrape time from the broker and the database; a source that fails is left out of the scrape."""

    def collect(self):
        families = (
            ("queue depth", _queue_depth), ("beat leader", _beat_leader), ("sessions", _sessions),
            ("webhook endpoints", _webhook_endpoints), ("dependencies", _dependencies_up),
        )
        for name, family in families:
            try:
                yield from family()
            except Exception:  # a scrape still answers with what it could read
                logger.warning("metrics: could not read %s", name, exc_info=True)


def _queue_depth():
    from schedules.selectors import queue_depths

    gauge = GaugeMetricFamily("outbound_queue_depth", "Messages waiting in a Celery queue (fires, deliveries).", labels=["queue"])
    for queue in queue_depths():
        if queue.depth is not None:  # not measurable (the broker did not answer, or its folder is unreadable): left out
            gauge.add_metric([queue.queue], queue.depth)
    yield gauge


def _beat_leader():
    from config.health import beat_leader_polled

    polled = beat_leader_polled()
    lease, age = polled if polled else (None, None)
    live = lease is not None and bool(lease.is_live)
    yield GaugeMetricFamily("outbound_beat_leader", "1 while a beat holds a live leader lease (schedules fire), else 0.", value=int(live))
    if lease is not None:
        yield GaugeMetricFamily("outbound_beat_leader_term", "The leader lease's term: it moves at every change of leader.", value=lease.term)
        yield GaugeMetricFamily(
            "outbound_beat_last_poll_age_seconds", "Seconds since the beat leader last polled (database clock).", value=age
        )


def _sessions():
    from django.db.models import Count

    from outbound.models import Session

    gauge = GaugeMetricFamily("outbound_sessions", "Sessions by gateway status and role.", labels=["status", "role"])
    counts = {(row["status"], row["role"]): row["n"] for row in Session.objects.values("status", "role").annotate(n=Count("pk"))}
    for role in Session.Role.values:
        for status in Session.Status.values:
            gauge.add_metric([status, role], counts.pop((status, role), 0))
    for (status, role), n in counts.items():  # a status the gateway reported that we do not list
        gauge.add_metric([status, role], n)
    yield gauge


def _webhook_endpoints():
    from django.db.models import Count, Q

    from webhooks.models import WebhookEndpoint

    gauge = GaugeMetricFamily(
        "outbound_webhook_endpoints", "Customer webhook endpoints by status: active, off (by the customer), disabled (by the system).",
        labels=["status"],
    )
    counts = WebhookEndpoint.objects.aggregate(
        disabled=Count("pk", filter=~Q(disabled_reason="")),
        off=Count("pk", filter=Q(disabled_reason="", enabled=False)),
        active=Count("pk", filter=Q(disabled_reason="", enabled=True)),
    )
    for status in WebhookEndpoint.Status.values:
        gauge.add_metric([status], counts[status])
    yield gauge


def _dependencies_up():
    """1 or 0 per dependency, by the same checks as /readyz: a dependency that cannot be reached is a 0, never a gap.

    An alert on a missing series fires late and says less than one on a
    value; the web process answers /metrics from its own files even while
    the database and the broker are down, so the 0 reaches Prometheus.
    """
    from config.health import broker_check, database_check

    gauge = GaugeMetricFamily(
        "outbound_dependency_up", "1 while this web process reaches the dependency (as /readyz checks it), else 0.", labels=["dependency"]
    )
    for name, check in (("database", database_check), ("broker", broker_check)):
        try:
            up = bool(check()["ok"])
        except Exception as error:  # whatever the driver raises, the dependency is not usable
            logger.warning("metrics: %s unreachable: %s", name, error)
            up = False
        gauge.add_metric([name], int(up))
    yield gauge


def registry_build() -> CollectorRegistry:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
    registry.register(StateCollector())
    return registry


# ------------------------------------------------------------------------------
# Counted by the web processes
# ------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "outbound_http_requests",
    "Requests answered, by surface (api: /v2, admin, other) and status class (2xx, 3xx, 4xx, 5xx); probes and /metrics left out.",
    ["surface", "status_class"],
)
HTTP_REQUEST_DURATION = Histogram(
    "outbound_http_request_duration_seconds",
    "Time to answer a request inside Django (the web tier's queue not included), by surface; probes and /metrics left out.",
    ["surface"],
    # The API's budget is tens of milliseconds; the web tier gives up at 30 s.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# Probes and scrapes come every few seconds whatever the traffic: counted, they would
# drown the rate and the latency of the requests people and customers make.
_NOT_COUNTED = frozenset({"/healthz", "/readyz", "/metrics"})


def _surface(path: str) -> str:
    if path.startswith("/v2/"):
        return "api"
    if path.startswith("/admin/"):
        return "admin"
    return "other"


class RequestMetricsMiddleware:
    """Counts and times every answered request (outbound_http_*): one counter inc and one observation, no query."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path in _NOT_COUNTED:
            return self.get_response(request)
        started = time.monotonic()
        response = self.get_response(request)  # Django turns an exception into a 500 below this middleware
        surface = _surface(request.path)
        HTTP_REQUESTS.labels(surface, f"{response.status_code // 100}xx").inc()
        HTTP_REQUEST_DURATION.labels(surface).observe(time.monotonic() - started)
        return response


# ------------------------------------------------------------------------------
# GET /metrics
# ------------------------------------------------------------------------------
class MetricsView(PrometheusDjangoView):
    """prometheus-client's own view (text format, OpenMetrics when asked), behind METRICS_TOKEN.

    With METRICS_TOKEN set, a scraper sends `Authorization: Bearer <token>`.
    Without one, metrics are open in debug runs (bin/start) and refused
    otherwise: they name queues and counts nobody outside should see.
    """

    registry = None  # built at the first scrape (the settings name the folder)

    def dispatch(self, request, *args, **kwargs):
        refusal = _refusal(request)
        if refusal is not None:
            return refusal
        if self.registry is None:
            type(self).registry = registry_build()
        return super().dispatch(request, *args, **kwargs)


def metrics_token_given(request) -> bool:
    """The request carries `Authorization: Bearer <METRICS_TOKEN>` (never true while no token is set)."""
    token = settings.METRICS_TOKEN
    if not token:
        return False
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _refusal(request) -> JsonResponse | None:
    from core.api.errors import error_body

    token = settings.METRICS_TOKEN
    if not token:
        if settings.DEBUG:
            return None
        body = error_body(request, code="metrics_off", message="Set METRICS_TOKEN to read metrics (sent as a bearer token).")
        return JsonResponse(body, status=403)
    if metrics_token_given(request):
        return None
    body = error_body(request, code="unauthorized", message="Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.")
    response = JsonResponse(body, status=401)
    response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


# ------------------------------------------------------------------------------
# Files of processes that are gone
# ------------------------------------------------------------------------------
def files_of_dead_processes_remove() -> int:
    """Remove the metric files of processes no longer running (at a start); how many were removed.

    By process id, so the folder must belong to processes of one host (one
    pid namespace): a web start must not remove the files of the running
    Celery workers beside it, as emptying the folder would.
    """
    removed = 0
    for path in glob.glob(os.path.join(settings.PROMETHEUS_MULTIPROC_DIR, "*.db")):
        try:
            pid = int(os.path.basename(path)[: -len(".db")].rsplit("_", 1)[1])
        except (IndexError, ValueError):
            continue
        if not _running(pid):
            try:
                os.remove(path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def process_dead(pid: int) -> None:
    """A process exited: its live gauges go (its counters stay, so totals do not go down)."""
    multiprocess.mark_process_dead(pid, settings.PROMETHEUS_MULTIPROC_DIR)
