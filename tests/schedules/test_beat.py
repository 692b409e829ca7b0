"""The beat scheduler: fires due schedules from the database, picks up changes without reloading."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery_app import app as celery_app
from core.time import to_ms
from schedules import beat
from schedules.models import Schedule
from schedules.services import schedule_cancel, schedule_update

from .conftest import make_due_now

FIRES = "schedules.tasks.schedules_fire"


@pytest.fixture
def scheduler(transactional_db, settings):
    # transactional_db: beat commits and recycles connections as in production,
    # which a test wrapped in one transaction would not allow.
    settings.SCHEDULE_POLL_SECONDS = 0.2
    scheduler = beat.OutboundScheduler(app=celery_app)
    assert scheduler.is_leader()  # it publishes only while it holds the leader lease
    return scheduler


def fires(queued_tasks):
    """Every (schedule_id, occurrence) beat published, in order, whatever message carried it."""
    return [tuple(pair) for name, args, _ in queued_tasks() if name == FIRES for pair in args[0]]


def tick_for(scheduler, seconds):
    """Run the beat loop as celery's Service does, for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(min(scheduler.tick_schedules(), max(0.0, end - time.monotonic())))


def test_it_fires_a_due_schedule_with_its_occurrence(scheduler, make_schedule, queued_tasks):
    schedule = make_schedule()
    make_due_now(schedule)
    scheduler.tick_schedules()
    assert fires(queued_tasks) == [(str(schedule.id), 1)]


def test_it_does_not_fire_what_is_not_due(scheduler, make_schedule, queued_tasks):
    make_schedule()  # due in an hour
    tick_for(scheduler, 0.5)
    assert fires(queued_tasks) == []


def test_it_fires_at_the_due_time_not_before(scheduler, make_schedule, queued_tasks):
    schedule = make_schedule(first_run_at_ms=to_ms(timezone.now() + timedelta(seconds=1.2)))
    while not fires(queued_tasks):
        time.sleep(scheduler.tick_schedules())
    assert timezone.now() >= schedule.first_run_at
    assert timezone.now() - schedule.first_run_at < timedelta(seconds=0.3)


def test_it_fires_each_occurrence_once_until_it_may_have_been_lost(scheduler, make_schedule, queued_tasks, monkeypatch):
    schedule = make_schedule()
    make_due_now(schedule)
    tick_for(scheduler, 0.6)  # three polls: the schedule is still due (no worker ran it)
    assert fires(queued_tasks) == [(str(schedule.id), 1)]
    # Past the republish window a fire that changed nothing is sent again.
    monkeypatch.setattr(beat, "REPUBLISH_AFTER_SECONDS", 0.0)
    tick_for(scheduler, 0.3)
    assert fires(queued_tasks)[:2] == [(str(schedule.id), 1)] * 2


def test_a_fire_still_due_a_few_seconds_on_is_sent_again_one_message_a_poll(scheduler, make_schedule, queued_tasks, monkeypatch):
    """A worker cut off with the fire message, or a broker that lost it: the occurrence must not wait a minute."""
    monkeypatch.setattr(beat, "FIRE_CHUNK", 2)
    made = [make_schedule() for _ in range(3)]
    for schedule in made:
        make_due_now(schedule)
    tick_for(scheduler, 0.5)
    assert sorted(fires(queued_tasks)) == sorted((str(s.id), 1) for s in made)  # once each, no worker ran them
    monkeypatch.setattr(beat, "REPUBLISH_OLDEST_AFTER_SECONDS", 0.0)
    before = len(queued_tasks())
    scheduler._next_poll = 0  # one poll now
    scheduler.tick_schedules()
    again = [tuple(pair) for name, args, _ in queued_tasks()[before:] if name == FIRES for pair in args[0]]
    assert len(again) == 2  # the oldest, one message's worth, not the whole set
    assert set(again) < {(str(s.id), 1) for s in made}


def test_it_picks_up_a_new_schedule_within_a_poll(scheduler, make_schedule, queued_tasks):
    tick_for(scheduler, 0.3)
    schedule = make_schedule()
    make_due_now(schedule)
    tick_for(scheduler, 0.3)
    assert fires(queued_tasks) == [(str(schedule.id), 1)]


def test_it_drops_a_schedule_canceled_after_it_was_loaded(scheduler, make_schedule, queued_tasks):
    schedule = make_schedule(first_run_at_ms=to_ms(timezone.now() + timedelta(seconds=0.6)))
    scheduler.tick_schedules()  # loaded into the heap
    schedule_cancel(schedule=schedule)
    tick_for(scheduler, 1.0)
    assert fires(queued_tasks) == []


def test_it_follows_an_edit_of_the_due_time(scheduler, make_schedule, queued_tasks):
    schedule = make_schedule(first_run_at_ms=to_ms(timezone.now() + timedelta(seconds=0.5)))
    scheduler.tick_schedules()
    later = timezone.now() + timedelta(seconds=1.2)
    schedule_update(schedule=schedule, timing={"first_run_at": later})
    tick_for(scheduler, 0.9)
    assert fires(queued_tasks) == []
    tick_for(scheduler, 0.6)
    assert fires(queued_tasks) == [(str(schedule.id), 1)]


def test_nothing_due_is_skipped_across_polls(scheduler, make_schedule, queued_tasks):
    soon = timezone.now() + timedelta(seconds=0.3)
    made = [make_schedule(first_run_at_ms=to_ms(soon + timedelta(milliseconds=150 * i))) for i in range(8)]
    tick_for(scheduler, 2.0)
    assert sorted(fires(queued_tasks)) == sorted((str(s.id), 1) for s in made)


def test_what_falls_due_together_goes_out_a_chunk_to_a_message(scheduler, make_schedule, queued_tasks, monkeypatch):
    monkeypatch.setattr(beat, "FIRE_CHUNK", 3)
    made = [make_schedule() for _ in range(7)]
    for schedule in made:
        make_due_now(schedule)
    scheduler.tick_schedules()
    messages = [args[0] for name, args, _ in queued_tasks() if name == FIRES]
    assert [len(m) for m in messages] == [3, 3, 1]
    assert sorted(fires(queued_tasks)) == sorted((str(s.id), 1) for s in made)


def test_a_herd_larger_than_a_page_is_read_whole(scheduler, make_schedule, queued_tasks, monkeypatch):
    monkeypatch.setattr(beat, "POLL_BATCH", 2)
    monkeypatch.setattr(beat, "POLL_MAX", 6)
    made = [make_schedule() for _ in range(7)]
    # All due at the same instant: the pages are cut by id.
    Schedule.objects.filter(pk__in=[s.pk for s in made]).update(next_run_at=timezone.now())
    scheduler.tick_schedules()
    published = fires(queued_tasks)
    assert len(published) == len(set(published)) == 6  # POLL_MAX, none twice
    assert set(published) <= {(str(s.id), 1) for s in made}


def test_schedule_mirrors_are_left_to_our_loop_and_static_tasks_to_django_celery_beat(scheduler, make_schedule):
    schedule = make_schedule()
    names = {m.name for m in scheduler.enabled_models_qs()}
    assert schedule.workflow_id not in names
    assert "outbound-sweep-deliveries" in scheduler.schedule
    assert Schedule.objects.get(pk=schedule.pk).periodic_task.enabled


def test_creating_editing_firing_and_canceling_never_makes_beat_reload(scheduler, make_schedule, queued_tasks):
    from django_celery_beat.models import PeriodicTasks

    from schedules.services import schedule_occurrence_fire

    before = PeriodicTasks.last_change()
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2)
    schedule_update(schedule=schedule, timing={"first_run_at": timezone.now() + timedelta(seconds=0.3)})
    tick_for(scheduler, 0.6)
    assert fires(queued_tasks) == [(str(schedule.id), 1)]  # picked up incrementally
    schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1)
    schedule_cancel(schedule=schedule)
    assert PeriodicTasks.last_change() == before
    assert not scheduler.schedule_changed()


def test_only_the_leader_fires_and_a_standby_takes_over(scheduler, settings, make_schedule, queued_tasks):
    standby = beat.OutboundScheduler(app=celery_app)
    try:
        assert scheduler.is_leader()
        assert not standby.is_leader()
        schedule = make_schedule()
        make_due_now(schedule)
        assert standby.tick() == settings.SCHEDULE_POLL_SECONDS
        assert fires(queued_tasks) == []
        scheduler.close()  # the leader goes away (a clean stop releases its lease)
        time.sleep(settings.SCHEDULE_POLL_SECONDS)
        assert standby.is_leader()
        standby.tick_schedules()
        assert fires(queued_tasks) == [(str(schedule.id), 1)]
    finally:
        standby.close()


def test_while_fires_are_behind_beat_holds_what_falls_due_until_a_message_is_full(
    scheduler, make_schedule, queued_tasks, monkeypatch
):
    monkeypatch.setattr(beat, "FIRE_CHUNK", 3)
    late = make_schedule()
    Schedule.objects.filter(pk=late.pk).update(next_run_at=timezone.now() - timedelta(seconds=5))
    scheduler.tick_schedules()  # published; no worker fires it
    made = [make_schedule() for _ in range(4)]
    for schedule in made:
        make_due_now(schedule)
    scheduler._next_poll = 0.0
    scheduler.tick_schedules()  # the poll finds the first still unfired 5 s after it was due: behind
    assert scheduler._behind
    # One full message; the fourth is held, not sent alone.
    assert [len(args[0]) for name, args, _ in queued_tasks() if name == FIRES] == [1, 3]
    scheduler.tick_schedules()
    assert len(fires(queued_tasks)) == 4
    scheduler._next_poll = 0.0
    scheduler.tick_schedules()  # the next poll sends what is held
    assert sorted(fires(queued_tasks)[1:]) == sorted((str(s.id), 1) for s in made)


def test_when_fires_keep_up_beat_publishes_at_once(scheduler, make_schedule, queued_tasks):
    schedule = make_schedule()
    make_due_now(schedule)
    scheduler.tick_schedules()
    assert not scheduler._behind
    assert fires(queued_tasks) == [(str(schedule.id), 1)]  # alone, in the tick it fell due
