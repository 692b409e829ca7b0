"""A schedule's state is saved on every fire and every run's end (schedules.services.status.schedule_save): every loaded field, nothing deferred."""

from datetime import timedelta

from django.utils import timezone

from schedules.models import Schedule
from schedules.services.status import schedule_save


def test_it_writes_every_field_changed_and_touches_updated_at(make_schedule, clock):
    schedule = make_schedule(interval_ms=60_000, max_occurrences=5)
    before = schedule.updated_at
    clock.shift(5)
    schedule.status, schedule.next_occurrence, schedule.run_count = Schedule.Status.RUNNING, 3, 2
    schedule.last_run_at = timezone.now()
    schedule.pause_reason = "why not"
    schedule_save(schedule)
    saved = Schedule.objects.get(pk=schedule.pk)
    assert (saved.status, saved.next_occurrence, saved.run_count, saved.pause_reason) == (Schedule.Status.RUNNING, 3, 2, "why not")
    assert saved.last_run_at == schedule.last_run_at
    assert saved.updated_at == schedule.updated_at > before + timedelta(seconds=4)
    assert saved.session_id == schedule.session_id and saved.rule == schedule.rule


def test_deferred_fields_are_left_as_they_are(make_schedule):
    schedule = make_schedule()
    Schedule.objects.filter(pk=schedule.pk).update(text="changed elsewhere")
    partial = Schedule.objects.defer("text").get(pk=schedule.pk)
    partial.run_count = 7
    schedule_save(partial)
    saved = Schedule.objects.get(pk=schedule.pk)
    assert (saved.text, saved.run_count) == ("changed elsewhere", 7)
