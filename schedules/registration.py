"""Each schedule's django-celery-beat PeriodicTask, kept in step for operators.

The schedule row is the source of truth; beat fires from Schedule.next_run_at
(schedules.beat). The PeriodicTask mirrors it so the django-celery-beat admin
shows every schedule with its next run and whether it is still enabled.
Every write here goes through bulk_create(), queryset.update() or a delete
without signals (outbound.services.retention), none of which sends a signal:
django-celery-beat's change marker (PeriodicTasks.last_update) is not bumped, so a schedule created, fired or canceled never makes beat reload
its PeriodicTasks. Beat reads schedules from Schedule.next_run_at instead.

Operators' changes to a mirror in django-celery-beat's admin are applied to
its schedule (schedules.admin_periodic): disabling pauses it, enabling
resumes it, deleting cancels it, running it runs the next occurrence now.
Those go through the schedules services, which end here: nothing listens to
these signal-less writes, so a change made from the mirror never loops back.
"""

import json

from django_celery_beat.models import ClockedSchedule, PeriodicTask

from outbound.services.retention import rows_delete_without_signals

FIRE_TASK = "schedules.tasks.schedule_fire"
# What beat publishes: the occurrences due in one tick, several to a message.
FIRES_TASK = "schedules.tasks.schedules_fire"


def periodic_task_sync(schedule) -> None:
    """Create or update the schedule's PeriodicTask to match its state."""
    active = schedule.status in schedule.ACTIVE and schedule.next_run_at is not None
    clocked_time = schedule.next_run_at or schedule.last_run_at or schedule.first_run_at
    if schedule.periodic_task_id is None:
        if schedule.status in schedule.ENDED:
            # Its mirror was deleted (by an operator, which canceled it, or by
            # retention): an ended schedule has nothing left to mirror.
            return
        [clocked] = ClockedSchedule.objects.bulk_create([ClockedSchedule(clocked_time=clocked_time)])
        [task] = PeriodicTask.objects.bulk_create([PeriodicTask(
            name=schedule.workflow_id,
            task=FIRE_TASK,
            kwargs=json.dumps({"schedule_id": str(schedule.id)}),
            clocked=clocked,
            one_off=True,
            enabled=active,
            description=(
                f"Mirror of outbound schedule {schedule.id}. Disabling it pauses the schedule, enabling it "
                "resumes it, deleting it cancels it; edit everything else under Schedules."
            ),
        )])
        type(schedule).objects.filter(pk=schedule.pk).update(periodic_task=task)
        schedule.periodic_task = task
        return
    # Every fire and every settle of a run ends here: two UPDATEs by key, no
    # load (save() would also bump beat's change marker through its signal).
    PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(
        enabled=active, last_run_at=schedule.last_run_at, total_run_count=schedule.run_count
    )
    ClockedSchedule.objects.filter(periodictask=schedule.periodic_task_id).update(clocked_time=clocked_time)


def periodic_task_remove(schedule) -> None:
    """Delete the schedule's PeriodicTask and its ClockedSchedule, without django-celery-beat's signals.

    As retention does (schedules.services.retention): a mirror is never
    loaded by beat, so its deletion gives beat nothing to reload.
    """
    if schedule.periodic_task_id is None:
        return
    task_id = schedule.periodic_task_id
    clocked_ids = list(PeriodicTask.objects.filter(pk=task_id).values_list("clocked_id", flat=True))
    type(schedule).objects.filter(pk=schedule.pk).update(periodic_task=None)
    schedule.periodic_task = None
    rows_delete_without_signals(model=PeriodicTask, pks=[task_id])
    # Keep a clocked schedule an operator reused for another task.
    clocked_ids = set(clocked_ids) - {None} - set(
        PeriodicTask.objects.filter(clocked_id__in=clocked_ids).values_list("clocked_id", flat=True)
    )
    rows_delete_without_signals(model=ClockedSchedule, pks=list(clocked_ids))
