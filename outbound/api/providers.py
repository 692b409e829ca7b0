"""POST /v2/providers/waha/webhook: callbacks from the WAHA gateway.

Verified (HMAC-SHA512 of the raw body, X-Webhook-Hmac), fresh (the body's
own `timestamp`, which the HMAC covers, within a tolerance), and counted
once per event id. `message.ack` moves deliveries forward; `session.status`
updates the session.

Freshness is judged from the signed body, never from the X-Webhook-Timestamp
header: nothing signs the header, so a captured callback could be sent again
with a new one. An event id is kept (ProviderEvent) for at least twice the
tolerance (outbound.services.retention), so for as long as a body could pass
the freshness check its second arrival is a duplicate.
"""

import hashlib
import hmac
import json
import logging
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import serializers

from core.api.errors import error_body, errors_flatten
from core.api.strict import json_type_errors
from outbound.models import ProviderEvent, Session
from outbound.services.receipts import STATUS_FOR_ACK, NotReady, delivery_ack_record
from outbound.services.sessions import session_status_set

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Webhook-Hmac"


def _refuse(request, status: int, code: str, message: str, fields: dict | None = None) -> JsonResponse:
    details = {"fields": fields} if fields else None
    return JsonResponse(error_body(request, code=code, message=message, details=details), status=status)


def _signature_problem(request, raw: bytes) -> JsonResponse | None:
    key = settings.WAHA_WEBHOOK_HMAC_KEY
    if not key:
        if settings.WAHA_WEBHOOK_ALLOW_UNSIGNED:
            return None
        return _refuse(request, 401, "unauthorized", "Set WAHA_WEBHOOK_HMAC_KEY: unsigned gateway callbacks are refused.")
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not given.isascii():
        # hmac.compare_digest takes ASCII strings only; no hex digest is anything else.
        message = f"{SIGNATURE_HEADER} must be the hex HMAC-SHA512 of the body."
        return _refuse(request, 400, "malformed_signature", message, {SIGNATURE_HEADER: [{"code": "invalid", "message": message}]})
    expected = hmac.new(key.encode(), raw, hashlib.sha512).hexdigest()
    if not hmac.compare_digest(given.lower(), expected):
        return _refuse(request, 401, "invalid_signature", f"{SIGNATURE_HEADER} does not match the body.")
    return None


class _Typed(serializers.Serializer):
    """Each field it knows must be of its JSON type (no coercion); the many fields WAHA adds pass untouched."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            errors = {
                name: error
                for name, field in self.fields.items()
                if name in data and (error := json_type_errors(field, data[name])) is not None
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


# Milliseconds since the epoch up to the year 9999: beyond it no clock is right.
MAX_TIMESTAMP_MS = 253_402_300_799_999


class WahaEventInput(_Typed):
    """WAHA's webhook envelope (WAWebhook): what this endpoint reads of it."""

    id = serializers.CharField(max_length=100)
    timestamp = serializers.IntegerField(min_value=0, max_value=MAX_TIMESTAMP_MS, help_text="When WAHA sent it, ms (signed).")
    event = serializers.CharField(max_length=64)
    session = serializers.CharField(max_length=200, required=False, allow_blank=True)
    payload = serializers.DictField(required=False)


class AckPayloadInput(_Typed):
    """WAMessageAckBody: the message and its new ack level (-1 ERROR ... 4 PLAYED)."""

    id = serializers.CharField(max_length=500)
    ack = serializers.IntegerField(min_value=min(STATUS_FOR_ACK), max_value=max(STATUS_FOR_ACK))


class SessionStatusPayloadInput(_Typed):
    """WASessionStatusBody: the session's new status."""

    name = serializers.CharField(max_length=200, required=False)
    status = serializers.CharField(max_length=64)


PAYLOADS = {"message.ack": AckPayloadInput, "session.status": SessionStatusPayloadInput}


def _event_read(raw: bytes) -> tuple[dict | None, dict | None]:
    """(the event, None) or (None, its errors by field name): a WAHA envelope, and the payload of the events we act on."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to read
        return None, {"request": [{"code": "invalid_json", "message": "The body is not JSON."}]}
    envelope = WahaEventInput(data=data)
    if not envelope.is_valid():
        return None, errors_flatten(envelope.errors)
    event = dict(envelope.validated_data)
    payload_input = PAYLOADS.get(event["event"])
    if payload_input is not None:
        payload = payload_input(data=event.get("payload", {}))
        if not payload.is_valid():
            return None, errors_flatten({"payload": payload.errors})
        event["payload"] = dict(payload.validated_data)
    return event, None


def _staleness_problem(request, event: dict) -> JsonResponse | None:
    if abs(time.time() * 1000 - event["timestamp"]) > settings.WAHA_WEBHOOK_TOLERANCE_SECONDS * 1000:
        # A replayed old callback (or a badly wrong clock): not acted on.
        return _refuse(request, 401, "stale_webhook", "The event's timestamp is too far from now.")
    return None


def _apply(event: dict) -> str:
    payload = event.get("payload") or {}
    if event["event"] == "message.ack":
        return delivery_ack_record(message_id=payload["id"], ack=payload["ack"])
    if event["event"] == "session.status":
        session = Session.objects.filter(name=event.get("session") or payload.get("name", "")).first()
        status = payload["status"]
        if session is None or status not in Session.Status.values:
            return "unknown"
        return "updated" if session_status_set(session=session, status=status) else "ignored"
    return "ignored"


@csrf_exempt
@require_POST
def waha_webhook(request):
    raw = request.body
    problem = _signature_problem(request, raw)
    if problem is not None:
        return problem
    event, errors = _event_read(raw)
    if errors:
        field, [first, *_] = next(iter(errors.items()))
        message = f"Expected a WAHA event; {field}: {first['message']}"
        return _refuse(request, 400, "malformed_request", message, errors)
    problem = _staleness_problem(request, event)
    if problem is not None:
        return problem
    try:
        with transaction.atomic():
            ProviderEvent.objects.create(id=event["id"], type=event["event"], received_at=timezone.now())
            outcome = _apply(event)
    except IntegrityError:
        return JsonResponse({"status": "duplicate", "request_id": request.request_id})
    except NotReady:
        # The event id was not kept (the transaction rolled back): the retry counts.
        return _refuse(request, 503, "not_ready", "The message is still being recorded; retry shortly.")
    return JsonResponse({"status": outcome, "request_id": request.request_id})
