"""Load shedding for sync gunicorn workers: past capacity, refuse in a millisecond instead of queueing.

A sync worker serves one request at a time; requests beyond its capacity
wait in the listen socket's backlog, where nothing sees them age: at twice
the capacity every request would wait longer and longer until clients time
out. A worker cannot read how long a request waited, but it can tell that
there is a queue: when it never waits between two requests, the next one
was already there. After WEB_SHED_AFTER_MS of that without a break, the
requests in the backlog have waited up to that long, so it answers them
`503 overloaded` (with Retry-After, in the API's error shape) without
running them, which drains the backlog in milliseconds; the first pause
between requests means the queue is gone and it serves again. Accepted
requests therefore wait at most about WEB_SHED_AFTER_MS; refused ones
changed nothing and can be retried.

Health checks and metrics are never refused: an overloaded process is
alive, and a load balancer must not take it out for doing its job.
"""

import json
import time

from outbound.ids import new_id

# A worker that waited this long between two requests had no queue behind it.
IDLE_GAP_SECONDS = 0.002
EXEMPT_PATHS = ("/healthz", "/readyz", "/metrics")


class LoadShedder:
    def __init__(self, app, *, busy_limit_seconds: float):
        self.app = app
        self.busy_limit = busy_limit_seconds
        self._last_end = 0.0
        self._busy_since = 0.0

    def __call__(self, environ, start_response):
        start = time.monotonic()
        if start - self._last_end > IDLE_GAP_SECONDS:
            self._busy_since = start  # it waited for this request: the backlog was empty
        try:
            if self.busy_limit and start - self._busy_since > self.busy_limit and not _exempt(environ):
                return _refuse(environ, start_response)
            return self.app(environ, start_response)
        finally:
            self._last_end = time.monotonic()


def _exempt(environ) -> bool:
    return environ.get("PATH_INFO", "").startswith(EXEMPT_PATHS)


def _refuse(environ, start_response):
    request_id = str(new_id())
    body = json.dumps(
        {
            "error": {
                "code": "overloaded",
                "message": "The service is at capacity; retry after the number of seconds in Retry-After.",
                "details": {},
            },
            "request_id": request_id,
        }
    ).encode()
    start_response(
        "503 Service Unavailable",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Retry-After", "1"),
            ("X-Request-ID", request_id),
        ],
    )
    return [body]
