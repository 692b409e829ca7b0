"""Rate limits per credential and per account, shared by every web process (Redis).

The counting is the `limits` library's sliding-window counter: one atomic
Redis script per limit and request, a fixed cost that does not grow with the
limit (a log of every request, as DRF's own throttles keep, would).
"""

import functools
import time

from django.conf import settings
from rest_framework.throttling import BaseThrottle


@functools.cache
def _limiter(storage_url: str):
    # Imported when first needed: the admin's forms import the API's inputs in
    # beat and worker processes too, which never count requests (limits and
    # its storage are megabytes of each).
    from limits import storage, strategies

    return strategies.SlidingWindowCounterRateLimiter(storage.storage_from_string(storage_url))


@functools.cache
def _parse(rate: str):
    from limits import parse

    return parse(rate)


def _is_exempt(principal) -> bool:
    # credential_key is "token:<id>" or "secret:<id>" (core.api.auth).
    return principal.credential_key.partition(":")[2] in settings.API_RATE_LIMIT_EXEMPT_CREDENTIALS


class CredentialRateThrottle(BaseThrottle):
    """API_RATE_LIMIT_PER_TOKEN for each credential, API_RATE_LIMIT_PER_ACCOUNT for all of an account's.

    Over either: 429 rate_limited with Retry-After (core.api.errors).
    Unauthenticated requests (the schema, gateway callbacks) are not counted here,
    nor those of a credential the operator listed in API_RATE_LIMIT_EXEMPT_CREDENTIALS.
    """

    wait_seconds = None

    def allow_request(self, request, view):
        principal = request.user
        if not getattr(principal, "is_authenticated", False) or _is_exempt(principal):
            return True
        limiter = _limiter(settings.API_RATE_LIMIT_STORAGE_URL)
        for rate, key in (
            (settings.API_RATE_LIMIT_PER_TOKEN, principal.credential_key),
            (settings.API_RATE_LIMIT_PER_ACCOUNT, f"account:{principal.account.pk}"),
        ):
            if rate is None:
                continue
            item = _parse(rate)
            if not limiter.hit(item, "api", key):
                reset_at = limiter.get_window_stats(item, "api", key).reset_time
                self.wait_seconds = max(1.0, reset_at - time.time())
                return False
        return True

    def wait(self):
        return self.wait_seconds
