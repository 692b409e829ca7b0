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
