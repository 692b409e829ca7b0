"""HTTP client for a WAHA-compatible gateway (devlikeapro/waha or the project's fake).

Every failure becomes a TransportError with a stable code; everything else
about WAHA's engine-to-engine differences stays in this module.
"""

import json
import os
import re
import threading
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import urllib3

from .base import (
    GATEWAY_ERROR,
    GATEWAY_REJECTED,
    GATEWAY_TIMEOUT,
    GATEWAY_UNAUTHORIZED,
    GATEWAY_UNREACHABLE,
    SESSION_NOT_FOUND,
    SESSION_NOT_WORKING,
    SentMessage,
    SessionInfo,
    TransportError,
)

# A phone-number JID: "<digits>@c.us", or NOWEB's "<digits>:<device>@s.whatsapp.net".
# A LID ("<digits>@lid") is an opaque account id, not a phone number.
PHONE_JID = re.compile(r"([0-9]{7,15})(?::[0-9]+)?@(?:c\.us|s\.whatsapp\.net)")


@dataclass(frozen=True)
class Reply:
    """The parts of a gateway answer this module reads."""

    status_code: int
    content: bytes
    reason_phrase: str

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.content)


class WahaClient:
    """urllib3, not httpx: every delivery makes a call, and urllib3 costs much less
    client CPU per request (measured against the fake gateway; docs/benchmarks.md,
    "Where the time went")."""

    def __init__(self, base_url: str, api_key: str = "", timeout: float = 15.0):
        self._headers = {"Accept": "application/json"}
        if api_key:
            self._headers["X-Api-Key"] = api_key
        url = urlsplit(base_url.rstrip("/"))
        self._prefix = url.path
        # One pool per client: keep-alive matters at hundreds of sends/s. Never
        # retried here: a retried POST could send twice; the caller's retry
        # asks the gateway first.
        self._http = urllib3.connection_from_url(
            f"{url.scheme}://{url.netloc}", maxsize=16, block=False, retries=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
        )

    def send_text(self, *, session: str, chat_id: str, text: str, message_id: str | None = None) -> SentMessage:
        body = {"session": session, "chatId": chat_id, "text": text}
        return self._send("/api/sendText", body, message_id)

    def send_image(
        self,
        *,
        session: str,
        chat_id: str,
        file: dict,
        caption: str | None = None,
        message_id: str | None = None,
    ) -> SentMessage:
        body = {"session": session, "chatId": chat_id, "file": file}
        if caption is not None:
            body["caption"] = caption
        return self._send("/api/sendImage", body, message_id)

    # Human-like sends (outbound.services.deliveries.typing): what a person's
    # phone shows before a message. WAHA's SendSeenRequest and ChatRequest
    # both take {session, chatId}; a group's seen needs no message ids.
    def send_seen(self, *, session: str, chat_id: str) -> None:
        self._chat_action("/api/sendSeen", session, chat_id)

    def start_typing(self, *, session: str, chat_id: str) -> None:
        self._chat_action("/api/startTyping", session, chat_id)

    def stop_typing(self, *, session: str, chat_id: str) -> None:
        self._chat_action("/api/stopTyping", session, chat_id)

    def _chat_action(self, path: str, session: str, chat_id: str) -> None:
        response = self._request("POST", path, json={"session": session, "chatId": chat_id})
        if response.status_code == 404:
            raise session_not_found(response, session)
        raise_for_status(response)

    def get_session(self, *, session: str) -> SessionInfo:
        """The session's status and, once an account is linked, its phone number."""
        response = self._request("GET", f"/api/sessions/{segment(session)}")
        if response.status_code == 404:
            raise session_not_found(response, session)
        raise_for_status(response)
        reply = json_or_none(response)
        reply = reply if isinstance(reply, dict) else {}
        status = reply.get("status")
        if not isinstance(status, str) or not status:
            raise TransportError(GATEWAY_ERROR, "session reply has no status", False, response.status_code)
        return SessionInfo(status=status, phone_number=phone_number_of(reply.get("me")))

    def get_session_status(self, *, session: str) -> str:
        return self.get_session(session=session).status

    def get_message(self, *, session: str, chat_id: str, message_id: str) -> dict | None:
        """The message if the gateway has it, None if it answers 404."""
        path = f"/api/{segment(session)}/chats/{segment(chat_id)}/messages/{segment(message_id)}"
        response = self._request("GET", path)
        if response.status_code == 404:
            # Also what WAHA says for an unknown session; "not there" either way.
            return None
        raise_for_status(response)
        message = json_or_none(response)
        if not isinstance(message, dict):
            raise TransportError(GATEWAY_ERROR, "message reply is not a JSON object", False, response.status_code)
        return message

    def close(self) -> None:
        self._http.close()

    def _send(self, path: str, body: dict, message_id: str | None) -> SentMessage:
        if message_id is not None:
            # The caller's own id makes a retry findable with get_message.
            body["id"] = message_id
        response = self._request("POST", path, json=body)
        if response.status_code == 404:
            raise session_not_found(response, body["session"])
        raise_for_status(response)
        reply = json_or_none(response)
        reply = reply if isinstance(reply, dict) else {}
        provider_id = provider_message_id(reply) or message_id
        if not provider_id:
            # Accepted but unidentifiable: transient, so the caller's retry asks first.
            message = "gateway accepted the send but returned no message id"
            raise TransportError(GATEWAY_ERROR, message, False, response.status_code)
        return SentMessage(message_id=provider_id, raw=reply)

    def _request(self, method: str, path: str, json: dict | None = None) -> Reply:
        headers = self._headers
        body = None
        if json is not None:
            body = _json_bytes(json)
            headers = {**headers, "Content-Type": "application/json"}
        try:
            response = self._http.urlopen(method, self._prefix + path, body=body, headers=headers, redirect=False)
        except urllib3.exceptions.ConnectTimeoutError as exc:
            # Never connected (a refused connection is one of these too): the
            # request cannot have reached the gateway.
            raise TransportError(GATEWAY_UNREACHABLE, f"cannot reach the gateway: {exc!r}", False, maybe_delivered=False) from exc
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise TransportError(GATEWAY_TIMEOUT, f"gateway did not answer in time: {exc!r}", False) from exc
        except urllib3.exceptions.ProtocolError as exc:
            # A connection dropped mid-reply: not proof of "not sent".
            raise TransportError(GATEWAY_UNREACHABLE, f"cannot reach the gateway: {exc!r}", False) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise TransportError(GATEWAY_ERROR, f"gateway request failed: {exc!r}", False) from exc
        return Reply(response.status, response.data, response.reason or "")


def _json_bytes(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def segment(value: str) -> str:
    # "@" is legal in a path and WAHA docs show chat ids unescaped.
    return quote(value, safe="@")


def json_or_none(response: Reply):
    try:
        return response.json()
    except ValueError:
        return None


def reason(response: Reply) -> str:
    """The gateway's own words.

    NestJS errors carry the detail in message (error is just the HTTP phrase);
    WAHA's 422 has only error; its 500 filter nests it in exception.message.
    """
    body = json_or_none(response)
    if isinstance(body, dict):
        exception = body.get("exception") if isinstance(body.get("exception"), dict) else {}
        for candidate in (body.get("message"), body.get("error"), exception.get("message")):
            if isinstance(candidate, list):  # NestJS validation errors are a list
                candidate = "; ".join(map(str, candidate))
            if isinstance(candidate, str) and candidate:
                return candidate
    text = response.text.strip()
    return text[:500] or response.reason_phrase or f"HTTP {response.status_code}"


def session_not_found(response: Reply, session: str) -> TransportError:
    message = f"session {session!r} not found on the gateway"
    return TransportError(SESSION_NOT_FOUND, message, True, response.status_code)


def raise_for_status(response: Reply) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 422 and is_session_status_complaint(response):
        current = json_or_none(response).get("status")
        message = reason(response) + (f" (session status: {current})" if current else "")
        raise TransportError(SESSION_NOT_WORKING, message, True, status, session_status=current)
    if status in (401, 403):
        raise TransportError(GATEWAY_UNAUTHORIZED, reason(response), True, status)
    if 400 <= status < 500:
        raise TransportError(GATEWAY_REJECTED, reason(response), True, status)
    if status >= 500:
        raise TransportError(GATEWAY_ERROR, reason(response), False, status)
    # 1xx/3xx: redirects are not followed, so this is a misconfigured base URL.
    raise TransportError(GATEWAY_REJECTED, f"unexpected HTTP {status} from the gateway", True, status)


def is_session_status_complaint(response: Reply) -> bool:
    # WAHA also answers 422 for other things (e.g. a Plus-only feature on Core);
    # calling those "session not working" would send someone to restart a fine session.
    body = json_or_none(response)
    return isinstance(body, dict) and ("expected" in body or "status" in body or "Session status" in str(body))


def phone_number_of(me) -> str | None:
    """The number in WAHA's me ({"id": "201234567890@c.us", ...}) as "+201234567890"; None if none.

    Never an error: a reply without a usable number still has a usable status.
    """
    jid = me.get("id") if isinstance(me, dict) else None
    match = PHONE_JID.fullmatch(jid) if isinstance(jid, str) else None
    return f"+{match.group(1)}" if match else None


def provider_message_id(reply: dict) -> str | None:
    """The message id from any engine's reply shape.

    WEBJS: {"id": {"_serialized": "true_<chat>_<id>", "id": "<id>", ...}}
    GOWS and others: {"id": "true_<chat>_<id>"}
    NOWEB: {"key": {"remoteJid": "<chat>", "fromMe": true, "id": "<id>"}}
    """
    value = reply.get("id")
    if isinstance(value, dict):
        value = value.get("_serialized") or value.get("id")
    if isinstance(value, str) and value:
        return value
    key = reply.get("key")
    if isinstance(key, dict) and isinstance(key.get("id"), str) and key["id"]:
        if key.get("remoteJid"):
            # WAHA's own serialisation of a NOWEB key, so lookups accept it.
            return f"{'true' if key.get('fromMe', True) else 'false'}_{key['remoteJid']}_{key['id']}"
        return key["id"]
    return None


# -- one client per process -----------------------------------------------------------

_cache_lock = threading.Lock()
_cached = None  # (pid, settings tuple, WahaClient)


def _forget_parent_client():
    # A forked child (Celery prefork) must not share the parent's sockets, nor a
    # lock some parent thread held at fork time. Not closed: closing could
    # disturb connections the parent still uses.
    global _cache_lock, _cached
    _cache_lock = threading.Lock()
    _cached = None


os.register_at_fork(after_in_child=_forget_parent_client)


def get_client() -> WahaClient:
    """This process's client for settings.WAHA_*, built on first use."""
    global _cached
    from django.conf import settings

    wanted = (settings.WAHA_BASE_URL, settings.WAHA_API_KEY, settings.WAHA_TIMEOUT_SECONDS)
    pid = os.getpid()
    cached = _cached
    if cached is not None and cached[0] == pid and cached[1] == wanted:
        return cached[2]
    with _cache_lock:
        cached = _cached
        if cached is not None and cached[0] == pid and cached[1] == wanted:
            return cached[2]
        # Settings changed (tests) or first use. An old client is left to the
        # garbage collector: another thread may still be mid-request on it.
        client = WahaClient(*wanted)
        _cached = (pid, wanted, client)
        return client
