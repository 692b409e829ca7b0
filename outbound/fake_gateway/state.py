"""Everything the fake gateway remembers: config, injected faults and the ledger.

One lock guards it all: the server answers on many threads, and tests and
benchmarks read the ledger while sends are still arriving. What the gateway
calls back (acks, session status) is decided here and delivered by
callbacks.Webhooks, outside the lock.
"""

import hmac
import random
import re
import threading
import time
import zlib
from urllib.parse import urlsplit

from .callbacks import ACK_NAMES, Target, Webhooks

WORKING = "WORKING"
STOPPED = "STOPPED"
# WAHA's session statuses (its spec's enum): the fake reports no other.
WAHA_STATUSES = (
    STOPPED,
    "STARTING",
    "SCAN_QR_CODE",
    "PASSKEY_REQUIRED",
    "PASSKEY_CONFIRMATION_REQUIRED",
    WORKING,
    "FAILED",
)
# Not a WAHA status: lets a test make a session vanish (404) without a registry.
MISSING = "MISSING"
# How many of a session's status changes a session.status webhook lists (WAHA's `statuses`).
STATUS_HISTORY = 10
PHONE = re.compile(r"\+?([0-9]{7,15})")

DEFAULT_HANG_MS = 30000
RATE_KEYS = ("error_rate", "accept_then_fail_rate", "timeout_rate")
DURATION_KEYS = ("latency_ms", "hang_ms")
WEBHOOK_KEYS = ("webhook_url", "webhook_hmac_key", "ack_delay_ms", "acks")
# Every key but sessions and phones, which merge instead of being replaced.
SCALAR_KEYS = RATE_KEYS + DURATION_KEYS + ("seed", "api_key") + WEBHOOK_KEYS
MERGED_KEYS = ("sessions", "phones")
CONFIG_KEYS = SCALAR_KEYS + MERGED_KEYS

DEFAULT_ACK_DELAY_MS = 200
DEFAULT_ACKS = (1, 2, 3)  # SERVER, DEVICE, READ: a message that went well

# What a send should suffer, drawn once per send (see GatewayState.draw_fault).
FAULT_TIMEOUT = "timeout"
FAULT_ERROR = "error"
FAULT_ACCEPT_THEN_FAIL = "accept_then_fail"


class ConfigError(ValueError):
    """A control request asked for a config the fake cannot honour."""


def validated_config(changes: dict) -> dict:
    """Check and normalise a (partial) config; raise ConfigError on the first problem."""
    unknown = sorted(set(changes) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"unknown config keys: {', '.join(unknown)}")
    clean = {}
    for key, value in changes.items():
        if key in RATE_KEYS:
            clean[key] = _rate(key, value)
        elif key in DURATION_KEYS:
            clean[key] = _duration(key, value)
        elif key == "seed":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError("seed must be an integer or null")
            clean[key] = value
        elif key == "api_key":
            if value is not None and not isinstance(value, str):
                raise ConfigError("api_key must be a string or null")
            clean[key] = value or None  # "" means no auth, like WAHA with no key set
        elif key == "webhook_url":
            clean[key] = _webhook_url(value)
        elif key == "webhook_hmac_key":
            if value is not None and not isinstance(value, str):
                raise ConfigError("webhook_hmac_key must be a string or null")
            clean[key] = value or None  # "" means unsigned, as for api_key
        elif key == "ack_delay_ms":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError("ack_delay_ms must be a non-negative integer")
            clean[key] = value
        elif key == "acks":
            clean[key] = _acks(value)
        elif key == "phones":
            clean[key] = _phones(value)
        else:
            clean[key] = _sessions(value)
    return clean


def _rate(key, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{key} must be a number between 0 and 1")
    return float(value)


def _duration(key, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ConfigError(f"{key} must be a non-negative number of milliseconds")
    return value


def _webhook_url(value):
    if value is None or value == "":
        return None
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise ConfigError("webhook_url must be an http(s) URL or null")
    return value


def _acks(value) -> list:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(ack, int) and not isinstance(ack, bool) and ack in ACK_NAMES for ack in value
    ):
        levels = ", ".join(str(level) for level in ACK_NAMES)
        raise ConfigError(f"acks must be a list of ack levels ({levels})")
    return list(value)


def _sessions(value) -> dict:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and v in WAHA_STATUSES + (MISSING,) for k, v in value.items()
    ):
        statuses = ", ".join(WAHA_STATUSES + (MISSING,))
        raise ConfigError(f"sessions must be an object of session name -> status ({statuses})")
    return dict(value)


def _phones(value) -> dict:
    """Session name -> phone number, kept as digits (WAHA's me.id is "<digits>@c.us")."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and PHONE.fullmatch(v) for k, v in value.items()
    ):
        raise ConfigError("phones must be an object of session name -> phone number (7-15 digits, optional +)")
    return {name: PHONE.fullmatch(phone).group(1) for name, phone in value.items()}


def default_phone(session: str) -> str:
    # A stable, plausible (Egyptian mobile) number per session, so every
    # session has a me.id without any setup.
    return f"2010{zlib.crc32(session.encode()) % 10**8:08d}"


def me_id(phone: str) -> str:
    return f"{phone}@c.us"


def now_ms() -> int:
    return int(time.time() * 1000)


def serialized_id(chat_id: str, raw_id: str) -> str:
    # WEBJS-style id of a message we sent: fromMe_chatId_rawId.
    return f"true_{chat_id}_{raw_id}"


class GatewayState:
    def __init__(
        self,
        *,
        api_key=None,
        sessions=None,
        error_rate=0.0,
        accept_then_fail_rate=0.0,
        latency_ms=0,
        timeout_rate=0.0,
        hang_ms=DEFAULT_HANG_MS,
        seed=None,
        phones=None,
        webhook_url=None,
        webhook_hmac_key=None,
        ack_delay_ms=DEFAULT_ACK_DELAY_MS,
        acks=DEFAULT_ACKS,
    ):
        self._lock = threading.Lock()
        self.webhooks = Webhooks()
        # Reset goes back to what the gateway was started with, so a benchmark
        # against `run_fake_gateway --error-rate 0.3` can clear its ledger
        # without losing the faults it asked for on the command line.
        self._startup = validated_config(
            {
                "api_key": api_key,
                "sessions": sessions or {},
                "phones": phones or {},
                "error_rate": error_rate,
                "accept_then_fail_rate": accept_then_fail_rate,
                "latency_ms": latency_ms,
                "timeout_rate": timeout_rate,
                "hang_ms": hang_ms,
                "seed": seed,
                "webhook_url": webhook_url,
                "webhook_hmac_key": webhook_hmac_key,
                "ack_delay_ms": ack_delay_ms,
                "acks": acks,
            }
        )
        self.api_key = self._startup["api_key"]
        self._restore_startup()

    # -- config ---------------------------------------------------------------

    def _restore_startup(self):
        for key in RATE_KEYS + DURATION_KEYS + ("seed",) + WEBHOOK_KEYS:
            setattr(self, key, self._startup[key])
        self.acks = list(self.acks)
        self.sessions = dict(self._startup["sessions"])
        self.phones = dict(self._startup["phones"])
        self._rng = random.Random(self.seed)
        self._entries = []
        self._chat_actions = []  # sendSeen / startTyping / stopTyping, in arrival order
        self._by_id = {}  # raw and serialized id -> latest entry with that id
        # WAHA always reports a last-activity time; a session the fake has
        # seen do nothing was last active when the gateway (re)started.
        self._started_ms = now_ms()
        self._activity_ms = {}  # session name -> ms of its last send or status change
        self._status_points = {}  # session name -> [{"status", "timestamp"}], oldest first

    def config(self) -> dict:
        with self._lock:
            return self._config_unlocked()

    def _config_unlocked(self) -> dict:
        config = {key: getattr(self, key) for key in SCALAR_KEYS}
        config["acks"] = list(self.acks)
        config["sessions"] = dict(self.sessions)
        config["phones"] = dict(self.phones)
        return config

    def _webhook_target(self) -> Target:
        return Target(self.webhook_url, self.webhook_hmac_key)

    def configure(self, changes: dict) -> dict:
        """Apply a partial config; a session whose status changes says so by webhook."""
        clean = validated_config(changes)
        with self._lock:
            # Compared with what a send would see, so STOPPED -> WORKING and a
            # new name set to STOPPED both count, and WORKING -> WORKING does not.
            changed = {
                name: status
                for name, status in clean.get("sessions", {}).items()
                if self.session_status(name) != status
            }
            for key, value in clean.items():
                if key in MERGED_KEYS:
                    getattr(self, key).update(value)
                else:
                    setattr(self, key, value)
            if "seed" in clean:
                self._rng.seed(clean["seed"])
            statuses = {name: self._record_status_unlocked(name, status) for name, status in changed.items()}
            target = self._webhook_target()
            config = self._config_unlocked()
        for name, status in changed.items():
            self.webhooks.session_status(target, name, status, statuses[name])
        return config

    def _record_status_unlocked(self, name: str, status: str) -> list:
        """Remember a status change (and count it as activity); the recent changes, oldest first."""
        at = now_ms()
        self._activity_ms[name] = at
        points = self._status_points.setdefault(name, [])
        points.append({"status": status, "timestamp": at})
        del points[:-STATUS_HISTORY]
        return list(points)

    def reset(self, **overrides) -> dict:
        clean = validated_config(overrides)
        with self._lock:
            # Acks of sends from before the reset must not reach the next test.
            self.webhooks.clear()
            self._restore_startup()
            for key, value in clean.items():
                setattr(self, key, value)
            if "seed" in clean:
                self._rng.seed(clean["seed"])
            return self._config_unlocked()

    # -- questions a request asks ------------------------------------------------

    def is_authorized(self, presented_key) -> bool:
        expected = self.api_key
        if expected is None:
            return True
        return presented_key is not None and hmac.compare_digest(presented_key, expected)

    def session_status(self, name: str) -> str:
        # A name never configured is WORKING so benchmarks need no setup.
        return self.sessions.get(name, WORKING)

    def session_phone(self, name: str) -> str:
        return self.phones.get(name) or default_phone(name)

    def session_snapshot(self, name: str) -> dict:
        """What GET /api/sessions/{name} reports, read at one instant."""
        with self._lock:
            return {
                "name": name,
                "status": self.session_status(name),
                "phone": self.session_phone(name),
                "activity_ms": self._activity_ms.get(name, self._started_ms),
            }

    def known_sessions(self) -> list:
        """Names the fake can list: configured (and not MISSING), given a phone, or used to send."""
        with self._lock:
            names = set(self.sessions) | set(self.phones) | {entry["session"] for entry in self._entries}
            return sorted(name for name in names if self.session_status(name) != MISSING)

    def status_points(self, name: str, status: str) -> list:
        """The session's recorded status changes plus `status` now, for a webhook sent by hand."""
        with self._lock:
            points = list(self._status_points.get(name, []))
        return (points + [{"status": status, "timestamp": now_ms()}])[-STATUS_HISTORY:]

    def draw_fault(self):
        """Pick this send's fate with one draw, so each rate is its own probability.

        Priority when the rates add up to more than 1: timeout, error, accept-then-fail.
        """
        with self._lock:
            if not (self.timeout_rate or self.error_rate or self.accept_then_fail_rate):
                return None
            roll = self._rng.random()
        for fault, rate in (
            (FAULT_TIMEOUT, self.timeout_rate),
            (FAULT_ERROR, self.error_rate),
            (FAULT_ACCEPT_THEN_FAIL, self.accept_then_fail_rate),
        ):
            if roll < rate:
                return fault
            roll -= rate
        return None

    # -- ledger -------------------------------------------------------------------

    def record_send(self, *, session, chat_id, type, text, file=None, message_id=None) -> dict:
        """Append one accepted send and schedule its acks; a reused id is a second entry, never a merge."""
        with self._lock:
            raw_id = message_id or "3EB0%020X" % self._rng.getrandbits(80)
            entry = {
                "seq": len(self._entries) + 1,
                "id": raw_id,
                "serialized": serialized_id(chat_id, raw_id),
                "session": session,
                # The sender as it was at send time: a session's phone may change later.
                "from": me_id(self.session_phone(session)),
                "chatId": chat_id,
                "type": type,
                "text": text,
                "file": file,  # already reduced to url / data_sha256 by the route
                "received_at_ms": now_ms(),
            }
            self._activity_ms[session] = entry["received_at_ms"]
            self._entries.append(entry)
            self._by_id[raw_id] = entry
            self._by_id[entry["serialized"]] = entry
            target, acks, delay_ms = self._webhook_target(), list(self.acks), self.ack_delay_ms
        self.webhooks.message_acks(target, entry, acks, delay_ms)
        return entry

    def record_chat_action(self, *, session, chat_id, kind) -> dict:
        """Append one seen or typing call; `messages_before` orders it against the sends (seq > it: later)."""
        with self._lock:
            entry = {
                "seq": len(self._chat_actions) + 1,
                "kind": kind,  # "seen", "typing_start" or "typing_stop"
                "session": session,
                "chatId": chat_id,
                "at_ms": time.time() * 1000,
                "messages_before": len(self._entries),
            }
            self._chat_actions.append(entry)
            self._activity_ms[session] = int(entry["at_ms"])
        return entry

    def chat_actions(self, *, chat_id=None, session=None) -> list:
        with self._lock:
            entries = list(self._chat_actions)
        return [
            e for e in entries
            if (chat_id is None or e["chatId"] == chat_id) and (session is None or e["session"] == session)
        ]

    def webhook_target(self) -> Target:
        with self._lock:
            return self._webhook_target()

    def find_message(self, message_id: str, *, session=None, chat_id=None):
        """The latest entry with this raw or serialized id, scoped like WAHA's lookup."""
        with self._lock:
            entry = None
            if chat_id is not None:
                # Prefer the chat-specific key: a raw id reused in another chat
                # must not hide this chat's message.
                entry = self._by_id.get(serialized_id(chat_id, message_id))
            entry = entry or self._by_id.get(message_id)
        if entry is None:
            return None
        if session is not None and entry["session"] != session:
            return None
        if chat_id is not None and entry["chatId"] != chat_id:
            return None
        return entry

    def ledger(self, *, chat_id=None, session=None, since_seq=None) -> list:
        with self._lock:
            # seq n lives at index n-1, so "since" is a slice, not a scan.
            entries = self._entries[max(since_seq or 0, 0):]
        if chat_id is not None:
            entries = [e for e in entries if e["chatId"] == chat_id]
        if session is not None:
            entries = [e for e in entries if e["session"] == session]
        return entries

