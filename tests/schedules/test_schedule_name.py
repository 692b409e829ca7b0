"""A schedule's optional name: `schedule.name` when a send creates it, PATCH to change it, in every output."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.time import to_ms
from schedules.models import Schedule


def refused(response, field: str, code: str) -> None:
    assert response.status_code == 400, response.json()
    assert [e["code"] for e in response.json()["error"]["details"]["fields"][field]] == [code], response.json()


def test_it_names_a_schedule_given_schedule_name_and_shows_it(api, post_schedule):
    response = post_schedule(name="Ramadan promo 2026", interval_ms=3_600_000, max_occurrences=2)
    assert response.status_code == 202, response.json()
    schedule_id = response.json()["schedule"]["schedule_id"]
    assert Schedule.objects.get(pk=schedule_id).name == "Ramadan promo 2026"
    assert api.get(f"/v2/outbound/schedules/{schedule_id}").json()["name"] == "Ramadan promo 2026"
    listed = api.get("/v2/outbound/schedules").json()["results"]
    assert [s["name"] for s in listed if s["id"] == schedule_id] == ["Ramadan promo 2026"]


def test_it_shows_an_empty_name_for_a_schedule_without_one(api, make_schedule):
    schedule = make_schedule()
    assert schedule.name == "" and api.get(f"/v2/outbound/schedules/{schedule.id}").json()["name"] == ""


@pytest.mark.parametrize("name, code", [("x" * 201, "max_length"), (42, "invalid_type"), (None, "null")])
def test_it_refuses_a_name_that_is_not_a_string_of_at_most_200_characters(post_schedule, name, code):
    refused(post_schedule(name=name), "schedule.name", code)


def test_it_keeps_a_name_of_200_characters_whole(post_schedule):
    response = post_schedule(name="n" * 200)
    assert Schedule.objects.get(pk=response.json()["schedule"]["schedule_id"]).name == "n" * 200


def test_it_renames_a_schedule_by_patch_and_audits_it(api, make_schedule):
    schedule = make_schedule(name="Old", interval_ms=3_600_000, max_occurrences=3)
    before = (schedule.first_run_at, schedule.next_run_at)
    response = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"name": "New"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "New"
    schedule.refresh_from_db()
    assert (schedule.name, (schedule.first_run_at, schedule.next_run_at)) == ("New", before)
    change = schedule.changes.get()
    assert (change.source, change.changes) == ("api", {"name": ["Old", "New"]})


def test_it_renames_by_schedule_name_in_a_patch_without_touching_the_timing(api, make_schedule):
    schedule = make_schedule(calendar={"days_of_week": ["friday"], "send_time": "14:30", "timezone": "Africa/Cairo"})
    before = (schedule.first_run_at, schedule.next_run_at, schedule.start_date)
    response = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"schedule": {"name": "Fridays"}}, format="json")
    assert response.status_code == 200, response.json()
    schedule.refresh_from_db()
    assert schedule.name == "Fridays" and (schedule.first_run_at, schedule.next_run_at, schedule.start_date) == before
    assert set(schedule.changes.get().changes) == {"name"}


def test_it_applies_a_new_name_and_new_timing_together(api, make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3)
    first = to_ms(timezone.now() + timedelta(hours=5))
    body = {"schedule": {"first_run_at_ms": first, "name": "Later"}}
    assert api.patch(f"/v2/outbound/schedules/{schedule.id}", body, format="json").status_code == 200
    schedule.refresh_from_db()
    assert (schedule.name, to_ms(schedule.next_run_at)) == ("Later", first)


def test_it_refuses_a_patch_giving_two_different_names(api, make_schedule):
    schedule = make_schedule(name="Old")
    body = {"name": "One", "schedule": {"name": "Two"}}
    refused(api.patch(f"/v2/outbound/schedules/{schedule.id}", body, format="json"), "name", "conflicting_name")
    assert Schedule.objects.get(pk=schedule.pk).name == "Old"


def test_it_previews_a_named_draft(api):
    body = {"first_run_at_ms": to_ms(timezone.now() + timedelta(hours=1)), "interval_ms": 60_000, "max_occurrences": 3, "name": "Draft"}
    response = api.post("/v2/outbound/schedules/preview?count=3", body, format="json")
    assert response.status_code == 200, response.json()
    assert len(response.json()["occurrences"]) == 3
