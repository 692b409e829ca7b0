"""gunicorn's sync worker with a doorman: past capacity a request is refused when it arrives, not after its wait.

The sync worker takes connections from the kernel's accept queue, which is
first in, first out: a request the shedder (config/shedding.py) refused had
first waited its turn behind the queue, about WEB_SHED_AFTER_MS (refused p99
66-89 ms at 100 ms, docs/benchmarks.md 2026-11-23). Here a thread, the
doorman, takes each connection as it arrives and decides at once:

1. While the work waiting for this worker is under the limit (requests
   waiting x mean service time), it lines the connection up for the worker,
   which serves the line in order as a sync worker does.
2. Otherwise it leaves the connection a moment for a worker with room
   (another worker's doorman takes it); if it is still in the kernel's
   queue after that, every worker is full and the doorman refuses it,
   `503 overloaded` in the API's error shape, in a few milliseconds.

/healthz, /readyz and /metrics are never refused: they are lined up. A
worker told to stop serves what it lined up before it exits, so nothing
accepted is dropped. With WEB_SHED_AFTER_MS=0 this is the plain sync worker.
"""

import collections
import errno
import select
import socket
import threading
import time

from gunicorn.workers.sync import SyncWorker

from config import shedding

# How long a connection this worker has no room for is left for another
# worker's doorman before it is refused. An idle worker's doorman takes it
# at once; a busy one's first waits for the GIL, up to sys.getswitchinterval()
# (5 ms). Measured: 4 ms gave refused p99 8-10 ms at 2.6 x capacity, the
# same with a 1 ms switch interval (docs/benchmarks.md).
HANDOFF_SECONDS = 0.004
# How long the doorman reads a refused request before answering, so the
# answer is not lost to a reset from unread bytes; loopback and LAN clients
# send the whole request at once.
READ_SECONDS = 0.05
_IDLE_WAKE_SECONDS = 1.0
_RETRY_SECONDS = 0.1


class DoormanWorker(SyncWorker):
    def run(self):
        from django.conf import settings  # the application, loaded by now, has configured them

        if not settings.WEB_SHED_AFTER_MS:
            return super().run()
        self.line_open(busy_limit=settings.WEB_SHED_AFTER_MS / 1000)
        for listener in self.sockets:
            listener.setblocking(0)
        doorman = threading.Thread(target=self.doorman, name="doorman", daemon=True)
        doorman.start()
        self.serve_line()
        # It stops within one wake; what it lined up meanwhile was accepted, so it is served too.
        doorman.join(_IDLE_WAKE_SECONDS * 2)
        self.serve_line()

    def line_open(self, *, busy_limit: float) -> None:
        self.busy_limit = busy_limit
        # Measured around the whole connection, not only the application: under
        # load, reading the request and closing the connection take their share.
        self.mean_service_seconds = 0.0
        self.line = collections.deque()
        self.arrived = threading.Condition()
        self.serving = 0
        self.refused = 0

    # -- the worker: serves the line in order ---------------------------------------------------

    def serve_line(self):
        while self.alive or self.line:
            self.notify()
            with self.arrived:
                if not self.line:
                    self.arrived.wait(_IDLE_WAKE_SECONDS)
                arrival = self.line.popleft() if self.line else None
                self.serving = 1 if arrival else 0
            if arrival:
                listener, client, addr = arrival
                client.setblocking(1)
                start = time.monotonic()
                try:
                    self.handle(listener, client, addr)
                finally:
                    self.serving = 0
                    self.mean_service_seconds = shedding.mean_moved(self.mean_service_seconds, time.monotonic() - start)
            if not self.is_parent_alive():
                return

    # -- the doorman ---------------------------------------------------------------------------

    def doorman(self):
        reported = time.monotonic()
        while self.alive:
            try:
                ready, _, _ = select.select(self.sockets, [], [], _IDLE_WAKE_SECONDS)
            except (OSError, ValueError):  # the sockets closed: the worker is stopping
                return
            for listener in ready:
                try:
                    self.admit(listener)
                except Exception:
                    # Out of file descriptors, memory...: a doorman that died would leave
                    # its worker alive and deaf. Wait a moment and take the next one.
                    self.log.exception("Doorman: could not take a connection")
                    time.sleep(_RETRY_SECONDS)
            if self.refused and time.monotonic() - reported >= 1:
                self.log.warning("Overloaded: refused %d requests in %.1f s", self.refused, time.monotonic() - reported)
                self.refused, reported = 0, time.monotonic()

    def waiting_seconds(self) -> float:
        """The work lined up for this worker, the request it is serving included."""
        return (len(self.line) + self.serving) * self.mean_service_seconds

    def admit(self, listener):
        if self.waiting_seconds() <= self.busy_limit:
            if arrival := _accepted(listener):
                self.line_up(arrival)
            return
        time.sleep(HANDOFF_SECONDS)
        # Still queued: every worker is full. Refuse what waits, all of it.
        while self.waiting_seconds() > self.busy_limit and (arrival := _accepted(listener)):
            if _exempt(arrival[1]):
                self.line_up(arrival)
            else:
                self.refused += 1
                _refuse(arrival[1])

    def line_up(self, arrival):
        with self.arrived:
            self.line.append(arrival)
            self.arrived.notify()


def _accepted(listener):
    """(listener, client, address) of the oldest connection waiting, or None if another worker took it."""
    try:
        client, addr = listener.accept()
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED):
            return None
        raise
    return listener, client, addr


def _exempt(client: socket.socket) -> bool:
    """Whether the request line names a path that is never refused (read without consuming it)."""
    client.settimeout(READ_SECONDS)
    try:
        head = client.recv(256, socket.MSG_PEEK)
    except OSError:
        return False
    parts = head.split(b" ", 2)
    return len(parts) > 1 and parts[1].decode("latin-1").startswith(shedding.EXEMPT_PATHS)


def _refuse(client: socket.socket) -> None:
    deadline = time.monotonic() + READ_SECONDS
    try:
        _request_read(client, deadline)
        status, headers, body = shedding.refusal()
        head = "".join(f"{name}: {value}\r\n" for name, value in [*headers, ("Connection", "close")])
        client.settimeout(READ_SECONDS)
        client.sendall(f"HTTP/1.1 {status}\r\n{head}\r\n".encode("latin-1") + body)
        client.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the client went away: nothing to answer
    finally:
        client.close()


def _request_read(client: socket.socket, deadline: float) -> None:
    """Read the request (head and Content-Length body) until it is complete or the deadline passes."""
    data = b""
    while time.monotonic() < deadline:
        client.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = client.recv(65536)
        if not chunk:
            return
        data += chunk
        head, found, body = data.partition(b"\r\n\r\n")
        if found and len(body) >= _content_length(head):
            return


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip() or 0) if value.strip().isdigit() else 0
    return 0
