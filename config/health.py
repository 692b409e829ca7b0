"""Health endpoints for load balancers and orchestrators (outside the /v2 API and its schema).

GET /healthz: the process answers. Nothing else is touched (no database,
no broker, no credential), so it is also the floor the API benchmark
measures every endpoint against: a bare DRF view served by the same server.

GET /readyz: the process can do its work: the database answers a query,
the broker takes a connection, and a beat leader polled within the last
three polls (so schedules fire). 200 or 503 with the status; operators (the
METRICS_TOKEN bearer, or a staff session) also get each check's result and
the failing ones named in `failing`. Anyone else gets the status alone: the
details name hosts, ports and the beat leader's host and pid. Liveness probes and load balancers use
/healthz (a database outage or a dead beat must not take every web process
out); deploy checks, alerts and readiness gates use /readyz
(docs/operations.md, "Health and readiness").
"""

import logging
import os
import time
from datetime import timedelta

from django.conf import settings
from django.db import connections
from django.db.models import DurationField, ExpressionWrapper, F
from django.db.models.functions import Now
from drf_spectacular.utils import extend_schema
from kombu import Connection
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.metrics import metrics_token_given
from schedules.models import BeatLease
from schedules.selectors import beat_leader

logger = logging.getLogger(__name__)

# A probe must answer before the prober gives up (a Kubernetes probe's default is 1 s).
BROKER_TIMEOUT_SECONDS = 1.0


class HealthView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(exclude=True)
    def get(self, request):
        return Response({"status": "ok"})


class ReadyView(APIView):
    # A staff session (an operator signed in to the admin) sees the details;
    # a probe sends nothing and needs nothing.
    authentication_classes = [SessionAuthentication]
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(exclude=True)
    def get(self, request):
        checks = {name: _run(name, check) for name, check in CHECKS.items()}
        failing = [name for name, result in checks.items() if not result["ok"]]
        body = {"status": "unavailable" if failing else "ok"}
        if details_allowed(request):
            body.update(failing=failing, checks=checks)
        return Response(body, status=503 if failing else 200)


def details_allowed(request) -> bool:
    """Operators only: the METRICS_TOKEN bearer, a signed-in active staff user, or anyone in a debug run without a token (as /metrics)."""
    if metrics_token_given(request):
        return True
    if settings.DEBUG and not settings.METRICS_TOKEN:
        return True
    user = request.user
    return bool(user and user.is_authenticated and user.is_active and user.is_staff)


def _run(name: str, check) -> dict:
    """One check's result, {"ok": bool, "ms": duration, ...}: a check that raises has failed."""
    started = time.monotonic()
    try:
        result = check()
    except Exception as error:  # whatever the driver raises, the dependency is not usable
        logger.warning("readyz: %s check failed: %s", name, error)
        result = {"ok": False, "error": _summary(error)}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def _summary(error: Exception) -> str:
    """The exception's type and first line (driver messages name the host and port, never a password)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


def database_check() -> dict:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def broker_connection() -> Connection:
    """A new connection to the Celery broker, with the settings' transport options (not yet connected)."""
    return Connection(
        settings.CELERY_BROKER_URL,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        connect_timeout=BROKER_TIMEOUT_SECONDS,
    )


def broker_check() -> dict:
    """Redis: a connection and a PING (kombu's Redis channel pings when it opens). Filesystem: its folders exist."""
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        missing = [
            path for path in {options["data_folder_in"], options["data_folder_out"], options["processed_folder"]}
            if not os.path.isdir(path)
        ]
        return {"ok": not missing, **({"error": f"missing folders: {', '.join(sorted(missing))}"} if missing else {})}
    with broker_connection() as conn:
        # No retries: a probe says how things are now; the next probe tries again.
        conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
    return {"ok": True}


def beat_leader_polled() -> tuple[BeatLease, float] | None:
    """The beat lease and how many seconds ago its leader last polled, by the database's clock; None before any beat ran.

    The database's clock on both sides, as the lease itself is judged: the
    web host's clock may differ from the database's and the beat host's.
    """
    lease = beat_leader()
    if lease is None or lease.renewed_at is None:
        return None
    age = (
        BeatLease.objects.filter(pk=lease.pk)
        .annotate(age=ExpressionWrapper(Now() - F("renewed_at"), output_field=DurationField()))
        .values_list("age", flat=True)
        .first()
    )
    return lease, (age or timedelta(0)).total_seconds()


def beat_check() -> dict:
    """A beat leader polled within the last 3 polls (SCHEDULE_POLL_SECONDS): schedules are being fired."""
    limit = 3 * settings.SCHEDULE_POLL_SECONDS
    polled = beat_leader_polled()
    if polled is None:
        return {"ok": False, "error": "no beat has ever run"}
    lease, age = polled
    result = {"holder": lease.holder, "term": lease.term, "last_poll_seconds_ago": round(age, 3), "limit_seconds": limit}
    if age > limit:
        return {"ok": False, **result, "error": f"the beat leader last polled {age:.1f} s ago (limit {limit:g} s)"}
    return {"ok": True, **result}


CHECKS = {"database": database_check, "broker": broker_check, "beat": beat_check}
