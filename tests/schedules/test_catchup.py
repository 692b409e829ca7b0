"""catchup_window_ms: how late an occurrence found late (beat or workers were down) may still run."""

from datetime import timedelta

import pytest

from outbound.models import Send
from schedules.models import Schedule
from schedules.services import schedule_occurrence_fire

HOUR = 3_600_000


def test_the_default_window_is_the_global_grace(api, make_schedule, settings):
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 600
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=2)
    assert schedule.catchup_window_ms is None
    assert api.get(f"/v2/outbound/schedules/{schedule.id}").json()["catchup_window_ms"] == 600_000
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 120  # it follows the setting
    assert api.get(f"/v2/outbound/schedules/{schedule.id}").json()["catchup_window_ms"] == 120_000


def test_an_occurrence_found_late_within_the_window_runs_late(make_schedule, clock, settings):
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 60
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=3, catchup_window_ms=HOUR)
    clock.move_to(schedule.first_run_at + timedelta(minutes=45))  # beat was down for 45 minutes
    run = schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1)
    assert run.occurrence_number == 1 and run.status == "running" and run.send is not None
    assert run.started_at - run.due_at >= timedelta(minutes=45)


def test_beyond_the_window_it_is_recorded_missed(make_schedule, clock, settings):
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 3600  # the schedule's own window wins
    schedule = make_schedule(interval_ms=60_000, max_occurrences=30, catchup_window_ms=300_000)
    # Beat was down: occurrences 1-10 fell due over the last 10 minutes (10 is due now).
    clock.move_to(schedule.first_run_at + timedelta(minutes=9, seconds=10))
    run = schedule_occurrence_fire(schedule_id=schedule.id)
    # 1-5 are more than 5 minutes late: missed. 6 is the first within the window and runs.
    assert run.occurrence_number == 5 + 1
    missed = schedule.runs.filter(error_code="missed").order_by("occurrence_number")
    assert [r.occurrence_number for r in missed] == [1, 2, 3, 4, 5]
    assert all(r.status == "failed" and "catch-up window" in r.error_message for r in missed)
    assert Send.objects.count() == 1


def test_lateness_counts_from_the_fire_time(make_schedule, clock):
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=2, jitter_ms=HOUR // 2, catchup_window_ms=10_000)
    # 5 s after its fire time, however long after its due time that is.
    clock.move_to(schedule.next_run_at + timedelta(seconds=5))
    run = schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1)
    assert run is not None and run.status == "running"


def test_the_window_can_be_changed_and_reset_by_patch(api, make_schedule, settings):
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 600
    schedule = make_schedule(interval_ms=HOUR, max_occurrences=2)
    body = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"schedule": {"catchup_window_ms": 7_200_000}}, format="json").json()
    assert body["catchup_window_ms"] == 7_200_000
    body = api.patch(f"/v2/outbound/schedules/{schedule.id}", {"schedule": {"catchup_window_ms": None}}, format="json").json()
    assert body["catchup_window_ms"] == 600_000
    assert Schedule.objects.get(pk=schedule.pk).catchup_window_ms is None


@pytest.mark.parametrize("value, code", [(9_999, "min_value"), (365 * 86_400_000 + 1, "max_value"), (1.5, "invalid_type"), ("60000", "invalid_type")])
def test_it_refuses_a_window_out_of_bounds(post_schedule, value, code):
    response = post_schedule(interval_ms=HOUR, max_occurrences=2, catchup_window_ms=value)
    assert response.status_code == 400
    assert [e["code"] for e in response.json()["error"]["details"]["fields"]["schedule.catchup_window_ms"]] == [code]
