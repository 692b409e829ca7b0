"""Sending an endpoint's webhook messages: signed per Standard Webhooks, in event order, retried on a schedule.

One dispatcher per endpoint at a time (a lease on the endpoint row), taking
its due messages oldest event first, so a receiver that answers gets events
in the order they happened; a message that fails waits for its retry while
later ones go on (receivers order by the event's own timestamps and
deduplicate by webhook-id, which is stable across retries and replays).
"""

import json
import logging
import random
import time
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from core.addresses import UrlRefused, url_check
from core.models import Account
from core.time import to_iso, to_ms
from outbound.services.events import events_record
from webhooks import metrics

from ..models import WebhookAttempt, WebhookEndpoint, WebhookMessage

logger = logging.getLogger(__name__)

# After attempt n fails, attempt n+1 comes this many seconds later (+-10%):
# 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h. Then the message has failed.
RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 86400)
LEASE = timedelta(seconds=90)
# Messages a dispatcher claims at once: one statement claims them, one records
# their attempts, one their successes, instead of five per message. A worker
# that dies mid-round leaves at most this many SENDING for the stale check.
ROUND = 20
EXCERPT = 500
# The event the account's other endpoints get when the system turns one off.
ENDPOINT_DISABLED = "webhook.endpoint.disabled"

_client = None


def _http():
    # httpx is imported when a webhook is first sent: beat and web processes
    # import this module (through the tasks) but never send one, and httpx
    # is megabytes of each.
    import httpx

    from core.http import PublicOnlyTransport

    global _client
    if _client is None:
        # No redirects: a redirect could point at an address the target check refused.
        # The transport connects only to addresses it checked itself, so a name
        # that answers differently after the round's check is refused too.
        _client = httpx.Client(
            timeout=settings.WEBHOOKS_TIMEOUT_SECONDS, follow_redirects=False, transport=PublicOnlyTransport()
        )
    return _client


def retry_delay(attempts: int) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones; None when out of attempts."""
    if attempts > len(RETRY_SCHEDULE):
        return None
    return RETRY_SCHEDULE[attempts - 1] * random.uniform(0.9, 1.1)


def message_body(message: WebhookMessage) -> str:
    """{"event", "timestamp", "data"}: `timestamp` is when the event happened (committed), the same on every attempt."""
    body = {"event": message.event_type, "timestamp": to_iso(message.event.created_at), "data": message.event.data}
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def signature_header(endpoint: WebhookEndpoint, webhook_id: str, sent_at: datetime, body: str) -> str:
    """`v1,<sig>`, and during a rotation `v1,<new> v1,<old>`: receivers accept either secret."""
    signatures = [Webhook(endpoint.secret).sign(webhook_id, sent_at, body)]
    if endpoint.previous_secret and endpoint.previous_secret_expires_at and endpoint.previous_secret_expires_at > sent_at:
        signatures.append(Webhook(endpoint.previous_secret).sign(webhook_id, sent_at, body))
    return " ".join(signatures)


def _lease(endpoint_id) -> bool:
    now = timezone.now()
    return bool(
        WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True, disabled_reason="")
        .filter(Q(dispatch_lease_until__isnull=True) | Q(dispatch_lease_until__lt=now))
        .update(dispatch_lease_until=now + LEASE)
    )


def _claim_round(endpoint: WebhookEndpoint) -> list[WebhookMessage]:
    """The endpoint's next due messages (up to ROUND, oldest event first), claimed: SENDING, one attempt more.

    Two statements for the round. The dispatcher holds the endpoint's lease,
    so only a replay or the stale-sending check can change these rows
    meanwhile; should one have, the rows this claim took are told by its
    own updated_at.
    """
    now = timezone.now()
    due = list(
        endpoint.messages.filter(status=WebhookMessage.Status.PENDING, next_attempt_at__lte=now)
        .select_related("event")
        .order_by("event_id")[:ROUND]
    )
    if not due:
        return []
    ids = [m.pk for m in due]
    # updated_at: queryset updates do not set it, and the stale-sending check
    # and the retention purge read it.
    claimed = WebhookMessage.objects.filter(pk__in=ids, status=WebhookMessage.Status.PENDING).update(
        status=WebhookMessage.Status.SENDING, attempts=F("attempts") + 1, updated_at=now
    )
    if claimed < len(due):
        ours = set(WebhookMessage.objects.filter(pk__in=ids, status=WebhookMessage.Status.SENDING, updated_at=now).values_list("pk", flat=True))
        due = [m for m in due if m.pk in ours]
    for message in due:
        message.attempts += 1
    return due


def endpoint_dispatch(*, endpoint_id, budget_seconds: float = 45.0) -> int:
    """Send an endpoint's due messages, in event order, for up to `budget_seconds`; how many were tried.

    Returns -1 if another dispatcher holds the endpoint (it will see these messages).
    """
    if not _lease(endpoint_id):
        return -1
    tried, deadline = 0, time.monotonic() + budget_seconds
    try:
        endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
        while time.monotonic() < deadline and _receiving(endpoint):
            messages = _claim_round(endpoint)
            if not messages:
                break
            tried += _send_round(endpoint, messages, deadline)
            WebhookEndpoint.objects.filter(pk=endpoint_id).update(dispatch_lease_until=timezone.now() + LEASE)
    finally:
        WebhookEndpoint.objects.filter(pk=endpoint_id).update(dispatch_lease_until=None)
    return tried


def _receiving(endpoint: WebhookEndpoint) -> bool:
    return endpoint.enabled and not endpoint.disabled_reason


def _send_round(endpoint: WebhookEndpoint, messages: list[WebhookMessage], deadline: float) -> int:
    """POST the claimed messages in order; record their attempts and successes together; how many were tried.

    A failure is recorded at once (it may turn the endpoint off, and then
    the rest of the round is not sent). What the budget or a turned-off
    endpoint leaves unsent goes back to PENDING, its attempt not counted.
    """
    try:
        url_check(endpoint.url)  # once a round (it resolves the host): DNS may have changed since it was saved
        refusal = None
    except UrlRefused as error:
        refusal = error
    attempts, succeeded = [], defaultdict(list)
    was_failing = endpoint.failing_since is not None
    for index, message in enumerate(messages):
        if time.monotonic() > deadline or not _receiving(endpoint):
            # Unsent: back to wait, or given up with the rest if the system
            # just turned the endpoint off (re-enabling replays nothing).
            rest = [m.pk for m in messages[index:]]
            after = WebhookMessage.Status.FAILED if endpoint.disabled_reason else WebhookMessage.Status.PENDING
            WebhookMessage.objects.filter(pk__in=rest, status=WebhookMessage.Status.SENDING).update(
                status=after, attempts=F("attempts") - 1
            )
            break
        attempt = _post(endpoint, message, refusal)
        attempts.append(attempt)
        code = attempt.status_code
        if code is not None and 200 <= code < 300:
            succeeded[code].append(message.pk)
            endpoint.failing_since, endpoint.consecutive_failures = None, 0  # written below, with the successes
            result = "succeeded"
        else:
            result = _settle_failure(endpoint, message, code)
        _count(endpoint, message, attempt, result)
    WebhookAttempt.objects.bulk_create(attempts)
    now = timezone.now()
    for code, ids in succeeded.items():
        WebhookMessage.objects.filter(pk__in=ids).update(
            status=WebhookMessage.Status.SUCCEEDED, delivered_at=now, last_status_code=code, updated_at=now
        )
    if endpoint.failing_since is None and succeeded and (was_failing or len(attempts) > sum(map(len, succeeded.values()))):
        # It had been failing (before or earlier in this round), and its last attempt succeeded: it works again.
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None, consecutive_failures=0, updated_at=now)
        if was_failing:
            logger.info(
                "webhook endpoint %s receiving again", endpoint.pk,
                extra={"event": "webhook.endpoint.recovered", "endpoint_id": str(endpoint.pk)},
            )
    return len(attempts)


def _post(endpoint: WebhookEndpoint, message: WebhookMessage, refusal: UrlRefused | None) -> WebhookAttempt:
    """One attempt: sign and POST; the attempt as it went (not yet saved)."""
    import httpx  # see _http

    body = message_body(message)
    sent_at = timezone.now().replace(microsecond=0)
    headers = {
        "content-type": "application/json",
        "user-agent": "outbound-webhooks/1",
        "webhook-id": message.webhook_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signature_header(endpoint, message.webhook_id, sent_at, body),
    }
    started = time.monotonic()
    attempt = WebhookAttempt(message=message)
    try:
        if refusal is not None:
            raise refusal
        response = _http().post(endpoint.url, content=body.encode(), headers=headers)
        attempt.status_code, attempt.response_excerpt = response.status_code, response.text[:EXCERPT]
    except UrlRefused as error:
        attempt.error = f"{error.code}: {error.message}"[:300]
    except httpx.TimeoutException:
        attempt.error = f"timeout after {settings.WEBHOOKS_TIMEOUT_SECONDS:g} s"
    except httpx.HTTPError as error:
        attempt.error = f"{type(error).__name__}: {error}"[:300]
    attempt.latency_ms = int((time.monotonic() - started) * 1000)
    return attempt


def _count(endpoint: WebhookEndpoint, message: WebhookMessage, attempt: WebhookAttempt, result: str) -> None:
    metrics.webhook_attempt_count(result)
    # A success is routine (three per message sent: sent, delivered, read),
    # a DEBUG line; an operator reads failures and an endpoint receiving
    # again (webhook.endpoint.recovered). A receiver that is down fails every attempt until it is back or
    # turned off: one line for its 1st, 10th, 100th, ... failure in a row, not
    # one per attempt (the attempts are all in the delivery log and the metrics).
    failures = endpoint.consecutive_failures
    quiet = result == "succeeded" or (failures > 1 and not _is_power_of_ten(failures))
    logger.log(
        logging.DEBUG if quiet else logging.INFO, "webhook %s", result,
        extra={
            "event": f"webhook.{result}", "webhook_message_id": str(message.pk), "webhook_id": message.webhook_id,
            "endpoint_id": str(endpoint.pk), "event_type": message.event_type, "attempt": message.attempts,
            "status_code": attempt.status_code, "error": attempt.error, "latency_ms": attempt.latency_ms,
            "consecutive_failures": failures,
        },
    )


def _is_power_of_ten(n: int) -> bool:
    while n % 10 == 0:
        n //= 10
    return n == 1


def _settle_failure(endpoint: WebhookEndpoint, message: WebhookMessage, status_code: int | None) -> str:
    """Record a failed attempt's outcome: retrying (a later attempt is due) or failed (given up).

    1. 410 Gone: the message has failed and the endpoint is turned off.
    2. Otherwise the message waits for its next attempt, or has failed when out of attempts.
    3. The endpoint counts the failure; failing too long or too often turns it off.
    """
    now = timezone.now()
    if status_code == 410:
        # The receiver says this endpoint is gone for good.
        WebhookMessage.objects.filter(pk=message.pk).update(status=WebhookMessage.Status.FAILED, last_status_code=410, updated_at=now)
        endpoint_disable(endpoint=endpoint, reason="The endpoint answered 410 Gone.")
        return "failed"
    delay = retry_delay(message.attempts)
    if delay is None:
        WebhookMessage.objects.filter(pk=message.pk).update(
            status=WebhookMessage.Status.FAILED, last_status_code=status_code, updated_at=now
        )
    else:
        WebhookMessage.objects.filter(pk=message.pk).update(
            status=WebhookMessage.Status.PENDING, next_attempt_at=now + timedelta(seconds=delay), last_status_code=status_code,
            updated_at=now,
        )
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    endpoint.consecutive_failures += 1
    endpoint.save(update_fields=["failing_since", "consecutive_failures", "updated_at"])
    reason = _disable_reason(endpoint, now)
    if reason:
        endpoint_disable(endpoint=endpoint, reason=reason)
        return "failed"
    return "failed" if delay is None else "retrying"


def _disable_reason(endpoint: WebhookEndpoint, now: datetime) -> str:
    """Why a failing endpoint is to be turned off now, or "" (sustained failure: days of it, or a count)."""
    limit, days = settings.WEBHOOKS_DISABLE_AFTER_FAILURES, settings.WEBHOOKS_DISABLE_AFTER_DAYS
    since = f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
    if limit and endpoint.consecutive_failures >= limit:
        return f"{endpoint.consecutive_failures} attempts in a row failed (failing since {since})."
    if now - endpoint.failing_since > timedelta(days=days):
        return f"Failing since {since} (more than {days} days)."
    return ""


def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> bool:
    """Turn a failing endpoint off (once); whether this call did.

    In one transaction: the endpoint's reason and time; its messages waiting
    for an attempt fail (re-enabling it sends only what happens afterwards);
    the account's alert for operators; a webhook.endpoint.disabled event for
    the account's other endpoints (the outbox, as every other event).
    """
    now = timezone.now()
    with transaction.atomic():
        turned_off = WebhookEndpoint.objects.filter(pk=endpoint.pk, disabled_reason="").update(
            disabled_reason=reason, disabled_at=now, updated_at=now
        )
        endpoint.disabled_reason, endpoint.disabled_at = reason, now
        if not turned_off:
            return False
        dropped = WebhookMessage.objects.filter(endpoint_id=endpoint.pk, status=WebhookMessage.Status.PENDING).update(
            status=WebhookMessage.Status.FAILED, updated_at=now
        )
        # Operators see the flag in the admin (Accounts, filter "webhook alert").
        Account.objects.filter(pk=endpoint.account_id).update(webhook_alert=f"Endpoint {endpoint.url} turned off: {reason}")
        events_record(account_id=endpoint.account_id, events=[(ENDPOINT_DISABLED, endpoint_disabled_data(endpoint, dropped))])
    logger.warning(
        "webhook endpoint %s disabled: %s", endpoint.pk, reason,
        extra={
            "event": ENDPOINT_DISABLED, "endpoint_id": str(endpoint.pk), "consecutive_failures": endpoint.consecutive_failures,
            "messages_dropped": dropped,
        },
    )
    return True


def endpoint_disabled_data(endpoint: WebhookEndpoint, dropped: int) -> dict:
    """The webhook.endpoint.disabled event's data: which endpoint, why, since when, what was given up."""
    return {
        "endpoint_id": str(endpoint.pk),
        "url": endpoint.url,
        "status": endpoint.status,
        "disabled_reason": endpoint.disabled_reason,
        "disabled_at": to_iso(endpoint.disabled_at),
        "disabled_at_ms": to_ms(endpoint.disabled_at),
        "failing_since": endpoint.failing_since and to_iso(endpoint.failing_since),
        "consecutive_failures": endpoint.consecutive_failures,
        "messages_dropped": dropped,
    }


def message_replay(*, message: WebhookMessage) -> WebhookMessage:
    """Send a message again now, whatever became of it (same webhook-id: it is the same event)."""
    now = timezone.now()
    WebhookMessage.objects.filter(pk=message.pk).exclude(status=WebhookMessage.Status.SENDING).update(
        status=WebhookMessage.Status.PENDING, next_attempt_at=now, updated_at=now
    )
    message.refresh_from_db()
    return message


def endpoints_with_due_messages() -> list:
    """Endpoints with messages due; first, messages whose dispatcher died mid-send become due again."""
    stale = timezone.now() - timedelta(seconds=3 * settings.WEBHOOKS_TIMEOUT_SECONDS) - LEASE
    WebhookMessage.objects.filter(status=WebhookMessage.Status.SENDING, updated_at__lt=stale).update(
        status=WebhookMessage.Status.PENDING
    )
    return list(
        WebhookMessage.objects.filter(status=WebhookMessage.Status.PENDING, next_attempt_at__lte=timezone.now())
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
