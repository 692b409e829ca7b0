"""Hostile values answer 400 with the field named (or 404 for a path naming nothing), never 500."""

import base64
import io
import json
from datetime import timedelta

import pytest
import yaml
from django.core.management import call_command
from django.utils import timezone

from core.api.parsers import MAX_JSON_DEPTH
from core.time import to_ms
from outbound.models import Send, User
from schedules.models import Schedule

HUGE = 2**63  # past PostgreSQL's bigint


def _refused(response, field, code):
    assert response.status_code == 400, (response.status_code, response.content[:500])
    fields = response.json()["error"]["details"]["fields"]
    assert code in [e["code"] for e in fields[field]], fields


def _calendar(zone):
    return {"calendar": {"days_of_week": ["monday"], "send_time": "09:00", "timezone": zone}}


@pytest.mark.parametrize("zone", ["America", "America/", "x" * 300, "zone1970.tab", "../etc/passwd", "Europe/Nowhere"])
def test_a_zone_that_is_not_in_the_zone_list_is_refused(api, send_body, zone):
    response = api.post("/v2/outbound/sends", send_body(schedule=_calendar(zone)), format="json")
    assert response.status_code == 400, response.content[:300]
    codes = {e["code"] for errors in response.json()["error"]["details"]["fields"].values() for e in errors}
    assert codes & {"invalid_timezone", "max_length"}
    assert "schedule.calendar.timezone" in response.json()["error"]["details"]["fields"]


def test_the_draft_preview_refuses_a_folder_of_the_zone_database(api):
    response = api.post("/v2/outbound/schedules/preview", _calendar("America"), format="json")
    _refused(response, "calendar.timezone", "invalid_timezone")


@pytest.mark.parametrize(
    "rule, field, code",
    [
        ({"interval_ms": HUGE, "max_occurrences": 2}, "schedule.interval_ms", "max_value"),
        ({"interval_ms": 3_600_000, "jitter_ms": HUGE}, "schedule.jitter_ms", "max_value"),
        ({"interval_ms": 3_600_000, "jitter_ms": 10**30}, "schedule.jitter_ms", "max_value"),
        ({"interval_ms": 3_600_000, "catchup_window_ms": HUGE}, "schedule.catchup_window_ms", "max_value"),
        ({"max_occurrences": HUGE}, "schedule.max_occurrences", "max_value"),
    ],
)
def test_integers_past_the_database_range_are_refused(api, send_body, rule, field, code):
    first = {"first_run_at_ms": to_ms(timezone.now() + timedelta(hours=1))}
    response = api.post("/v2/outbound/sends", send_body(schedule={**first, **rule}), format="json")
    _refused(response, field, code)
    assert not Schedule.objects.exists()


@pytest.mark.parametrize("first_run_at_ms, code", [(HUGE, "max_value"), (-HUGE, "min_value")])
def test_a_first_run_past_the_representable_range_is_refused(api, send_body, first_run_at_ms, code):
    response = api.post("/v2/outbound/sends", send_body(schedule={"first_run_at_ms": first_run_at_ms}), format="json")
    _refused(response, "schedule.first_run_at_ms", code)


def test_a_huge_jitter_in_a_schedule_edit_is_refused(api, send_body):
    schedule = {"first_run_at_ms": to_ms(timezone.now() + timedelta(hours=1)), "interval_ms": 3_600_000, "max_occurrences": 3}
    created = api.post("/v2/outbound/sends", send_body(schedule=schedule), format="json").json()
    schedule_id = created["schedule"]["schedule_id"]
    response = api.patch(f"/v2/outbound/schedules/{schedule_id}", {"schedule": {"jitter_ms": HUGE}}, format="json")
    _refused(response, "schedule.jitter_ms", "max_value")


@pytest.mark.parametrize("path", ["/v2/outbound/sends", "/v2/webhooks", "/v2/outbound/schedules/preview"])
def test_json_nested_50000_deep_is_a_400(api, path):
    response = api.generic("POST", path, "[" * 50_000 + "]" * 50_000, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    assert "nested deeper" in response.json()["error"]["message"]


def test_json_just_past_the_depth_bound_is_a_400(api, send_body):
    deep = {"a": 1}
    for _ in range(MAX_JSON_DEPTH):
        deep = {"a": deep}
    response = api.post("/v2/outbound/sends", send_body(schedule=deep), format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_request"


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_numbers_json_cannot_carry_are_a_400(api, send_body, number):
    raw = json.dumps(send_body(skip_within_hours=0)).replace('"skip_within_hours": 0', f'"skip_within_hours": {number}')
    response = api.generic("POST", "/v2/outbound/sends", raw, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert not Send.objects.exists()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e400", "[" * 50_000])
def test_the_multipart_json_parts_are_bounded_too(api, send_body, value):
    response = api.post("/v2/outbound/sends", send_body(skip_within_hours=value), format="multipart")
    _refused(response, "skip_within_hours", "invalid_json")
    assert not Send.objects.exists()


def test_a_run_number_past_the_column_is_a_404(api, send_body):
    schedule = {"first_run_at_ms": to_ms(timezone.now() + timedelta(hours=1))}
    schedule_id = api.post("/v2/outbound/sends", send_body(schedule=schedule), format="json").json()["schedule"]["schedule_id"]
    for number in (2**31, HUGE, 10**30):
        response = api.get(f"/v2/outbound/schedules/{schedule_id}/runs/{number}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
        assert api.post(f"/v2/outbound/schedules/{schedule_id}/runs/{number}/retry-failed").status_code == 404


def _cursor(position: str) -> str:
    return base64.b64encode(f"o=0&r=0&p={position}".encode()).decode()


def test_a_cursor_past_the_column_is_a_400(api, send_body):
    schedule = {"first_run_at_ms": to_ms(timezone.now() + timedelta(hours=1))}
    schedule_id = api.post("/v2/outbound/sends", send_body(schedule=schedule), format="json").json()["schedule"]["schedule_id"]
    for position in (str(HUGE), "-" + str(HUGE), "12.5", "x"):
        response = api.get(f"/v2/outbound/schedules/{schedule_id}/runs", {"cursor": _cursor(position)})
        _refused(response, "cursor", "invalid")


def test_a_cursor_with_a_nul_is_a_400(api):
    _refused(api.get("/v2/groups", {"cursor": _cursor("%00")}), "cursor", "invalid")


@pytest.mark.parametrize("limit", [str(HUGE), "1" * 5000, "-1", "1.5", "NaN"])
def test_a_page_size_past_its_range_is_a_400(api, limit):
    assert api.get("/v2/groups", {"limit": limit}).status_code == 400


def test_the_admin_refuses_a_users_zone_that_is_a_folder(client, db):
    operator = User.objects.create_superuser("operator", "op@example.com", "pw")
    client.force_login(operator)
    form = {"username": "operator", "time_zone": "America", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    page = client.post(f"/admin/outbound/user/{operator.pk}/change/", form)
    assert page.status_code == 200 and "Unknown time zone" in page.content.decode()
    # A zone stored before this check existed: the admin falls back to the default instead of a 500.
    User.objects.filter(pk=operator.pk).update(time_zone="America")
    assert client.get("/admin/").status_code == 200


def served_schema() -> dict:
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    return yaml.safe_load(out.getvalue())


def schema_nodes(node, where):
    """Every node under `node` with where it is: (where, node)."""
    if isinstance(node, dict):
        yield where, node
        for key, child in node.items():
            yield from schema_nodes(child, f"{where}.{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from schema_nodes(child, f"{where}[{index}]")


def request_body_nodes(schema):
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("Request"):
            yield from schema_nodes(component, name)


def test_every_integer_the_api_takes_has_a_minimum_and_a_maximum(db):
    """Request bodies, query and path parameters: each integer is bounded in the schema (and so in validation)."""
    schema = served_schema()
    nodes = list(request_body_nodes(schema))
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            for parameter in operation.get("parameters", []):
                nodes += schema_nodes(parameter.get("schema", {}), f"{method} {path} {parameter['name']}")
    unbounded = [
        where for where, node in nodes
        if node.get("type") == "integer" and ("minimum" not in node or "maximum" not in node) and "enum" not in node
    ]
    assert unbounded == []


def test_every_string_the_api_takes_has_a_maximum_length(db):
    """Request bodies: every free-text string has a maxLength (ids, dates, uploads and enums bound themselves)."""
    unbounded = [
        where for where, node in request_body_nodes(served_schema())
        if node.get("type") == "string"
        and not ("maxLength" in node or "enum" in node or node.get("format") in ("uuid", "date", "binary"))
    ]
    assert unbounded == []
