import hashlib
import json
from datetime import timedelta
from typing import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from outbound.errors import OutboundError
from outbound.locks import try_xact_lock
from outbound.models import Account, IdempotencyKey


def request_fingerprint(payload: dict) -> str:
    """SHA-256 of the normalised request, to tell a retry from a different request."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _in_flight():
    return OutboundError(
        "idempotency_key_in_flight",
        "A request with this idempotency key is still being processed; retry shortly.",
        http_status=409,
    )


def _key_reused():
    return OutboundError(
        "idempotency_key_reused", "This idempotency key was already used for a different request."
    )


def idempotent_replay(*, account: Account, key: str, fingerprint: str) -> dict | None:
    """The stored response of a live key with this fingerprint, or None if the key is free.

    Read before the request is validated, so a retry gets the first answer
    whatever has changed since (the clock, the session's status). A key used
    for a different request is refused.
    """
    existing = (
        IdempotencyKey.objects.filter(account=account, key=key, expires_at__gt=timezone.now())
        .values_list("request_hash", "response")
        .first()
    )
    if existing is None:
        return None
    request_hash, response = existing
    if request_hash != fingerprint:
        raise _key_reused()
    return response


def idempotent_accept(*, account: Account, key: str, fingerprint: str, create: Callable[[], dict]) -> tuple[dict, bool]:
    """Run `create` once per (account, key) and remember its response body.

    Returns (response, duplicate). The key row and everything `create`
    writes commit together, so a crash leaves neither: the client's retry
    simply runs again.

    1. An advisory lock on the key makes a concurrent twin answer 409 at once
       instead of waiting for the first request's transaction.
    2. A live key with the same fingerprint replays the stored response; with
       another fingerprint the client reused a key for a different request.
    3. The unique constraint is the backstop if both got past the lock.
    """
    try:
        with transaction.atomic():
            if not try_xact_lock("idempotency", account.pk, key):
                raise _in_flight()
            now = timezone.now()
            existing = IdempotencyKey.objects.filter(account=account, key=key).first()
            if existing is not None and existing.expires_at > now:
                if existing.request_hash != fingerprint:
                    raise _key_reused()
                return existing.response, True
            if existing is not None:
                existing.delete()  # expired: the key is free again
            response = create()
            IdempotencyKey.objects.create(
                account=account,
                key=key,
                request_hash=fingerprint,
                response=response,
                expires_at=now + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS),
            )
            return response, False
    except IntegrityError:
        if IdempotencyKey.objects.filter(account=account, key=key).exists():
            raise _in_flight() from None
        raise


def idempotency_keys_purge(*, batch_size: int = 5000) -> int:
    """Delete expired keys, a batch at a time so no transaction grows large."""
    ids = list(
        IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).values_list("pk", flat=True)[:batch_size]
    )
    IdempotencyKey.objects.filter(pk__in=ids).delete()
    return len(ids)
