"""jitter_ms: each occurrence fires at its due time plus a fixed offset in [0, jitter_ms], never before its due time."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from core.ids import id_time
from core.models import Event
from core.time import to_iso, to_ms
from schedules.models import Schedule
from schedules.rules import jitter_offset_ms
from schedules.services import FireEarly, schedule_occurrence_fire

HOUR = 3_600_000


def test_the_offset_is_the_same_for_the_same_occurrence_and_within_the_jitter():
    schedule_id = uuid.uuid4()
    offsets = [jitter_offset_ms(schedule_id, k, 30_000) for k in range(1, 2001)]
    assert offsets == [jitter_offset_ms(schedule_id, k, 30_000) for k in range(1, 2001)]
    assert all(0 <= o <= 30_000 for o in offsets)
    # Spread over the window, not bunched.
    assert min(offsets) < 1_000 and max(offsets) > 29_000 and len(set(offsets)) > 1900
    assert jitter_offset_ms(schedule_id, 1, 0) == 0
    # Schedules sharing a due time get different offsets.
    assert len({jitter_offset_ms(uuid.uuid4(), 1, 30_000) for _ in range(200)}) > 190


def test_next_run_is_the_due_time_plus_the_offset(post_schedule, api):
    response = post_schedule(interval_ms=HOUR, max_occurrences=3, jitter_ms=600_000)
    assert response.status_code == 202, response.json()
    part = response.json()["schedule"]
    schedule = Schedule.objects.get(pk=part["schedule_id"])
    offset = jitter_offset_ms(schedule.id, 1, 600_000)
    assert schedule.next_run_at == schedule.first_run_at + timedelta(milliseconds=offset)
    assert part["next_run_at_ms"] == to_ms(schedule.next_run_at)
    detail = api.get(f"/v2/outbound/schedules/{schedule.id}").json()
    assert detail["jitter_ms"] == 600_000
    assert detail["next_due_at_ms"] == to_ms(schedule.first_run_at)
    assert detail["next_run_at_ms"] == to_ms(schedule.first_run_at) + offset


def test_it_never_fires_before_the_fire_time_and_the_run_records_both(make_schedule, clock):
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=3, jitter_ms=1_800_000)
    offset = schedule.jitter_offset_ms(1)
    clock.move_to(schedule.first_run_at)
    # Due, but not at its fire time yet: a fire that comes anyway comes back at the fire time (or is far early).
    outcome = schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1)
    assert outcome == (FireEarly(schedule.next_run_at) if offset <= 10_000 else None)
    clock.move_to(schedule.next_run_at - timedelta(seconds=5))
    assert schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1) == FireEarly(schedule.next_run_at)
    clock.move_to(schedule.next_run_at)
    run = schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1)
    assert run.due_at == schedule.first_run_at and run.jitter_offset_ms == offset
    assert run.started_at >= run.fire_at >= run.due_at
    schedule.refresh_from_db()
    # Occurrence 2: its own offset on its own due time.
    due_2 = schedule.first_run_at + timedelta(hours=1)
    assert schedule.next_run_at == due_2 + timedelta(milliseconds=jitter_offset_ms(schedule.id, 2, 1_800_000))


def test_the_run_shows_its_fire_time(api, make_schedule, clock):
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=2, jitter_ms=60_000)
    clock.move_to(schedule.next_run_at)
    schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1)
    run = api.get(f"/v2/outbound/schedules/{schedule.id}/runs/1").json()
    assert run["due_at_ms"] == to_ms(schedule.first_run_at)
    assert run["jitter_offset_ms"] == schedule.jitter_offset_ms(1)
    assert run["fire_at_ms"] == run["due_at_ms"] + run["jitter_offset_ms"]


def test_the_announced_messages_carry_the_fire_time(make_schedule):
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=2, jitter_ms=900_000)
    event = Event.objects.filter(type="message.notification.scheduled", data__schedule_id=str(schedule.id)).first()
    # The id its delivery will have carries the moment it is sent: the fire time (whole milliseconds).
    assert id_time(uuid.UUID(event.data["id"])) == schedule.next_run_at
    assert event.data["schedule_send_at"] == to_iso(schedule.next_run_at)


def test_a_preview_shows_fire_times(api, make_schedule):
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=5, jitter_ms=120_000)
    body = api.get(f"/v2/outbound/schedules/{schedule.id}/preview?count=5").json()
    assert body["jitter_ms"] == 120_000
    for k, occurrence in enumerate(body["occurrences"], start=1):
        due = to_ms(schedule.first_run_at) + (k - 1) * HOUR
        offset = jitter_offset_ms(schedule.id, k, 120_000)
        assert (occurrence["due_at_ms"], occurrence["jitter_offset_ms"], occurrence["fire_at_ms"]) == (due, offset, due + offset)
        assert occurrence["fire_at"].endswith("Z")


def test_a_draft_preview_cannot_know_the_offsets(api):
    first = to_ms(timezone.now() + timedelta(hours=1))
    body = api.post("/v2/outbound/schedules/preview?count=2", {"first_run_at_ms": first, "interval_ms": HOUR, "max_occurrences": 2, "jitter_ms": 60_000}, format="json").json()
    assert body["jitter_ms"] == 60_000
    assert [(o["due_at_ms"], o["fire_at_ms"], o["jitter_offset_ms"], o["fire_at"]) for o in body["occurrences"]] == [
        (first, None, None, None), (first + HOUR, None, None, None),
    ]
    plain = api.post("/v2/outbound/schedules/preview?count=1", {"first_run_at_ms": first}, format="json").json()
    assert plain["occurrences"][0]["fire_at_ms"] == first and plain["occurrences"][0]["jitter_offset_ms"] == 0


def test_a_patch_of_the_jitter_moves_the_next_fire(api, make_schedule):
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=3)
    assert schedule.next_run_at == schedule.first_run_at
    body = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"schedule": {"jitter_ms": 1_000_000}}, format="json").json()
    offset = jitter_offset_ms(schedule.id, 1, 1_000_000)
    assert body["jitter_ms"] == 1_000_000 and body["next_run_at_ms"] == to_ms(schedule.first_run_at) + offset
    assert body["interval_ms"] == HOUR and body["max_occurrences"] == 3  # the rule is kept


@pytest.mark.parametrize(
    "rule, code",
    [
        ({"interval_ms": HOUR, "max_occurrences": 2, "jitter_ms": HOUR // 2 + 1}, "jitter_too_large"),
        ({"jitter_ms": HOUR + 1}, "jitter_too_large"),  # a one-shot: an hour at most
        ({"interval_ms": HOUR, "max_occurrences": 2, "jitter_ms": -1}, "min_value"),
        ({"interval_ms": HOUR, "max_occurrences": 2, "jitter_ms": "5"}, "invalid_type"),
        ({"calendar": {"days_of_week": ["monday"], "send_time": "09:00", "timezone": "UTC"}, "jitter_ms": HOUR + 1}, "jitter_too_large"),
        # Two times 20 minutes apart: at most 10 minutes, so each fires before the next is due.
        ({"calendar": {"days_of_week": ["monday"], "send_times": ["09:00", "09:20"], "timezone": "UTC"}, "jitter_ms": 600_001}, "jitter_too_large"),
    ],
)
def test_it_refuses_too_much_jitter(post_schedule, rule, code):
    response = post_schedule(**rule)
    assert response.status_code == 400, response.json()
    assert [e["code"] for e in response.json()["error"]["details"]["fields"]["schedule.jitter_ms"]] == [code]


def test_the_largest_jitter_is_accepted(post_schedule):
    assert post_schedule(interval_ms=HOUR, max_occurrences=2, jitter_ms=HOUR // 2).status_code == 202
    calendar = {"days_of_week": ["monday"], "send_times": ["09:00", "09:20"], "timezone": "UTC"}
    assert post_schedule(calendar=calendar, jitter_ms=600_000).status_code == 202


def test_a_patch_refuses_jitter_the_kept_rule_cannot_take(api, make_schedule):
    schedule = make_schedule(interval_ms=120_000, max_occurrences=3, jitter_ms=60_000)
    response = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"schedule": {"jitter_ms": 60_001}}, format="json")
    assert response.json()["error"]["details"]["fields"]["schedule.jitter_ms"][0]["code"] == "jitter_too_large"
    # A shorter interval with the kept jitter: refused too.
    response = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"schedule": {"interval_ms": 100_000}}, format="json")
    assert response.json()["error"]["details"]["fields"]["schedule.jitter_ms"][0]["code"] == "jitter_too_large"
