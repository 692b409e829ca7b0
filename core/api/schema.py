"""The OpenAPI schema as the contract: every answer an operation can give, in the shape it has.

drf-spectacular documents a view's success response; this adds the errors
every operation can answer (in the one error shape, core.api.errors),
the X-Request-ID header every response carries, and closes request bodies
(`additionalProperties: false`), since every body refuses unknown fields.
bin/fuzz (schemathesis, every check) holds the running service to it.

A view lists the business refusals only it can answer in `refusals`, per
method: {"POST": {409: [codes], 422: [codes]}}.
"""

import uritemplate
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers


class ErrorDetailOutput(serializers.Serializer):
    code = serializers.CharField(help_text="Stable: clients branch on it, e.g. validation_error, session_not_found.")
    message = serializers.CharField(help_text="For humans; may change.")
    details = serializers.DictField(
        help_text='Specifics: per-field errors under "fields" ({"group_ids": [{"code", "message"}]}), offending ids, ...'
    )


class ErrorOutput(serializers.Serializer):
    error = ErrorDetailOutput()
    request_id = serializers.CharField(help_text="Also in the X-Request-ID header.")


_REQUEST_ID_HEADER = {
    "X-Request-ID": {
        "schema": {"type": "string"},
        "description": "This request's id (the client's own if it sent a plain one): quote it in support requests.",
    }
}

# Which errors an operation can answer, and why, beyond its own `refusals`.
_ALWAYS = {
    "401": "unauthorized (no or a wrong credential), or for a JWT: invalid_token, token_expired, token_not_yet_valid, "
    "invalid_signature, unknown_secret, secret_revoked, unsupported_algorithm.",
    "403": "insufficient_scope: the credential lacks the scope this operation needs (details.required_scope).",
    "406": "not_acceptable: the Accept header allows no JSON.",
    "429": "rate_limited: over the credential's or the account's rate limit; retry after Retry-After seconds.",
    "503": "overloaded: the service is past its capacity and refused the request before doing anything; "
    "retry after Retry-After seconds.",
}
_WITH_INPUT = {"400": "validation_error: details.fields names each field and why (a stable code per field)."}
_WITH_BODY = {"415": "unsupported_media_type: send application/json (or multipart/form-data where listed)."}
_WITH_PATH_ID = {"404": "not_found: no such resource in your account (another account's looks the same)."}
_REFUSAL_TITLES = {"409": "conflict", "422": "refused"}


class OutboundAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status, description in self._error_descriptions().items():
            responses.setdefault(status, self._get_response_for_code(ErrorOutput, status, direction=direction))
            responses[status]["description"] = description
        for status in ("429", "503"):
            responses[status].setdefault("headers", {})["Retry-After"] = {
                "schema": {"type": "integer", "minimum": 1},
                "description": "Seconds to wait before retrying.",
            }
        if "401" in responses:
            responses["401"].setdefault("headers", {})["WWW-Authenticate"] = {
                "schema": {"type": "string"}, "description": 'Bearer realm="api"',
            }
        for response in responses.values():
            response.setdefault("headers", {}).update(_REQUEST_ID_HEADER)
        return responses

    def _error_descriptions(self) -> dict[str, str]:
        errors = dict(_ALWAYS)
        has_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        has_query = any(p.get("in") == "query" for p in self._get_parameters())
        if has_body or has_query:
            errors.update(_WITH_INPUT)
        if has_body:
            errors.update(_WITH_BODY)
        if uritemplate.variables(self.path):
            errors.update(_WITH_PATH_ID)
        for status, codes in getattr(self.view, "refusals", {}).get(self.method, {}).items():
            errors[str(status)] = f"{_REFUSAL_TITLES.get(str(status), 'refused')}: {', '.join(codes)}."
        return dict(sorted(errors.items()))


class UniqueListFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "core.api.strict.UniqueListField"

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        return {**schema, "uniqueItems": True}


def close_request_bodies(result, generator, request, public):
    """Postprocessing hook: request bodies refuse unknown fields, so their schemas say so."""
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and schema.get("type") == "object":
            schema["additionalProperties"] = False
    return result


class ApiCredentialScheme(OpenApiAuthenticationExtension):
    """Either header alone authenticates: two security requirements, not one requiring both."""

    target_class = "core.api.auth.ApiCredentialAuthentication"
    name = ["bearerAuth", "apiKeyAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "An API token (wc_...), or a JWT (HS256, claims iss = API secret id and iat = now "
                "in seconds) signed with \"<secret id>||<secret key>\" and good for 5 minutes either side of iat.",
            },
            {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": "An API token (wc_...)."},
        ]

    def get_security_requirement(self, auto_schema):
        return [{"bearerAuth": []}, {"apiKeyAuth": []}]
