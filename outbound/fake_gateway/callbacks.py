"""Webhooks the fake gateway POSTs back, shaped and signed the way WAHA's are.

One worker thread delivers everything in due order, one webhook at a time:
a receiver must see a message's acks in the order a test configured them
(`[3, 2]` means READ really arrives before DEVICE), which a thread per
webhook could not promise. A message's acks form a chain, each due a delay
after the previous one was delivered, so a late first ack (the worker's HTTP
client takes tens of ms to build) cannot squeeze the gaps a receiver sees.
The worker is a daemon and every wait in it watches the stop flag, so
stopping the gateway never waits on a slow receiver or on acks still due.
"""

import hashlib
import heapq
import hmac
import itertools
import json
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import NamedTuple

import httpx

ACK_NAMES = {-1: "ERROR", 0: "PENDING", 1: "SERVER", 2: "DEVICE", 3: "READ", 4: "PLAYED"}
MESSAGE_ACK = "message.ack"
SESSION_STATUS = "session.status"
# The engine the fake passes for everywhere (sessions, webhooks, messages):
# WEBJS, whose raw message, object id and all, a message carries in `_data`.
ENGINE = "WEBJS"
# WAHA's WAHAEnvironment: every field is required in its OpenAPI spec.
ENVIRONMENT = {
    "version": "fake",
    "engine": ENGINE,
    "tier": "CORE",
    "browser": "/usr/bin/chromium",
    "platform": "linux/x64",
    "worker": {"id": "fake-gateway"},
}

TIMEOUT_S = 5
MAX_RETRIES = 3  # after the first attempt, so at most 4 requests per webhook
RETRY_PAUSE_S = 0.5


class Target(NamedTuple):
    """Where a webhook goes, fixed when it is scheduled so a later config change
    cannot re-address (or unsign) acks already on their way."""

    url: str | None
    hmac_key: str | None


def ack_payload(entry: dict, ack: int) -> dict:
    """WAHA's WAMessageAckBody for a message we sent: from us, to the chat."""
    return {
        "id": entry["serialized"],
        "from": entry["from"],
        "to": entry["chatId"],
        # Required by WAHA's spec even outside groups; for our own message it is us.
        "participant": entry["from"],
        "fromMe": True,
        "ack": ack,
        "ackName": ACK_NAMES[ack],
    }


def session_payload(name: str, status: str, statuses: list) -> dict:
    """WAHA's WASessionStatusBody; `statuses` is the recent history, oldest first, ending with this one."""
    return {"name": name, "status": status, "statuses": statuses}


def envelope(event: str, session: str, payload: dict) -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "timestamp": int(time.time() * 1000),
        "event": event,
        "session": session,
        "me": None,
        "engine": ENGINE,
        "environment": ENVIRONMENT,
        "payload": payload,
    }


def request_headers(body: bytes, timestamp_ms: int, hmac_key: str | None) -> dict:
    headers = {
        "Content-Type": "application/json",
        # Fresh per attempt; the event id in the body is what stays put across retries.
        "X-Webhook-Request-Id": str(uuid.uuid4()),
        "X-Webhook-Timestamp": str(timestamp_ms),
    }
    if hmac_key:
        headers["X-Webhook-Hmac"] = hmac.new(hmac_key.encode(), body, hashlib.sha512).hexdigest()
        headers["X-Webhook-Hmac-Algorithm"] = "sha512"
    return headers


@dataclass(order=True)
class _Job:
    due: float  # time.monotonic()
    seq: int  # ties on `due` (ack_delay_ms 0) keep scheduling order
    generation: int = field(compare=False)
    target: Target = field(compare=False)
    event: str = field(compare=False)
    session: str = field(compare=False)
    payload: dict = field(compare=False)
    # (delay_s, event, session, payload) still to send after this one, in order.
    then: tuple = field(compare=False, default=())


class Webhooks:
    def __init__(self):
        self.verbose = False
        self._cond = threading.Condition()
        self._queue = []  # heap of _Job
        self._seq = itertools.count()
        # Bumped by clear(): a webhook in flight during a reset must not land
        # in the fresh log.
        self._generation = 0
        self._log = []
        self._stopped = threading.Event()
        self._worker = None

    # -- scheduling -----------------------------------------------------------------

    def schedule(self, target: Target, chain, generation=None):
        """Queue a chain of (delay_s, event, session, payload): each one is due
        its delay after the one before it was delivered (the first: after now)."""
        if target.url is None or not chain:
            return
        (delay_s, event, session, payload), *then = chain
        with self._cond:
            if self._stopped.is_set() or generation not in (None, self._generation):
                return
            job = _Job(
                time.monotonic() + delay_s,
                next(self._seq),
                self._generation,
                target,
                event,
                session,
                payload,
                tuple(then),
            )
            heapq.heappush(self._queue, job)
            if self._worker is None:
                # Started on first use: most gateways (benchmarks) never call back.
                self._worker = threading.Thread(target=self._run, name="fake-gateway-webhooks", daemon=True)
                self._worker.start()
            self._cond.notify()

    def message_acks(self, target: Target, entry: dict, acks, delay_ms):
        delay_s = delay_ms / 1000
        self.schedule(target, [(delay_s, MESSAGE_ACK, entry["session"], ack_payload(entry, ack)) for ack in acks])

    def session_status(self, target: Target, name: str, status: str, statuses: list):
        self.schedule(target, [(0, SESSION_STATUS, name, session_payload(name, status, statuses))])

    def send_now(self, target: Target, event: str, session: str, payload: dict) -> dict:
        """Deliver one webhook on the caller's thread and return its log record."""
        with self._cond:
            generation = self._generation
        job = _Job(time.monotonic(), next(self._seq), generation, target, event, session, payload)
        with httpx.Client(timeout=TIMEOUT_S) as client:
            return self._deliver(client, job)

    # -- log and lifecycle ----------------------------------------------------------

    def sent(self) -> list:
        with self._cond:
            return list(self._log)

    def clear(self):
        """Drop webhooks not yet due and forget the ones sent."""
        with self._cond:
            self._generation += 1
            self._queue.clear()
            self._log.clear()

    def stop(self):
        # No join: the worker may be inside a 5 s request; as a daemon it is
        # harmless, and it checks the flag before doing anything else.
        with self._cond:
            self._stopped.set()
            self._queue.clear()
            self._cond.notify_all()

    # -- the worker -------------------------------------------------------------------

    def _run(self):
        with httpx.Client(timeout=TIMEOUT_S) as client:
            while (job := self._next_due()) is not None:
                try:
                    self._deliver(client, job)
                except Exception as exc:  # one bad webhook must not end all callbacks
                    self._warn(f"webhook {job.event} crashed: {exc!r}")
                # A reset in the meantime has dropped the rest of the chain.
                self.schedule(job.target, job.then, generation=job.generation)

    def _next_due(self):
        with self._cond:
            while not self._stopped.is_set():
                wait = None
                if self._queue:
                    wait = self._queue[0].due - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._queue)
                self._cond.wait(wait)
            return None

    def _deliver(self, client: httpx.Client, job: _Job) -> dict:
        body = envelope(job.event, job.session, job.payload)
        # Serialised once: the HMAC covers exactly these bytes, on every attempt.
        data = json.dumps(body, separators=(",", ":")).encode()
        status_code, attempts, problem = None, 0, None
        for attempt in range(1 + MAX_RETRIES):
            if attempt and self._stopped.wait(RETRY_PAUSE_S):
                break
            attempts += 1
            headers = request_headers(data, body["timestamp"], job.target.hmac_key)
            try:
                status_code = client.post(job.target.url, content=data, headers=headers).status_code
            except httpx.TransportError as exc:
                status_code, problem = None, repr(exc)
                continue
            if status_code < 500:
                break
            problem = f"HTTP {status_code}"
        if status_code is None or status_code >= 300:
            self._warn(f"webhook {body['id']} ({job.event}) to {job.target.url}: {problem or status_code}")
        record = {
            "id": body["id"],
            "event": job.event,
            "session": job.session,
            "payload": job.payload,
            "status_code": status_code,
            "attempts": attempts,
            "sent_at_ms": body["timestamp"],
        }
        with self._cond:
            if job.generation == self._generation:
                self._log.append(record)
        return record

    def _warn(self, line):
        # Receivers that are down are routine in local runs; say so only when asked.
        if self.verbose:
            print(f"fake gateway: {line}", file=sys.stderr, flush=True)
