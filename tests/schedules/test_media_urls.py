"""Media URLs of schedules: the same rule as immediate sends (core/addresses.py), on create, PATCH and in the admin."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from core.time import to_ms
from schedules.models import Schedule

from .test_admin import edit_form, operator  # noqa: F401 (the admin's operator fixture)

METADATA = "http://169.254.169.254/latest/meta-data/"
SHARED = "http://100.100.100.200/latest/meta-data/"


def assert_field_refused(response, field, code):
    assert response.status_code == 400, response.json()
    fields = response.json()["error"]["details"]["fields"]
    assert fields[field][0]["code"] == code, fields


def test_a_schedule_with_non_public_media_is_refused_on_create(api, session, make_groups):
    body = {
        "session_id": str(session.id), "group_ids": [str(g.id) for g in make_groups(1)], "idempotency_key": "k-media",
        "media": [{"url": METADATA}], "schedule": {"first_run_at_ms": to_ms(timezone.now() + timedelta(hours=1))},
    }
    assert_field_refused(api.post("/v2/outbound/sends", body, format="json"), "media.0.url", "url_not_public")
    assert not Schedule.objects.exists()


def test_a_schedule_variant_with_non_public_media_is_refused_on_create(post_schedule):
    variants = [
        {"variant_name": "A", "text": "Hi", "percent_audience": 50},
        {"variant_name": "B", "media": [{"url": SHARED}], "percent_audience": 50},
    ]
    assert_field_refused(post_schedule(variants=variants, text=""), "variants.1.media.0.url", "url_not_public")
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"media": [{"url": METADATA}]}, "media.0.url"),
        ({"media": [{"url": "http://[2002:a9fe:a9fe::]/a.png"}]}, "media.0.url"),
        (
            {"variants": [{"variant_name": "A", "media": [{"url": SHARED}], "percent_audience": 100}]},
            "variants.0.media.0.url",
        ),
    ],
)
def test_patch_refuses_non_public_media_and_changes_nothing(api, make_schedule, patch, field):
    schedule = make_schedule()
    response = api.patch(f"/v2/outbound/schedules/{schedule.id}", patch, format="json")
    assert_field_refused(response, field, "url_not_public")
    schedule.refresh_from_db()
    assert schedule.media == [] and schedule.variants == [] and not schedule.changes.exists()


def test_patch_accepts_public_media(api, make_schedule, public_dns):
    schedule = make_schedule()
    response = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"media": [{"url": "https://cdn.example.com/a.png"}]}, format="json")
    assert response.status_code == 200, response.json()
    schedule.refresh_from_db()
    assert schedule.media == [{"url": "https://cdn.example.com/a.png"}]


def test_the_admin_refuses_a_variant_with_non_public_media(operator, make_schedule):  # noqa: F811
    schedule = make_schedule()
    variants = [{"variant_name": "A", "media": [{"url": SHARED}], "percent_audience": 100}]
    response = operator.post(
        f"/admin/schedules/schedule/{schedule.id}/change/", edit_form(operator, schedule, variants=json.dumps(variants))
    )
    assert response.status_code == 200  # the form again, with the error
    assert "not a public internet address" in response.content.decode()
    schedule.refresh_from_db()
    assert schedule.variants == []
