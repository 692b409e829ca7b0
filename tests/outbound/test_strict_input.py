"""Sends and sessions refuse fields they do not know, at every level: a typo must never send.

Schedule edits, previews and webhooks have the same cases in their own test files.

Each case posts a body that would be accepted without its unknown field, and
checks the refusal names that field and that nothing was sent or stored.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Event
from core.time import to_ms
from outbound.models import Delivery, IdempotencyKey, Send, Session
from schedules.models import Schedule
from tests.api_asserts import assert_unknown_field


def _in_an_hour_ms():
    return to_ms(timezone.now() + timedelta(hours=1))


def _assert_nothing_sent():
    assert not Send.objects.exists() and not Delivery.objects.exists()
    assert not Schedule.objects.exists() and not Event.objects.exists()
    assert not IdempotencyKey.objects.exists()


def test_a_misspelt_schedule_is_refused_not_sent_at_once(api, send_body, queued_tasks):
    response = api.post("/v2/outbound/sends", send_body(scheduel={"first_run_at_ms": _in_an_hour_ms()}), format="json")
    assert_unknown_field(response, "scheduel")
    _assert_nothing_sent()
    assert queued_tasks() == []


def test_the_same_body_spelt_right_is_accepted(api, send_body):
    # The control for the case above: the refusal is the typo's doing.
    response = api.post("/v2/outbound/sends", send_body(schedule={"first_run_at_ms": _in_an_hour_ms()}), format="json")
    assert response.status_code == 202, response.json()
    assert "schedule" in response.json() and not Send.objects.exists()


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"media": [{"url": "https://cdn.example.com/a.png", "caption": "x"}], "text": ""}, "media.0.caption"),
        (
            {"variants": [{"variant_name": "A", "text": "Hi", "percent_audience": 100, "percnt": 1}], "text": ""},
            "variants.0.percnt",
        ),
        ({"schedule": {"first_run_at_ms": 1, "intervl_ms": 60000}}, "schedule.intervl_ms"),
        ({"schedule": {"calendar": {"days_of_week": ["monday"], "send_time": "09:00", "timezone": "UTC", "tz": "x"}}},
         "schedule.calendar.tz"),
        ({"Text": "Hello"}, "Text"),
    ],
    ids=["media", "variants", "schedule", "calendar", "case"],
)
def test_unknown_fields_are_refused_at_every_level_of_a_send(api, send_body, extra, field):
    assert_unknown_field(api.post("/v2/outbound/sends", send_body(**extra), format="json"), field)
    _assert_nothing_sent()


def test_an_unknown_form_field_is_refused_in_a_multipart_send(api, send_body):
    body = send_body(scheduel='{"first_run_at_ms": 1}')
    assert_unknown_field(api.post("/v2/outbound/sends", body, format="multipart"), "scheduel")
    _assert_nothing_sent()


def test_an_unknown_field_is_refused_in_a_session_patch(api, session):
    response = api.patch(f"/v2/sessions/{session.id}", {"messages_per_minute": 5, "messages_per_hour": 100}, format="json")
    assert_unknown_field(response, "messages_per_hour")
    assert Session.objects.get(pk=session.pk).messages_per_minute is None


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"text": 123}, "text"),
        ({"skip_within_hours": "5"}, "skip_within_hours"),
        ({"skip_within_hours": True}, "skip_within_hours"),
        ({"group_ids": [7]}, "group_ids.0"),
        ({"schedule": {"first_run_at_ms": "1795377491303"}}, "schedule.first_run_at_ms"),
        ({"schedule": {"first_run_at_ms": 1795377491303, "max_occurrences": True}}, "schedule.max_occurrences"),
        ({"variants": [{"variant_name": 1, "text": "Hi", "percent_audience": 100}], "text": ""}, "variants.0.variant_name"),
    ],
    ids=["number-for-text", "string-for-number", "boolean-for-number", "number-for-uuid", "string-for-integer",
         "boolean-for-integer", "number-for-name"],
)
def test_a_value_of_the_wrong_json_type_is_refused_not_coerced(api, send_body, extra, field):
    response = api.post("/v2/outbound/sends", send_body(**extra), format="json")
    assert response.status_code == 400, response.json()
    assert [e["code"] for e in response.json()["error"]["details"]["fields"][field]] == ["invalid_type"]
    _assert_nothing_sent()


def test_an_integral_float_is_a_whole_number_as_json_schema_says(api, send_body):
    body = send_body(schedule={"first_run_at_ms": to_ms(timezone.now() + timedelta(hours=1)), "max_occurrences": 1.0})
    assert api.post("/v2/outbound/sends", body, format="json").status_code == 202


@pytest.mark.parametrize(
    "query, field",
    [("limit=0", "limit"), ("limit=201", "limit"), ("limit=ten", "limit"), ("cursor=bm9wZQ", "cursor"),
     ("status=", "status"), ("session_id=", "session_id")],
)
def test_list_parameters_are_validated(api, query, field):
    response = api.get(f"/v2/outbound/schedules?{query}")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["details"]["fields"]
