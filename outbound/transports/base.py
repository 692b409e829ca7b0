"""What every gateway transport promises its callers: one error type, one result type.

Delivery code decides retry-or-fail from `permanent` alone and records `code`,
so both must mean the same thing whichever gateway sits behind the transport.
"""

from dataclasses import dataclass

# Stable codes: they end up in the database and the API, so never rename one.
SESSION_NOT_WORKING = "session_not_working"
SESSION_NOT_FOUND = "session_not_found"
GATEWAY_UNAUTHORIZED = "gateway_unauthorized"
GATEWAY_REJECTED = "gateway_rejected"
GATEWAY_ERROR = "gateway_error"
GATEWAY_TIMEOUT = "gateway_timeout"
GATEWAY_UNREACHABLE = "gateway_unreachable"


class TransportError(Exception):
    """A gateway call that did not succeed.

    permanent: retrying the same call cannot help (the gateway said no: 4xx).
    Transient errors (5xx, timeouts, connection trouble) may or may not have
    delivered the message, so a retry must first ask the gateway.
    """

    def __init__(self, code: str, message: str, permanent: bool, status_code: int | None = None):
        super().__init__(code, message, permanent, status_code)
        self.code = code
        self.message = message
        self.permanent = permanent
        self.status_code = status_code

    def __str__(self):
        status = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        return f"{self.code}{status}: {self.message}"


@dataclass(frozen=True)
class SentMessage:
    message_id: str  # the gateway's id for the message, as its lookups accept it
    raw: dict  # the gateway's full reply, for logs and debugging
