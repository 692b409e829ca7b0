"""What every gateway transport promises its callers: one error type, and plain result types.

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
    maybe_delivered: the gateway may have taken the message anyway (a
    timeout, a 5xx, a connection dropped mid-reply); False only when the
    request surely never arrived (connection refused) or was refused.
    session_status: for session_not_working, the status the gateway reported.
    """

    def __init__(
        self,
        code: str,
        message: str,
        permanent: bool,
        status_code: int | None = None,
        *,
        maybe_delivered: bool | None = None,
        session_status: str | None = None,
    ):
        super().__init__(code, message, permanent, status_code)
        self.code = code
        self.message = message
        self.permanent = permanent
        self.status_code = status_code
        self.maybe_delivered = (not permanent) if maybe_delivered is None else maybe_delivered
        self.session_status = session_status

    def __reduce__(self):
        # Keyword-only fields survive pickling (Celery may carry the error).
        return (
            _rebuild,
            (self.code, self.message, self.permanent, self.status_code, self.maybe_delivered, self.session_status),
        )

    def __str__(self):
        status = f" (HTTP {self.status_code})" if self.status_code is not None else ""
        return f"{self.code}{status}: {self.message}"


def _rebuild(code, message, permanent, status_code, maybe_delivered, session_status):
    return TransportError(
        code, message, permanent, status_code, maybe_delivered=maybe_delivered, session_status=session_status
    )


@dataclass(frozen=True)
class SentMessage:
    message_id: str  # the gateway's id for the message, as its lookups accept it
    raw: dict  # the gateway's full reply, for logs and debugging


@dataclass(frozen=True)
class SessionInfo:
    status: str  # the gateway's own word for it, e.g. WORKING, SCAN_QR_CODE
    # The number the session sends from, "+<digits>" (E.164), when the gateway
    # names one: WAHA does only once an account is linked, i.e. not for
    # STOPPED or SCAN_QR_CODE.
    phone_number: str | None = None
