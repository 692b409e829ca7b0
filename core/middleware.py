import re
from contextvars import ContextVar

from django.utils import timezone

from core.ids import new_id
from core.zones import zone_get

# A client may pass its own request id (for tracing across systems) if it is short and plain.
# Behind the web tier's HAProxy this is HAProxy's id (deploy/haproxy.cfg): its log line and ours agree.
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

# The id of the request being served, for log lines (config/logging.py puts it on each).
current_request_id: ContextVar[str] = ContextVar("current_request_id", default="")


class RequestIdMiddleware:
    """Give every request an id, echoed in X-Request-ID and in every API body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _CLIENT_REQUEST_ID.match(incoming) else str(new_id())
        token = current_request_id.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response["X-Request-ID"] = request.request_id
        return response


class OperatorTimezoneMiddleware:
    """Show the admin in the signed-in operator's own time zone."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = zone_get(getattr(getattr(request, "user", None), "time_zone", ""))
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        return self.get_response(request)
