"""Retention for schedules: beat mirrors of ended schedules go after their period; runs only when asked."""

from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, PeriodicTask, PeriodicTasks

from schedules.models import Run, Schedule
from schedules.services import schedule_cancel
from schedules.services.retention import runs_purge, schedule_mirrors_purge

DAY = 24 * 3600



def complete(schedule: Schedule) -> None:
    Schedule.objects.filter(pk=schedule.pk).update(status=Schedule.Status.COMPLETED, completed_at=timezone.now(), next_run_at=None)


def test_it_purges_the_mirrors_of_schedules_ended_past_the_period_and_keeps_the_schedules(make_schedule, clock, settings):
    settings.RETENTION_SCHEDULE_MIRRORS_DAYS = 30
    canceled, completed, live, paused_long_ago = (make_schedule(interval_ms=3_600_000, max_occurrences=100) for _ in range(4))
    schedule_cancel(schedule=canceled)
    complete(completed)
    Schedule.objects.filter(pk=paused_long_ago.pk).update(status=Schedule.Status.PAUSED, paused_at=timezone.now(), next_run_at=None)
    clock.shift(30 * DAY + 60)
    recently_canceled = make_schedule(interval_ms=3_600_000, max_occurrences=100)
    schedule_cancel(schedule=recently_canceled)
    mirrors = {s.pk: (s.periodic_task_id, s.periodic_task.clocked_id) for s in Schedule.objects.select_related("periodic_task")}
    marker = PeriodicTasks.last_change()

    assert schedule_mirrors_purge() == 2
    for ended in (canceled, completed):
        task_id, clocked_id = mirrors[ended.pk]
        assert not PeriodicTask.objects.filter(pk=task_id).exists()
        assert not ClockedSchedule.objects.filter(pk=clocked_id).exists()
        ended.refresh_from_db()
        assert ended.periodic_task_id is None and ended.status in Schedule.ENDED  # the schedule stays
    for kept in (live, paused_long_ago, recently_canceled):
        assert Schedule.objects.get(pk=kept.pk).periodic_task_id == mirrors[kept.pk][0]
        assert PeriodicTask.objects.filter(pk=mirrors[kept.pk][0]).exists()
    # Mirrors are disabled once ended and never read by beat: no reload for it.
    assert PeriodicTasks.last_change() == marker
    assert schedule_mirrors_purge() == 0


def test_it_purges_mirrors_in_bounded_batches(make_schedule, clock):
    schedules = [make_schedule() for _ in range(3)]
    for schedule in schedules:
        complete(schedule)
    clock.shift(31 * DAY)
    assert schedule_mirrors_purge(days=30, batch=2, max_batches=1) == 2
    assert schedule_mirrors_purge(days=30, batch=2, max_batches=1) == 1
    assert not Schedule.objects.filter(periodic_task__isnull=False).exists()


def add_run(schedule: Schedule, k: int, status=Run.Status.COMPLETED) -> Run:
    now = timezone.now()
    return Run.objects.create(schedule=schedule, occurrence_number=k, due_at=now, started_at=now, status=status)


def test_it_keeps_runs_forever_by_default(make_schedule, clock, settings):
    assert settings.RETENTION_RUN_HISTORY_DAYS == 0
    add_run(make_schedule(), 1)
    clock.shift(1000 * DAY)
    assert runs_purge() == 0
    assert Run.objects.count() == 1


def test_it_purges_finished_runs_past_the_history_period(make_schedule, clock, settings):
    settings.RETENTION_RUN_HISTORY_DAYS = 90
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=100)
    old = [add_run(schedule, 1), add_run(schedule, 2, Run.Status.FAILED), add_run(schedule, 3, Run.Status.SKIPPED)]
    running = add_run(schedule, 4, Run.Status.RUNNING)
    clock.shift(91 * DAY)
    recent = add_run(schedule, 5)

    assert runs_purge(batch=2, max_batches=1) == 2
    assert runs_purge() == 1
    assert set(Run.objects.values_list("pk", flat=True)) == {running.pk, recent.pk}
    assert not Run.objects.filter(pk__in=[r.pk for r in old]).exists()
    assert Schedule.objects.filter(pk=schedule.pk).exists()
