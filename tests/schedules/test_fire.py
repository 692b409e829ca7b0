"""Firing occurrences: the Run claim, missed occurrences, status transitions, cancel races."""

import threading
from datetime import timedelta

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from core.time import to_ms
from outbound.models import Delivery, Send, Session
from outbound.services.deliveries import delivery_attempt
from schedules.models import Run, Schedule
from schedules.services import FireEarly, schedule_cancel, schedule_occurrence_fire, schedule_update

from .conftest import make_due_now


def fire(schedule, occurrence=None, **kwargs):
    return schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=occurrence, **kwargs)


def deliver_all(send):
    for delivery in send.deliveries.all():
        delivery_attempt(delivery_id=delivery.id)


def test_it_runs_the_due_occurrence_and_moves_to_the_next(make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3)
    make_due_now(schedule)
    run = fire(schedule, 1)
    assert isinstance(run, Run) and run.occurrence_number == 1 and run.status == "running"
    assert run.due_at == schedule.first_run_at
    assert run.send.deliveries.count() == 2
    assert (run.send.schedule_id, run.send.occurrence_number) == (schedule.id, 1)
    schedule.refresh_from_db()
    assert schedule.status == "running"
    assert (schedule.run_count, schedule.next_occurrence) == (1, 2)
    assert schedule.next_run_at == schedule.first_run_at + timedelta(hours=1)
    assert schedule.periodic_task.clocked.clocked_time == schedule.next_run_at
    assert schedule.periodic_task.enabled


def test_it_runs_an_occurrence_once_however_often_it_is_fired(make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3)
    make_due_now(schedule)
    fire(schedule, 1)
    assert fire(schedule, 1) is None
    assert fire(schedule) is None  # occurrence 2 is not due yet
    assert Run.objects.count() == 1 and Send.objects.count() == 1


def test_it_never_fires_early(make_schedule):
    schedule = make_schedule(first_run_at_ms=to_ms(timezone.now() + timedelta(seconds=3)))
    # Slightly early (beat's clock ahead of ours): come back at the due time.
    assert fire(schedule, 1) == FireEarly(schedule.next_run_at)
    # Far early: not a fire of this occurrence at all.
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=timezone.now() + timedelta(hours=1))
    assert fire(schedule, 1) is None
    assert not Run.objects.exists()
    assert Schedule.objects.get(pk=schedule.pk).next_occurrence == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_fires_of_one_occurrence_send_once(make_schedule, gateway):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2)
    make_due_now(schedule)
    barrier = threading.Barrier(4)
    outcomes = []

    def fire_once():
        barrier.wait()
        outcomes.append(fire(schedule, 1))
        connection.close()

    threads = [threading.Thread(target=fire_once) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([o for o in outcomes if isinstance(o, Run)]) == 1
    assert Run.objects.count() == 1 and Send.objects.count() == 1
    assert Delivery.objects.count() == 2


def test_it_records_occurrences_past_the_grace_as_missed(make_schedule, settings):
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 600
    schedule = make_schedule(interval_ms=60_000, max_occurrences=30)
    now = timezone.now()
    # Beat was down: occurrence k was due at now - 24.5 min + (k-1) min.
    start = now - timedelta(minutes=24, seconds=30)
    Schedule.objects.filter(pk=schedule.pk).update(first_run_at=start, next_run_at=start)
    run = fire(schedule, 1)
    # 1-15 fell due more than 10 minutes ago; 16 (9.5 min ago) is inside the grace and runs.
    assert run.occurrence_number == 16 and run.send is not None
    missed = Run.objects.filter(error_code="missed").order_by("occurrence_number")
    assert [r.occurrence_number for r in missed] == list(range(1, 16))
    assert all(r.status == "failed" and r.send is None and r.failed_at for r in missed)
    schedule.refresh_from_db()
    assert (schedule.run_count, schedule.failed_run_count, schedule.next_occurrence) == (16, 15, 17)
    assert Send.objects.count() == 1


def test_a_one_shot_fired_too_late_is_missed_and_completes_with_failures(make_schedule, settings):
    settings.SCHEDULE_MISSED_GRACE_SECONDS = 60
    schedule = make_schedule()
    late = timezone.now() - timedelta(minutes=5)
    Schedule.objects.filter(pk=schedule.pk).update(first_run_at=late, next_run_at=late)
    assert fire(schedule, 1) is None
    schedule.refresh_from_db()
    assert schedule.status == "completed_with_failures" and schedule.next_run_at is None
    assert schedule.runs.get().error_code == "missed"
    assert not schedule.periodic_task.enabled
    assert not Send.objects.exists()


def test_a_session_not_working_at_fire_time_fails_the_run(make_schedule, session):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2)
    make_due_now(schedule)
    Session.objects.filter(pk=session.pk).update(status=Session.Status.STOPPED)
    run = fire(schedule, 1)
    assert run.status == "failed" and run.error_code == "session_not_working"
    assert run.send is None and run.failed_at is not None
    schedule.refresh_from_db()
    assert (schedule.status, schedule.run_count, schedule.failed_run_count) == ("scheduled", 1, 1)
    assert not Send.objects.exists()


def test_it_moves_scheduled_running_scheduled_completed(make_schedule, gateway):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2)
    make_due_now(schedule)
    run = fire(schedule, 1)
    assert Schedule.objects.get(pk=schedule.pk).status == "running"
    deliver_all(run.send)
    run.refresh_from_db()
    assert run.status == "completed" and run.completed_at is not None
    schedule.refresh_from_db()
    assert schedule.status == "scheduled"

    make_due_now(schedule)
    run = fire(schedule, 2)
    deliver_all(run.send)
    schedule.refresh_from_db()
    assert schedule.status == "completed" and schedule.completed_at is not None
    assert (schedule.run_count, schedule.failed_run_count, schedule.next_run_at) == (2, 0, None)
    assert not schedule.periodic_task.enabled


def test_failed_deliveries_fail_the_run_and_the_schedule_completes_with_failures(make_schedule, gateway, session):
    schedule = make_schedule()
    make_due_now(schedule)
    run = fire(schedule, 1)
    httpx.post(f"{gateway.base_url}/_fake/config", json={"sessions": {session.name: "MISSING"}})  # 404: permanent
    deliver_all(run.send)
    run.refresh_from_db()
    assert run.status == "failed" and run.error_code == "session_not_found"
    assert run.error_message.startswith("2 of 2 deliveries failed")
    schedule.refresh_from_db()
    assert schedule.status == "completed_with_failures"
    assert (schedule.run_count, schedule.failed_run_count) == (1, 1)


def test_a_canceled_schedule_fires_nothing(make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3)
    make_due_now(schedule)
    schedule_cancel(schedule=schedule)
    assert fire(schedule, 1) is None
    assert not Run.objects.exists() and not Send.objects.exists()
    schedule.refresh_from_db()
    assert schedule.status == "canceled" and schedule.canceled_at and schedule.next_run_at is None
    assert not schedule.periodic_task.enabled


@pytest.mark.django_db(transaction=True)
def test_cancel_racing_a_fire_never_sends_after_the_cancel(make_schedule):
    for _ in range(8):
        schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3)
        make_due_now(schedule)
        barrier = threading.Barrier(2)

        def fire_it():
            barrier.wait()
            fire(schedule, 1)
            connection.close()

        def cancel_it():
            barrier.wait()
            schedule_cancel(schedule=schedule)
            connection.close()

        threads = [threading.Thread(target=fire_it), threading.Thread(target=cancel_it)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        schedule.refresh_from_db()
        assert schedule.status == "canceled"
        runs = list(schedule.runs.all())
        # Either the fire won (one run, started before the cancel) or the cancel did (none).
        assert len(runs) <= 1
        if runs:
            assert runs[0].started_at <= schedule.canceled_at
        # Whatever happened, later occurrences never run.
        make_due_now(schedule) if schedule.next_run_at else None
        assert fire(schedule) is None
        assert schedule.runs.count() == len(runs)


def test_an_operator_can_run_the_next_occurrence_now(make_schedule):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2)
    run = fire(schedule, 1, trigger=Run.Trigger.OPERATOR)
    assert run.occurrence_number == 1 and run.trigger == "operator" and run.send is not None
    schedule.refresh_from_db()
    # Occurrence 2 keeps its due time from the rule.
    assert schedule.next_run_at == schedule.first_run_at + timedelta(hours=1)


def test_an_edit_moves_the_next_occurrence(make_schedule, make_groups):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=3)
    new_first = timezone.now() + timedelta(days=2)
    new_groups = make_groups(3)
    schedule_update(
        schedule=schedule, timing={"first_run_at": new_first, "interval_ms": 7_200_000}, text="New text",
        group_ids=[g.id for g in new_groups],
    )
    schedule.refresh_from_db()
    assert schedule.next_run_at == new_first
    assert schedule.text == "New text"
    assert set(schedule.groups.all()) == set(new_groups)
    assert schedule.periodic_task.clocked.clocked_time == new_first


def test_an_edit_refuses_groups_outside_the_session(make_schedule, make_groups):
    from core.errors import ApplicationError

    schedule = make_schedule()
    with pytest.raises(ApplicationError) as refused:
        schedule_update(schedule=schedule, group_ids=[make_groups(1, in_session=None)[0].id])
    assert refused.value.code == "group_not_in_session"
    assert schedule.groups.count() == 2
