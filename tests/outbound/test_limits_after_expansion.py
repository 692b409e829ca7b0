"""Limits hold on the message as sent: placeholders filled, per variant, at request time and again before the gateway."""

import json
from datetime import timedelta

import httpx
from django.utils import timezone

from core.time import to_ms
from outbound.limits import MAX_TEXT, text_rendered_length
from outbound.models import Delivery, Send
from outbound.services.deliveries import delivery_attempt
from outbound.variants import text_render
from schedules.models import Schedule

# 819 placeholders (4,095 characters) of 2,048 each: 1.6 million characters once filled.
AMPLIFIED = {"variant_name": "Big", "text": "{{a}}" * 819, "values": {"a": "x" * 2048}, "percent_audience": 100}


def _variant(text_length: int) -> dict:
    """A variant whose text is exactly `text_length` (>= 4000) characters once its placeholders are filled."""
    text = "p" * (text_length - 4000) + "{{a}}{{a}}"
    return {"variant_name": "A", "text": text, "values": {"a": "x" * 2000}, "percent_audience": 100}


def _field_codes(response, field):
    assert response.status_code == 400, response.json()
    return [e["code"] for e in response.json()["error"]["details"]["fields"][field]]


def test_the_length_is_computed_without_building_the_text():
    for text, values in [("", {}), ("Hi {{ name }}!", {"name": "Ann"}), ("{{a}}{{b}}{{a}}", {"a": "xy", "b": ""})]:
        assert text_rendered_length(text, values) == len(text_render(text, values))


def test_an_immediate_send_is_refused_when_a_variant_grows_past_the_limit(api, send_base):
    response = api.post("/v2/outbound/sends", send_base(variants=[AMPLIFIED]), format="json")
    assert "text_too_long" in _field_codes(response, "variants.0.text")
    assert "variants.0.text" in response.json()["error"]["message"]
    assert not Send.objects.exists()


def test_the_limit_names_the_variant_that_is_over_it(api, send_base):
    ok = {**_variant(MAX_TEXT), "variant_name": "Fits", "percent_audience": 50}
    over = {**_variant(MAX_TEXT + 1), "variant_name": "Over", "percent_audience": 50}
    response = api.post("/v2/outbound/sends", send_base(variants=[ok, over]), format="json")
    fields = response.json()["error"]["details"]["fields"]
    assert "text_too_long" in _field_codes(response, "variants.1.text")
    assert "variants.0.text" not in fields


def test_a_variant_exactly_at_the_limit_is_accepted(api, send_base):
    response = api.post("/v2/outbound/sends", send_base(variants=[_variant(MAX_TEXT)]), format="json")
    assert response.status_code == 202, response.json()
    assert len(Send.objects.get().variants[0]["text"]) == MAX_TEXT


def test_a_scheduled_send_is_refused_too(api, send_base):
    schedule = {"first_run_at_ms": to_ms(timezone.now() + timedelta(hours=1))}
    response = api.post("/v2/outbound/sends", send_base(variants=[AMPLIFIED], schedule=schedule), format="json")
    assert "text_too_long" in _field_codes(response, "variants.0.text")
    assert not Schedule.objects.exists()


def test_a_schedule_edit_is_refused_too(api, send_base):
    schedule = {"first_run_at_ms": to_ms(timezone.now() + timedelta(hours=1))}
    created = api.post("/v2/outbound/sends", send_base(text="Hello", schedule=schedule), format="json")
    schedule_id = created.json()["schedule"]["schedule_id"]
    response = api.patch(f"/v2/outbound/schedules/{schedule_id}", {"variants": [AMPLIFIED]}, format="json")
    assert "text_too_long" in _field_codes(response, "variants.0.text")
    assert Schedule.objects.get(pk=schedule_id).variants == []


def test_the_multipart_path_is_refused_too(api, send_base):
    form = send_base(variants=json.dumps([AMPLIFIED]))
    response = api.post("/v2/outbound/sends", form, format="multipart")
    assert "text_too_long" in _field_codes(response, "variants.0.text")


def test_a_stored_message_over_the_limits_fails_before_the_gateway(api, send_base, gateway):
    """Content written before this check existed (or around the API) is not sent: it fails, it is not retried."""
    response = api.post("/v2/outbound/sends", send_base(variants=[{"variant_name": "A", "text": "Hi", "percent_audience": 100}]), format="json")
    send = Send.objects.get(pk=response.json()["send"]["send_id"])
    Send.objects.filter(pk=send.pk).update(variants=[{**send.variants[0], "text": "x" * (MAX_TEXT + 1)}])
    for delivery in send.deliveries.all():
        assert delivery_attempt(delivery_id=delivery.id) is None
    assert httpx.get(f"{gateway.base_url}/_fake/ledger").json()["messages"] == []
    outcomes = set(Delivery.objects.filter(send=send).values_list("status", "error_code"))
    assert outcomes == {("failed", "content_over_limits")}
