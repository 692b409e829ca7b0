"""What the fake gateway answers, kept apart from the HTTP plumbing in server.py.

Every route is `(state, request) -> (status, payload)`. Bodies imitate WAHA
(a NestJS app) closely enough that a client written against the fake works
against a real WAHA.
"""

import base64
import binascii
import hashlib
import json
import time
from dataclasses import dataclass
from urllib.parse import unquote

from .callbacks import ACK_NAMES, ENGINE, MESSAGE_ACK, SESSION_STATUS, ack_payload, session_payload
from .state import (
    FAULT_ACCEPT_THEN_FAIL,
    FAULT_ERROR,
    FAULT_TIMEOUT,
    MISSING,
    STOPPED,
    WORKING,
    ConfigError,
    me_id,
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict  # name -> list of values, as urllib.parse.parse_qs gives
    api_key: str | None
    body: bytes


class BadRequest(Exception):
    pass


def dispatch(state, request):
    parts = [unquote(p) for p in request.path.strip("/").split("/")]
    if parts[0] == "_fake":
        # Control endpoints stay open so a test can always reach them.
        return control_route(state, request, parts[1:])
    if parts[0] != "api":
        return not_found(request)
    if not state.is_authorized(request.api_key):
        return 401, {"message": "Unauthorized", "statusCode": 401}
    try:
        return waha_route(state, request, parts[1:])
    except BadRequest as exc:
        return 400, {"message": str(exc), "error": "Bad Request", "statusCode": 400}


def not_found(request):
    # NestJS's answer for a route it does not know.
    message = f"Cannot {request.method} {request.path}"
    return 404, {"message": message, "error": "Not Found", "statusCode": 404}


# -- WAHA endpoints -----------------------------------------------------------------


def waha_route(state, request, parts):
    if request.method == "POST" and parts == ["sendText"]:
        return send(state, request, "text")
    if request.method == "POST" and parts == ["sendImage"]:
        return send(state, request, "image")
    if request.method == "POST" and len(parts) == 1 and parts[0] in CHAT_ACTIONS:
        return chat_action(state, request, CHAT_ACTIONS[parts[0]])
    if request.method == "GET" and parts == ["sessions"]:
        return list_sessions(state, request.query)
    if request.method == "GET" and len(parts) == 2 and parts[0] == "sessions":
        return get_session(state, parts[1])
    if request.method == "GET" and len(parts) == 5 and parts[1] == "chats" and parts[3] == "messages":
        return get_message(state, session=parts[0], chat_id=parts[2], message_id=parts[4])
    return not_found(request)


def send(state, request, kind):
    body = json_object(request.body)
    session = required_string({"session": "default", **body}, "session")  # WAHA's default name
    chat_id = required_string(body, "chatId")
    if "@" not in chat_id:
        # Real WAHA would quietly message a person; the fake refuses, to surface the bug.
        raise BadRequest("chatId must end with @g.us or @c.us")
    message_id = body.get("id")
    if message_id is not None and (not isinstance(message_id, str) or not message_id):
        raise BadRequest("id must be a non-empty string")
    if kind == "text":
        text, file = required_string(body, "text"), None
    else:
        text, file = optional_string(body, "caption"), ledger_file(body.get("file"))

    if state.latency_ms:
        # A slow gateway is slow to refuse too.
        time.sleep(state.latency_ms / 1000)
    refusal = session_refusal(state, session)
    if refusal:
        return refusal

    fault = state.draw_fault()
    if fault == FAULT_TIMEOUT:
        time.sleep(state.hang_ms / 1000)
        return 504, {"message": "Gateway Timeout", "statusCode": 504}
    if fault == FAULT_ERROR:
        return engine_failure(request)
    entry = state.record_send(
        session=session, chat_id=chat_id, type=kind, text=text, file=file, message_id=message_id
    )
    if fault == FAULT_ACCEPT_THEN_FAIL:
        return engine_failure(request)
    return 201, message_json(entry)


# WAHA's endpoint -> the kind the ledger records.
CHAT_ACTIONS = {"sendSeen": "seen", "startTyping": "typing_start", "stopTyping": "typing_stop"}


def chat_action(state, request, kind):
    """sendSeen (SendSeenRequest) and start/stopTyping (ChatRequest): {session, chatId}; WAHA answers 201.

    WAHA's answers: typing, {"result": true}; a seen without message ids reads
    the chat's last days and says which (ReadChatMessagesResponse): the fake
    has no incoming messages, so none.
    """
    body = json_object(request.body)
    session = required_string({"session": "default", **body}, "session")
    chat_id = required_string(body, "chatId")
    if "@" not in chat_id:
        raise BadRequest("chatId must end with @g.us or @c.us")
    message_ids = body.get("messageIds")
    if message_ids is not None and (
        not isinstance(message_ids, list) or not all(isinstance(i, str) and i for i in message_ids)
    ):
        raise BadRequest("messageIds must be a list of message ids")
    if state.latency_ms:
        time.sleep(state.latency_ms / 1000)
    refusal = session_refusal(state, session)
    if refusal:
        return refusal
    state.record_chat_action(session=session, chat_id=chat_id, kind=kind)
    return 201, ({"ids": []} if kind == "seen" else {"result": True})


def session_refusal(state, session):
    status = state.session_status(session)
    if status == MISSING:
        return session_not_found(session)
    if status != WORKING:
        return 422, {
            "error": "Session status is not as expected. Try again later or restart the session",
            "session": session,
            "status": status,
            "expected": [WORKING],
        }
    return None


def session_not_found(session):
    return 404, {"message": "Session not found", "error": "Not Found", "statusCode": 404, "session": session}


def engine_failure(request):
    # Shape of WAHA's catch-all exception filter.
    return 500, {
        "statusCode": 500,
        "exception": {"message": "fake gateway: injected engine failure", "name": "Error"},
        "request": {"path": request.path, "method": request.method},
    }


def get_session(state, name):
    snapshot = state.session_snapshot(name)
    if snapshot["status"] == MISSING:
        return session_not_found(name)
    return 200, session_info(snapshot)


def list_sessions(state, query):
    # WAHA lists STOPPED sessions only when asked for all of them.
    everything = (query.get("all") or ["false"])[0].lower() in ("true", "1")
    infos = [session_info(state.session_snapshot(name)) for name in state.known_sessions()]
    return 200, [info for info in infos if everything or info["status"] != STOPPED]


def session_info(snapshot):
    """WAHA's SessionInfo (plus the `engine` its GET adds), complete for every status.

    WAHA's spec requires presence and timestamps.activity; WAHA itself sends
    null for a STOPPED session, which a typed client refuses, so the fake
    always sends values. `me` is the linked account, known only once WORKING.
    """
    working = snapshot["status"] == WORKING
    return {
        "name": snapshot["name"],
        "status": snapshot["status"],
        "config": {"metadata": None, "proxy": None, "debug": False, "webhooks": []},
        "me": {"id": me_id(snapshot["phone"]), "pushName": snapshot["name"]} if working else None,
        # The spec types presence as a bare object: the fake uses WAHASessionPresence's shape.
        "presence": {"presence": "online" if working else "offline"},
        "timestamps": {"activity": snapshot["activity_ms"]},
        "engine": {"engine": ENGINE},
    }


def get_message(state, *, session, chat_id, message_id):
    if state.session_status(session) == MISSING:
        return session_not_found(session)
    entry = state.find_message(message_id, session=session, chat_id=chat_id)
    if entry is None:
        return 404, {"message": "Message not found", "error": "Not Found", "statusCode": 404}
    return 200, message_json(entry)


def message_json(entry):
    """The sent message as WAHA's WAMessage, with WEBJS's raw message (object id) in `_data`.

    Every field WAHA's spec requires is there, even those WAHA leaves out for
    a text message (mediaUrl, participant): a typed client refuses the reply otherwise.
    """
    file = entry["file"]
    return {
        "id": entry["serialized"],
        "timestamp": entry["received_at_ms"] // 1000,
        "from": entry["from"],
        "fromMe": True,
        "source": "api",
        "to": entry["chatId"],
        "participant": entry["from"],
        "body": entry["text"] or "",
        "hasMedia": entry["type"] == "image",
        "media": file,
        "mediaUrl": (file or {}).get("url") or "",
        "ack": 1,
        "ackName": ACK_NAMES[1],
        "_data": {
            "id": {
                "fromMe": True,
                "remote": entry["chatId"],
                "id": entry["id"],
                "_serialized": entry["serialized"],
            },
            "type": "image" if entry["type"] == "image" else "chat",
        },
    }


# -- request body helpers ---------------------------------------------------------------


def json_object(raw: bytes) -> dict:
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def required_string(body, key):
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key} must be a non-empty string")
    return value


def optional_string(body, key):
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def ledger_file(file):
    """Check a WAHA file object and keep what a test asserts on, never the bytes."""
    if not isinstance(file, dict):
        raise BadRequest("file must be an object with mimetype and url or data")
    mimetype = required_string(file, "mimetype")
    filename = optional_string(file, "filename")
    if isinstance(file.get("url"), str) and file["url"]:
        return {"mimetype": mimetype, "url": file["url"], "filename": filename}
    data = file.get("data")
    if not isinstance(data, str) or not data:
        raise BadRequest("file needs a url or base64 data")
    try:
        decoded = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("file.data must be base64") from None
    return {"mimetype": mimetype, "data_sha256": hashlib.sha256(decoded).hexdigest(), "filename": filename}


# -- control endpoints (/_fake/*) ------------------------------------------------------------


def control_route(state, request, parts):
    route = (request.method, "/".join(parts))
    if route == ("GET", "health"):
        return 200, {"ok": True}
    if route == ("GET", "ledger"):
        return ledger(state, request.query)
    if route == ("GET", "chat_actions"):
        return chat_actions(state, request.query)
    if route == ("GET", "config"):
        return 200, state.config()
    if route == ("GET", "callbacks"):
        sent = state.webhooks.sent()
        return 200, {"count": len(sent), "callbacks": sent}
    try:
        if route == ("POST", "config"):
            return 200, state.configure(control_body(request))
        if route == ("POST", "reset"):
            return 200, state.reset(**control_body(request))
        if route == ("POST", "emit"):
            return emit(state, control_body(request))
    except (BadRequest, ConfigError) as exc:
        return 400, {"message": str(exc), "statusCode": 400}
    return not_found(request)


def control_body(request):
    try:
        return json_object(request.body)
    except BadRequest as exc:
        raise ConfigError(str(exc)) from None


def emit(state, body):
    """Send one webhook now, on this request's thread, and answer with its record.

    Synchronous so a test knows the receiver has it (or why not) once this returns.
    """
    event = body.get("event")
    if event == MESSAGE_ACK:
        message_id = required_string(body, "message_id")
        ack = body.get("ack")
        if isinstance(ack, bool) or not isinstance(ack, int) or ack not in ACK_NAMES:
            raise BadRequest(f"ack must be one of {', '.join(str(level) for level in ACK_NAMES)}")
        entry = state.find_message(message_id)
        if entry is None:
            return 404, {"message": "Message not found", "statusCode": 404, "message_id": message_id}
        session, payload = entry["session"], ack_payload(entry, ack)
    elif event == SESSION_STATUS:
        session, status = required_string(body, "session"), required_string(body, "status")
        payload = session_payload(session, status, state.status_points(session, status))
    else:
        raise BadRequest(f"event must be {MESSAGE_ACK} or {SESSION_STATUS}")
    target = state.webhook_target()
    if target.url is None:
        return 409, {"message": "webhook_url is not set", "statusCode": 409}
    return 200, state.webhooks.send_now(target, event, session, payload)


def ledger(state, query):
    def first(name):
        values = query.get(name)
        return values[0] if values else None

    since = first("since_seq")
    if since is not None and not since.lstrip("-").isdigit():
        return 400, {"message": "since_seq must be an integer", "statusCode": 400}
    messages = state.ledger(
        chat_id=first("chat_id"),
        session=first("session"),
        since_seq=int(since) if since is not None else None,
    )
    return 200, {"count": len(messages), "messages": messages}


def chat_actions(state, query):
    """The seen and typing calls, oldest first, optionally for one chat_id or session."""
    actions = state.chat_actions(
        chat_id=(query.get("chat_id") or [None])[0], session=(query.get("session") or [None])[0]
    )
    return 200, {"count": len(actions), "actions": actions}
