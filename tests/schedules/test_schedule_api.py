"""GET /v2/outbound/schedules[/{id}] and POST .../cancel: seeds/watchcollect-get-schedule.txt."""

import hashlib
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from core.time import to_ms
from outbound.models import Session
from schedules.models import Schedule
from schedules.services import schedule_occurrence_fire

from .conftest import make_due_now

# API contract: bin/test runs these on SQLite too (tests/conftest.py).
pytestmark = pytest.mark.contract

# Every field the seed marks required, with its JSON type; nullable ones separately.
REQUIRED = {
    "id": str, "actor_user_id": str, "session_id": str, "session_name": str, "session_label": str,
    "group_ids": list, "text_sha256": str, "text_length": int, "media_count": int, "status": str,
    "first_run_at_ms": int, "max_occurrences": int, "run_count": int, "failed_run_count": int,
    "updated_at_ms": int,
}
NULLABLE_INTS = ["next_run_at_ms", "interval_ms", "last_run_at_ms", "completed_at_ms", "canceled_at_ms"]
RUN_FIELDS = ["occurrence_number", "updated_at_ms", "send_id", "error_code", "error_message", "started_at_ms", "failed_at_ms"]


def test_it_returns_the_schedule_as_the_seed_specifies(api, make_schedule, session, user):
    # allow_all: occurrence 2 starts while occurrence 1 is still sending (no worker here).
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3, text="Secret launch text", overlap_policy="allow_all")
    make_due_now(schedule)
    schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1)
    Session.objects.filter(pk=session.pk).update(status=Session.Status.STOPPED)
    make_due_now(schedule)
    schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=2)

    response = api.get(f"/v2/outbound/schedules/{schedule.id}")
    assert response.status_code == 200
    body = response.json()
    for field, kind in REQUIRED.items():
        assert isinstance(body[field], kind), field
    for field in NULLABLE_INTS:
        assert body[field] is None or isinstance(body[field], int), field
    schedule.refresh_from_db()
    assert body["id"] == str(schedule.id) and body["actor_user_id"] == str(user.id)
    assert (body["session_id"], body["session_name"], body["session_label"]) == (str(session.id), session.name, "Sales line")
    assert sorted(body["group_ids"]) == sorted(str(g.id) for g in schedule.groups.all())
    assert body["status"] in {"scheduled", "running", "completed", "completed_with_failures", "canceled"}
    assert (body["run_count"], body["failed_run_count"], body["max_occurrences"]) == (2, 1, 3)
    assert body["next_run_at_ms"] == to_ms(schedule.next_run_at)
    assert body["first_run_at_ms"] == to_ms(schedule.first_run_at)
    assert body["interval_ms"] == 3_600_000
    assert isinstance(body["last_run_at_ms"], int)

    runs = body["runs"]
    assert [r["occurrence_number"] for r in runs] == [1, 2]
    for run in runs:
        assert set(RUN_FIELDS) <= set(run)
    assert runs[0]["send_id"] and runs[0]["error_code"] is None and runs[0]["failed_at_ms"] is None
    assert runs[1]["send_id"] is None and runs[1]["error_code"] == "session_not_working"
    assert isinstance(runs[1]["failed_at_ms"], int) and isinstance(runs[1]["started_at_ms"], int)


def test_it_never_shows_the_text(api, make_schedule):
    text = "Secret launch text 🚀"
    schedule = make_schedule(text=text)
    response = api.get(f"/v2/outbound/schedules/{schedule.id}")
    body = response.json()
    assert body["text_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert body["text_length"] == len(text)
    assert "Secret" not in response.content.decode()
    assert "text" not in body


def test_it_hides_another_accounts_schedule(api, other_account, make_schedule):
    from core.services.tokens import api_token_create
    from rest_framework.test import APIClient

    schedule = make_schedule()
    theirs = APIClient()
    theirs.credentials(HTTP_X_API_KEY=api_token_create(account=other_account)[1])
    for response in (
        theirs.get(f"/v2/outbound/schedules/{schedule.id}"),
        theirs.post(f"/v2/outbound/schedules/{schedule.id}/cancel"),
        api.get(f"/v2/outbound/schedules/{uuid.uuid4()}"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert Schedule.objects.get(pk=schedule.pk).status == "scheduled"


def test_it_lists_newest_first_with_cursor_pagination(api, make_schedule):
    made = [make_schedule() for _ in range(5)]
    first = api.get("/v2/outbound/schedules?limit=2").json()
    assert [s["id"] for s in first["results"]] == [str(s.id) for s in reversed(made)][:2]
    assert "runs" not in first["results"][0]
    second = api.get(first["next"]).json()
    assert [s["id"] for s in second["results"]] == [str(s.id) for s in reversed(made)][2:4]


def test_it_filters_the_list_by_status_and_session(api, make_schedule, account, make_groups):
    keep, cancel = make_schedule(), make_schedule()
    api.post(f"/v2/outbound/schedules/{cancel.id}/cancel")
    ids = lambda query: [s["id"] for s in api.get(f"/v2/outbound/schedules?{query}").json()["results"]]  # noqa: E731
    assert ids("status=canceled") == [str(cancel.id)]
    assert ids("status=scheduled") == [str(keep.id)]
    assert ids(f"session_id={keep.session_id}") == [str(cancel.id), str(keep.id)]
    assert ids(f"session_id={uuid.uuid4()}") == []
    bad = api.get("/v2/outbound/schedules?status=sleeping")
    assert bad.status_code == 400 and bad.json()["error"]["details"]["fields"]["status"][0]["code"] == "invalid_choice"


def test_cancel_is_idempotent(api, make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3)
    first = api.post(f"/v2/outbound/schedules/{schedule.id}/cancel")
    assert first.status_code == 200
    assert first.json()["status"] == "canceled" and isinstance(first.json()["canceled_at_ms"], int)
    assert first.json()["next_run_at_ms"] is None
    again = api.post(f"/v2/outbound/schedules/{schedule.id}/cancel")
    assert again.status_code == 200
    assert again.json()["canceled_at_ms"] == first.json()["canceled_at_ms"]


def test_cancel_of_a_completed_schedule_is_a_conflict(api, make_schedule, settings):
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 1
    schedule = make_schedule()
    late = timezone.now() - timedelta(minutes=1)
    Schedule.objects.filter(pk=schedule.pk).update(first_run_at=late, next_run_at=late)
    schedule_occurrence_fire(schedule_id=schedule.id)
    response = api.post(f"/v2/outbound/schedules/{schedule.id}/cancel")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "schedule_already_completed"
    assert Schedule.objects.get(pk=schedule.pk).status == "completed_with_failures"
