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
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.logging.RequestIdFilter"}},
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
    "root": {"handlers": ["stderr"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # One line per gateway request is noise at INFO; failures are logged by us.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # "<worker> ready." and "beat: Starting...": process managers, the e2e
        # tests and the benchmarks wait for them, whatever LOG_LEVEL says.
        "celery.apps.worker": {"level": "INFO"},
        "celery.beat": {"level": "INFO"},
    },
}
