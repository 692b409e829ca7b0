"""Load shedding for sync gunicorn workers: past capacity, refuse in a millisecond instead of queueing.

A sync worker serves one request at a time; requests beyond the workers'
capacity wait in the listen socket's accept queue, where nothing sees them
age: at twice the capacity every request would wait longer and longer until
clients time out. The kernel does know how long that queue is (Linux
reports it for a listening socket in TCP_INFO, as `ss` shows it), and each
worker knows how long it takes to serve a request. So before serving one, a
worker estimates the wait of what is queued behind it:

    queued connections x its mean service time / workers

and when that is over WEB_SHED_AFTER_MS it answers `503 overloaded` (with
Retry-After, in the API's error shape) without running the request, which
drains the queue in milliseconds, until the estimate is below the limit
again. Accepted requests therefore wait about that long at most; refused
ones changed nothing and can be retried. A client sending requests one
after another never builds a queue, so it is never refused.

Health checks and metrics are never refused: an overloaded process is
alive, and a load balancer must not take it out for doing its job.

The kernel's queue is first in, first out, so a request refused here had
first waited its turn, about the limit. The worker config/gunicorn.py runs,
config/doorman.py, refuses at arrival instead, with the same limit and
mean_moved; under it this middleware sheds nothing. It is for a plain sync worker,
which hands the listening sockets over when it starts (config/gunicorn.py
`post_worker_init`); without them (another server, a kernel without
TCP_INFO) nothing is shed here.
"""

import json
import socket
import struct
import time

from outbound.ids import new_id

EXEMPT_PATHS = ("/healthz", "/readyz", "/metrics")
# struct tcp_info: 8 one-byte fields, then u32s: rto, ato, snd_mss, rcv_mss,
# unacked, ... For a listening socket `unacked` is the accept queue's length.
_TCP_INFO = struct.Struct("8B5I")
# How much each new service time moves the mean.
_EWMA_WEIGHT = 0.1

_listeners: list[socket.socket] = []
_workers = 1


def listeners_set(sockets: list[socket.socket], *, workers: int) -> None:
    """The listening sockets this worker accepts from, and how many workers share them."""
    global _listeners, _workers
    _listeners, _workers = list(sockets), max(1, workers)


def accept_queue_length(sock: socket.socket) -> int:
    """Connections the kernel has accepted that no worker has taken yet (0 if it cannot tell)."""
    try:
        return _TCP_INFO.unpack_from(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO.size))[12]
    except (OSError, AttributeError, struct.error):
        return 0


class LoadShedder:
    def __init__(self, app, *, busy_limit_seconds: float):
        self.app = app
        self.busy_limit = busy_limit_seconds
        self.mean_service_seconds = 0.0

    def queued_wait(self) -> float:
        """The estimated wait of the last request queued behind this one, in seconds."""
        if not _listeners:
            return 0.0
        queued = sum(accept_queue_length(sock) for sock in _listeners)
        return queued * self.mean_service_seconds / _workers

    def __call__(self, environ, start_response):
        if self.busy_limit and not _exempt(environ) and self.queued_wait() > self.busy_limit:
            return _refuse(start_response)
        start = time.monotonic()
        try:
            return self.app(environ, start_response)
        finally:
            self.mean_service_seconds = mean_moved(self.mean_service_seconds, time.monotonic() - start)


def mean_moved(mean: float, sample: float) -> float:
    """An exponentially weighted mean of service times, moved by one more (the first sets it)."""
    return sample if not mean else mean + _EWMA_WEIGHT * (sample - mean)


def _exempt(environ) -> bool:
    return environ.get("PATH_INFO", "").startswith(EXEMPT_PATHS)


def _refuse(start_response):
    status, headers, body = refusal()
    start_response(status, headers)
    return [body]


def refusal() -> tuple[str, list[tuple[str, str]], bytes]:
    """The overloaded answer, in the API's error shape: status, headers, body."""
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
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("Retry-After", "1"),
        ("X-Request-ID", request_id),
    ]
    return "503 Service Unavailable", headers, body
