"""Metrics and logs."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .base import DEBUG
from .environment import VAR_DIR, env

# ------------------------------------------------------------------------------
# Metrics: Prometheus text at GET /metrics (docs/operations.md, "Metrics").
# https://prometheus.github.io/client_python/multiprocess/
# ------------------------------------------------------------------------------
# Every process of a host writes its counters to files in this folder (one
# per process; keep it per host, e.g. a tmpfs), and /metrics adds them up.
# prometheus-client reads it from the environment when it is first imported.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default=str(VAR_DIR / "metrics"))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = PROMETHEUS_MULTIPROC_DIR
Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# Scrapers send it as `Authorization: Bearer <token>`. Empty: /metrics is
# open in debug runs and refused otherwise.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# ------------------------------------------------------------------------------
# Logging: one line per event on stderr, for the process manager to collect:
# JSON (python-json-logger) in production, plain text in debug runs. State
# changes (send accepted, occurrence fired, delivery sent/failed, webhook
# delivered) carry their ids as fields; lines logged while serving a request
# carry its request_id (config/logging.py). Celery's processes use this too
# (config/celery_app.py).
# https://docs.djangoproject.com/en/5.2/topics/logging/
# ------------------------------------------------------------------------------
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: use json or text.")
# INFO: one line per thing an operator acts on (a send accepted, an occurrence
# fired, a delivery finished, a schedule paused, a webhook failing or an
# endpoint disabled). DEBUG adds Celery's per-task lines (received, succeeded,
# beat's "Sending due task") and every library's detail.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
# Celery's per-task lines, as DEBUG lines: on with LOG_LEVEL=DEBUG, or alone
# (without every library's DEBUG detail) with LOG_CELERY_TASKS=1.
LOG_CELERY_TASKS = env.bool("LOG_CELERY_TASKS", default=LOG_LEVEL == "DEBUG")
# Celery builds its per-task lines only when these loggers allow INFO: when
# nothing shows them (config.logging.RoutineAtDebug), spare the work.
_CELERY_PER_TASK_LEVEL = "DEBUG" if LOG_CELERY_TASKS else "WARNING"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "config.logging.RequestIdFilter"},
        # Celery's per-task lines at DEBUG (config/logging.py says why a filter and not a level).
        "celery_per_task": {"()": "config.logging.RoutineAtDebug", "shown": LOG_CELERY_TASKS},
        "beat_sending_due": {
            "()": "config.logging.RoutineAtDebug", "shown": LOG_CELERY_TASKS, "prefixes": ["Scheduler: Sending due task"],
        },
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",
        },
        "text": {"()": "config.logging.TextFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        # One line per gateway request is noise at INFO; failures are logged by us.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # "<worker> ready." and "beat: Starting...": process managers, the e2e
        # tests and the benchmarks wait for them, whatever LOG_LEVEL says.
        "celery.apps.worker": {"level": "INFO"},
        "celery.beat": {"level": "INFO", "filters": ["beat_sending_due"]},
        # "Task ... received" (worker.strategy), "Task ... succeeded in" (app.trace).
        "celery.worker.strategy": {"level": _CELERY_PER_TASK_LEVEL, "filters": ["celery_per_task"]},
        "celery.app.trace": {"level": _CELERY_PER_TASK_LEVEL, "filters": ["celery_per_task"]},
    },
}
