"""Announcing an occurrence's messages (message.notification.scheduled) once, when it becomes the next.

The schedule remembers what it last announced (`announced_occurrence`,
`announced_run_at`). schedule_settle runs after every change of the next
occurrence and calls next_occurrence_announce, which compares: a new
occurrence, or a new due time for the same one, is announced; the same one
again is not, however often settle runs. What makes an announcement void
without changing the next occurrence (a pause, an edit of groups or
content) clears the memory, so the next settle announces again.
"""

from outbound.models import Group
from outbound.services.events import occurrence_messages_announce
from schedules.models import Schedule


def occurrence_is_announced(schedule: Schedule, occurrence_number: int, due_at) -> bool:
    """Were this occurrence's messages announced with this due time (and the current groups and content)?"""
    return schedule.announced_occurrence == occurrence_number and schedule.announced_run_at == due_at


def announcement_forget(schedule: Schedule) -> None:
    """What was announced no longer stands: announce the next occurrence again when there is one."""
    schedule.announced_occurrence = schedule.announced_run_at = None


def next_occurrence_announce(schedule: Schedule, groups: list[Group] | None = None) -> None:
    """Announce the schedule's next occurrence unless it stands announced already; the caller saves.

    Paused, canceled and ended schedules announce nothing (and forget, so a
    resume announces afresh). `groups`: the schedule's groups, when the
    caller has them in hand.
    """
    if schedule.status not in Schedule.ACTIVE or schedule.next_run_at is None:
        announcement_forget(schedule)
        return
    k, due = schedule.next_occurrence, schedule.next_run_at
    if occurrence_is_announced(schedule, k, due):
        return
    occurrence_messages_announce(
        session=schedule.session,
        groups=list(schedule.groups.order_by("id")) if groups is None else groups,
        schedule_id=schedule.id,
        occurrence_number=k,
        due_at=due,
        text=schedule.text,
        media=schedule.media,
        variants=schedule.variants,
        request_id=schedule.request_id,
    )
    schedule.announced_occurrence, schedule.announced_run_at = k, due
