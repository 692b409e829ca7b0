"""Each schedule's django-celery-beat PeriodicTask, kept in step for operators.

The schedule row is the source of truth; beat fires from Schedule.next_run_at
(schedules.beat). The PeriodicTask mirrors it so the django-celery-beat admin
shows every schedule with its next run and whether it is still enabled.
Every write here goes through bulk_create() or queryset.update(), which send
no signal: django-celery-beat's change marker (PeriodicTasks.last_update) is
not bumped, so a schedule created, fired or canceled never makes beat reload
its PeriodicTasks. Beat reads schedules from Schedule.next_run_at instead.
"""

import json

from django_celery_beat.models import ClockedSchedule, PeriodicTask

FIRE_TASK = "schedules.tasks.schedule_fire"


def periodic_task_sync(schedule) -> None:
    """Create or update the schedule's PeriodicTask to match its state."""
    active = schedule.status in schedule.ACTIVE and schedule.next_run_at is not None
    clocked_time = schedule.next_run_at or schedule.last_run_at or schedule.first_run_at
    if schedule.periodic_task_id is None:
        [clocked] = ClockedSchedule.objects.bulk_create([ClockedSchedule(clocked_time=clocked_time)])
        [task] = PeriodicTask.objects.bulk_create([PeriodicTask(
            name=schedule.workflow_id,
            task=FIRE_TASK,
            kwargs=json.dumps({"schedule_id": str(schedule.id)}),
            clocked=clocked,
            one_off=True,
            enabled=active,
            description=(
                f"Mirror of outbound schedule {schedule.id}. Manage it under Schedules: "
                "edits here are not read back."
            ),
        )])
        type(schedule).objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task
        return
    task = PeriodicTask.objects.filter(pk=schedule.periodic_task_id)
    ClockedSchedule.objects.filter(periodictask__in=task).update(clocked_time=clocked_time)
    task.update(
        enabled=active,
        last_run_at=schedule.last_run_at,
        total_run_count=schedule.run_count,
    )
