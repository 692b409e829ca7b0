"""POST /v2/providers/waha/webhook: callbacks from the WAHA gateway.

Verified (HMAC-SHA512 of the raw body, X-Webhook-Hmac), fresh
(X-Webhook-Timestamp within a tolerance), and counted once per event id.
`message.ack` moves deliveries forward; `session.status` updates the session.
"""

import hashlib
import hmac
import json
import logging
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.utils import timezone
from django.views.decorators.http import require_POST

from outbound import rawsql
from outbound.models import ProviderEvent, Session
from outbound.services.receipts import NotReady, delivery_ack_record
from outbound.services.sessions import session_status_set

from .errors import error_body

logger = logging.getLogger(__name__)


def _refuse(request, status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(request, code=code, message=message), status=status)


def _signature_problem(request, raw: bytes) -> JsonResponse | None:
    key = settings.WAHA_WEBHOOK_HMAC_KEY
    if not key:
        if settings.WAHA_WEBHOOK_ALLOW_UNSIGNED:
            return None
        return _refuse(request, 401, "unauthorized", "Set WAHA_WEBHOOK_HMAC_KEY: unsigned gateway callbacks are refused.")
    given = request.headers.get("X-Webhook-Hmac", "")
    expected = hmac.new(key.encode(), raw, hashlib.sha512).hexdigest()
    if not hmac.compare_digest(given.lower(), expected):
        return _refuse(request, 401, "invalid_signature", "X-Webhook-Hmac does not match the body.")
    return None


def _staleness_problem(request) -> JsonResponse | None:
    try:
        sent_ms = int(request.headers.get("X-Webhook-Timestamp", ""))
    except ValueError:
        return _refuse(request, 401, "stale_webhook", "X-Webhook-Timestamp is missing or not milliseconds.")
    if abs(time.time() * 1000 - sent_ms) > settings.WAHA_WEBHOOK_TOLERANCE_SECONDS * 1000:
        # A replayed old callback (or a badly wrong clock): not acted on.
        return _refuse(request, 401, "stale_webhook", "X-Webhook-Timestamp is too far from now.")
    return None


def _apply(event: dict) -> str:
    payload = event.get("payload") or {}
    if event.get("event") == "message.ack":
        return delivery_ack_record(message_id=str(payload.get("id", "")), ack=int(payload.get("ack", 99)))
    if event.get("event") == "session.status":
        session = Session.objects.filter(name=event.get("session") or payload.get("name")).first()
        status = payload.get("status")
        if session is None or status not in Session.Status.values:
            return "unknown"
        return "updated" if session_status_set(session=session, status=status) else "ignored"
    return "ignored"


@csrf_exempt
@require_POST
def waha_webhook(request):
    raw = request.body
    problem = _signature_problem(request, raw) or _staleness_problem(request)
    if problem is not None:
        return problem
    try:
        event = json.loads(raw)
        event_id = str(event["id"])
    except (ValueError, KeyError, TypeError):
        return _refuse(request, 400, "malformed_request", "Expected a WAHA event: a JSON object with an id.")
    try:
        with transaction.atomic():
            # Plain SQL (outbound/rawsql.py): every receipt comes through here.
            rawsql.insert([ProviderEvent(id=event_id[:100], type=str(event.get("event", ""))[:64], received_at=timezone.now())])
            outcome = _apply(event)
    except IntegrityError:
        return JsonResponse({"status": "duplicate", "request_id": request.request_id})
    except NotReady:
        # The event id was not kept (the transaction rolled back): the retry counts.
        return _refuse(request, 503, "not_ready", "The message is still being recorded; retry shortly.")
    return JsonResponse({"status": outcome, "request_id": request.request_id})
