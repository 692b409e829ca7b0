import hashlib
import json
from datetime import timedelta
from typing import Callable

from django.conf import settings
from django.db import transaction

from core.errors import ApplicationError
from core.locks import try_xact_lock
from core.models import Account
from outbound import clock, sql
from outbound.models import IdempotencyKey
from outbound.services.retention import rows_purge


def request_fingerprint(payload: dict) -> str:
    """SHA-256 of the normalised request, to tell a retry from a different request."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _in_flight():
    return ApplicationError(
        "idempotency_key_in_flight",
        "A request with this idempotency key is still being processed; retry shortly.",
        http_status=409,
    )


def _key_reused():
    return ApplicationError(
        "idempotency_key_reused", "This idempotency key was already used for a different request."
    )


def idempotent_replay(*, account: Account, key: str, fingerprint: str) -> dict | None:
    """The stored response of a live key with this fingerprint, or None if the key is free.

    Read before the request is validated, so a retry gets the first answer
    whatever has changed since (the clock, the session's status). A key used
    for a different request is refused.
    """
    found = sql.idempotency_key_live(account_id=account.pk, key=key, now=clock.now())
    if found is None:
        return None
    request_hash, response = found
    if request_hash != fingerprint:
        raise _key_reused()
    return response


class _KeyTaken(Exception):
    """Another request stored this key first (it committed after our lookup): roll back, answer as it did."""


def idempotent_accept(*, account: Account, key: str, fingerprint: str, create: Callable[[], dict]) -> tuple[dict, bool]:
    """Run `create` once per (account, key) and remember its response body.

    Returns (response, duplicate). The caller has already replayed a live
    key (idempotent_replay); this is the first request, or a twin racing it.
    The key row and everything `create` writes commit together, so a crash
    leaves neither: the client's retry simply runs again.

    1. An advisory lock on the key makes a concurrent twin answer 409 at once
       instead of waiting for the first request's transaction.
    2. `create` runs, then the key is stored with one upsert that takes a
       free or expired key and leaves a live one alone.
    3. A live one means a twin committed between the lookup and the lock:
       everything rolls back and this request answers as the twin did.
    """
    try:
        with transaction.atomic():
            if not try_xact_lock("idempotency", account.pk, key):
                raise _in_flight()
            response = create()
            if not _key_store(account=account, key=key, fingerprint=fingerprint, response=response):
                raise _KeyTaken()
            return response, False
    except _KeyTaken:
        replay = idempotent_replay(account=account, key=key, fingerprint=fingerprint)
        if replay is None:  # it expired in between: vanishingly rare, and safe to retry
            raise _in_flight() from None
        return replay, True


def _key_store(*, account: Account, key: str, fingerprint: str, response: dict) -> bool:
    """Insert the key, or take over an expired one; False if a live one is there (outbound.sql says why in SQL)."""
    now = clock.now()
    return sql.idempotency_key_store(
        account_id=account.pk, key=key, request_hash=fingerprint, response=response, now=now,
        expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
    )


def idempotency_keys_purge(*, batch: int = 1000, max_batches: int = 20) -> int:
    """Delete expired keys (IDEMPOTENCY_KEY_TTL_HOURS), `batch` per short transaction, at most `max_batches` a run; how many."""
    expired = IdempotencyKey.objects.filter(expires_at__lte=clock.now()).order_by("expires_at")
    return rows_purge(queryset=expired, batch=batch, max_batches=max_batches)
