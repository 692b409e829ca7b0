"""A herd: when fires fall behind, workers fire due schedules in batches (one transaction each), exactly once, never early."""

from datetime import timedelta

from django.utils import timezone

from outbound.models import Send
from schedules import tasks
from schedules.models import Run, Schedule
from schedules.services import overdue_schedules_fire, schedule_occurrence_fire


def test_nothing_happens_while_fires_keep_up(make_schedule, clock):
    made = [make_schedule() for _ in range(3)]
    clock.move_to(made[0].next_run_at + timedelta(milliseconds=500))  # due, but beat's fires are not behind
    assert overdue_schedules_fire() == 0
    assert not Run.objects.exists()


def test_when_behind_a_batch_fires_what_is_due_and_nothing_early(make_schedule, clock):
    due = [make_schedule() for _ in range(5)]
    later = make_schedule(first_run_at_ms=int((due[0].next_run_at + timedelta(minutes=5)).timestamp() * 1000))
    clock.move_to(due[-1].next_run_at + timedelta(seconds=3))
    assert overdue_schedules_fire(limit=3) == 3
    assert overdue_schedules_fire(limit=3) == 2
    assert overdue_schedules_fire(limit=3) == 0
    assert set(Run.objects.values_list("schedule_id", flat=True)) == {s.id for s in due}
    assert not Run.objects.filter(schedule=later).exists() and Schedule.objects.get(pk=later.pk).next_occurrence == 1
    assert all(r.started_at >= r.fire_at for r in Run.objects.all())
    # The fire messages beat published for them find them fired: once each.
    for schedule in due:
        assert schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1) is None
    assert Send.objects.count() == 5


def test_a_waiting_schedule_is_left_to_its_turn(make_schedule, clock):
    schedule = make_schedule(interval_ms=60_000, max_occurrences=3)
    clock.move_to(schedule.next_run_at)
    schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=1)
    clock.move_to(schedule.next_run_at + timedelta(minutes=1))
    schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=2)  # waits (buffer_one)
    clock.move_to(timezone.now() + timedelta(seconds=5))
    assert overdue_schedules_fire() == 0
    assert Schedule.objects.get(pk=schedule.pk).buffered_at is not None


def test_the_fire_task_takes_a_batch_when_behind(make_schedule, clock):
    made = [make_schedule() for _ in range(4)]
    clock.move_to(made[-1].next_run_at + timedelta(seconds=2))
    tasks.schedule_fire(str(made[0].id), 1)
    assert Run.objects.count() == 4
