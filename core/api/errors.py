"""One error body everywhere: {"error": {"code", "message", "details"}, "request_id"}.

`code` is stable (clients branch on it), `message` is for humans, `details`
carries the specifics (per-field errors, offending ids).
"""

import logging
import math

from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from core.errors import ApplicationError

logger = logging.getLogger(__name__)


def error_body(request, *, code: str, message: str, details: dict | None = None) -> dict:
    return {
        "error": {"code": code, "message": message, "details": details or {}},
        "request_id": getattr(request, "request_id", ""),
    }


def errors_flatten(detail, prefix=""):
    """Serializer errors as {"field.sub.0": [{"code", "message"}]}."""
    out = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = str(key) if key != "non_field_errors" else ""
            out.update(errors_flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name))
    elif isinstance(detail, list) and detail and not all(isinstance(d, exceptions.ErrorDetail) for d in detail):
        for index, value in enumerate(detail):
            if value:
                out.update(errors_flatten(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        items = detail if isinstance(detail, list) else [detail]
        out.setdefault(prefix or "request", []).extend(
            {"code": getattr(item, "code", "invalid"), "message": str(item)} for item in items
        )
    return out


_GENERIC = {
    exceptions.NotAuthenticated: (401, "unauthorized", "The API token is missing, invalid or revoked."),
    exceptions.AuthenticationFailed: (401, "unauthorized", "The API token is missing, invalid or revoked."),
    exceptions.NotFound: (404, "not_found", "No such resource."),
    exceptions.PermissionDenied: (404, "not_found", "No such resource."),
    exceptions.MethodNotAllowed: (405, "method_not_allowed", None),
    exceptions.NotAcceptable: (406, "not_acceptable", None),
    exceptions.UnsupportedMediaType: (415, "unsupported_media_type", None),
    exceptions.ParseError: (400, "malformed_request", None),
    exceptions.Throttled: (429, "rate_limited", "Too many requests; retry after the number of seconds in Retry-After."),
}


def exception_handler(exc, context):
    request = context["request"]
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, ApplicationError):
        body = error_body(request, code=exc.code, message=exc.message, details=exc.details)
        return _with_headers(Response(body, status=exc.http_status), exc)
    if isinstance(exc, exceptions.ValidationError):
        fields = errors_flatten(exc.detail)
        field, errors = next(iter(fields.items()))
        message = f"{field}: {errors[0]['message']}" if field != "request" else errors[0]["message"]
        body = error_body(request, code="validation_error", message=message, details={"fields": fields})
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    for kind, (status_code, code, message) in _GENERIC.items():
        if isinstance(exc, kind):
            body = error_body(request, code=code, message=message or str(exc.detail))
            return _with_headers(Response(body, status=status_code), exc)
    if isinstance(exc, exceptions.APIException):
        body = error_body(request, code=exc.default_code, message=str(exc.detail))
        return Response(body, status=exc.status_code)
    logger.exception("Unhandled API error", exc_info=exc)
    body = error_body(request, code="internal_error", message="Something went wrong on our side.")
    return Response(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)


def _with_headers(response: Response, exc) -> Response:
    """The headers DRF's own handler would have set: WWW-Authenticate on 401, Retry-After on 429."""
    if response.status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    wait = getattr(exc, "wait", None)
    if response.status_code == 429 and wait is not None:
        response["Retry-After"] = str(math.ceil(wait))
    return response


def json_not_found(request, exception=None):
    """handler404 for URLs no view matches."""
    return JsonResponse(error_body(request, code="not_found", message="No such resource."), status=404)


def json_server_error(request):
    """handler500: errors outside DRF (middleware, URL resolution)."""
    return JsonResponse(
        error_body(request, code="internal_error", message="Something went wrong on our side."), status=500
    )
