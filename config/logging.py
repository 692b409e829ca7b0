"""Log line helpers for the LOGGING setting (config/settings/observability.py): request ids on every line, fields in text too.

State changes are logged with their ids as `extra=` fields ("event",
"send_id", "delivery_id", "schedule_id", "occurrence", "request_id"...):
the JSON formatter (python-json-logger) writes each as a key, and
TextFormatter appends them as key=value for a person reading a terminal.
"""

import logging
from collections.abc import Iterable

from pythonjsonlogger.core import RESERVED_ATTRS

from core.middleware import current_request_id

_STANDARD = frozenset(RESERVED_ATTRS) | {"message", "asctime"}


class RequestIdFilter(logging.Filter):
    """Give a line logged while serving a request that request's id, unless it names one itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            request_id = current_request_id.get()
            if request_id:
                record.request_id = request_id
        return True


class TextFormatter(logging.Formatter):
    """The usual one-line format, then the fields of a state-change line (and any line's request_id) as key=value.

    Only those: libraries pass `extra=` too (Celery a dict of each task's
    arguments), which JSON keeps as a field and a terminal does not need twice.
    """

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if hasattr(record, "event"):
            names = [key for key in record.__dict__ if key not in _STANDARD]
        else:
            names = ["request_id"]
        fields = " ".join(f"{key}={getattr(record, key)}" for key in names if getattr(record, key, None) not in ("", None))
        if not fields:
            return line
        # Keep a traceback (added by super()) after the fields, at the end where readers look for it.
        first, newline, rest = line.partition("\n")
        return f"{first} {fields}{newline}{rest}"


class RoutineAtDebug(logging.Filter):
    """Celery's per-task lines as DEBUG lines, shown only when asked for (LOG_LEVEL=DEBUG or LOG_CELERY_TASKS).

    Celery logs each task received, each task succeeded (the worker) and each
    periodic task sent (beat) at INFO: the same short tasks every 5 s, three
    quarters of a quiet service's lines. Celery has no setting for their
    level, and beat's "beat: Starting..." (which process managers and the e2e
    tests wait for) shares its logger with "Sending due task", so a logger's
    level alone cannot do it. Attached to the logger itself (LOGGING
    "loggers"), this filter sees each record that logger makes, before any
    handler: an INFO record whose message starts with one of `prefixes` (any
    INFO record, without prefixes) becomes a DEBUG record, dropped unless
    `shown`. Warnings and errors (a task failing) pass as they are.
    """

    def __init__(self, shown: bool = False, prefixes: Iterable[str] = ()):
        super().__init__()
        self.shown = shown
        self.prefixes = tuple(prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        if self.prefixes and not str(record.msg).startswith(self.prefixes):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self.shown
