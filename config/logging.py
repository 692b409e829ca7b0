"""Log line helpers for the LOGGING setting (config/settings/observability.py): request ids on every line, fields in text too.

State changes are logged with their ids as `extra=` fields ("event",
"send_id", "delivery_id", "schedule_id", "occurrence", "request_id"...):
the JSON formatter (python-json-logger) writes each as a key, and
TextFormatter appends them as key=value for a person reading a terminal.
"""

import logging

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
