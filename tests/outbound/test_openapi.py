import io

import yaml
from django.core.management import call_command
from rest_framework.test import APIClient


def test_the_schema_generates_without_warnings_and_matches_the_seed_fields(db):
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    paths = schema["paths"]
    assert {"/v2/outbound/sends", "/v2/outbound/sends/{send_id}", "/v2/outbound/schedules",
            "/v2/outbound/schedules/{schedule_id}", "/v2/outbound/schedules/{schedule_id}/cancel",
            "/v2/sessions", "/v2/groups"} <= set(paths)
    request = schema["components"]["schemas"]["SendInputRequest"]
    assert set(request["required"]) == {"session_id", "group_ids", "idempotency_key"}
    assert request["properties"]["group_ids"]["maxItems"] == 100
    assert request["properties"]["idempotency_key"]["maxLength"] == 200
    assert request["properties"]["text"]["maxLength"] == 4096
    assert request["properties"]["media"]["maxItems"] == 10
    detail = schema["components"]["schemas"]["ScheduleDetailOutput"]["properties"]
    for field in ["id", "actor_user_id", "session_id", "session_name", "session_label", "group_ids", "text_sha256",
                  "text_length", "media_count", "status", "first_run_at_ms", "max_occurrences", "run_count",
                  "failed_run_count", "updated_at_ms", "next_run_at_ms", "interval_ms", "last_run_at_ms",
                  "completed_at_ms", "canceled_at_ms", "runs"]:
        assert field in detail, field
    statuses = schema["components"]["schemas"]["ScheduleStatusEnum"]["enum"]
    assert statuses == ["scheduled", "running", "completed", "completed_with_failures", "canceled", "paused"]
    assert set(schema["components"]["securitySchemes"]) == {"bearerAuth", "apiKeyAuth"}


def test_the_docs_are_served_without_a_token_from_local_assets(db):
    client = APIClient()
    docs = client.get("/v2/docs")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "swagger-ui" in page and "cdn.jsdelivr.net" not in page
    assert client.get("/v2/schema").status_code == 200


def _schema() -> dict:
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    return yaml.safe_load(out.getvalue())


def _operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_either_credential_header_alone_authenticates_every_operation(db):
    for name, operation in _operations(_schema()):
        # Two requirements (either one), not one requirement naming both (which means both).
        assert operation["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}], name


def test_every_operation_lists_its_errors_in_the_error_shape(db):
    schema = _schema()
    for name, operation in _operations(schema):
        responses = operation["responses"]
        for status in ("401", "403", "406", "429"):
            assert status in responses, (name, status)
            assert responses[status]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOutput"}
        assert "Retry-After" in responses["429"]["headers"]
        assert all("X-Request-ID" in response["headers"] for response in responses.values()), name
        if "{" in name:
            assert "404" in responses, name
        if "requestBody" in operation:
            assert {"400", "415"} <= set(responses), name
    sends = dict(_operations(schema))["POST /v2/outbound/sends"]["responses"]
    assert "session_not_found" in sends["422"]["description"] and "idempotency_key_in_flight" in sends["409"]["description"]
    error = schema["components"]["schemas"]["ErrorOutput"]
    assert set(error["properties"]) == {"error", "request_id"}


def test_lists_are_documented_as_the_pages_they_are(db):
    schema = _schema()
    operation = dict(_operations(schema))["GET /v2/outbound/schedules"]
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][page["$ref"].rsplit("/", 1)[1]]
    assert set(page["properties"]) >= {"next", "previous", "results"}
    limit = next(p for p in operation["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {"type": "integer", "minimum": 1, "maximum": 200}
    status = next(p for p in operation["parameters"] if p["name"] == "status")
    assert "paused" in status["schema"]["enum"]


def test_request_bodies_are_closed_and_nullable_only_where_null_is_answered(db):
    schemas = _schema()["components"]["schemas"]
    for name, component in schemas.items():
        if name.endswith("Request") and component.get("type") == "object":
            assert component["additionalProperties"] is False, name
    assert schemas["SendInputRequest"]["properties"]["group_ids"]["uniqueItems"] is True
    run = schemas["RunOutput"]["properties"]
    assert "nullable" not in run["started_at_ms"] and run["failed_at_ms"]["nullable"] is True
    assert run["send_id"]["nullable"] is True and "nullable" not in schemas["ScheduleOutput"]["properties"]["id"]
    # The `schedule` of a send is the rule object, not free-form JSON.
    assert schemas["SendInputRequest"]["properties"]["schedule"]["allOf"] == [
        {"$ref": "#/components/schemas/ScheduleRuleInputRequest"}
    ]


def test_only_the_send_takes_multipart(db):
    for name, operation in _operations(_schema()):
        if "requestBody" in operation:
            expected = {"application/json", "multipart/form-data"} if name == "POST /v2/outbound/sends" else {"application/json"}
            assert set(operation["requestBody"]["content"]) == expected, name
