"""Beat's fire messages carry several occurrences: each is fired once, in one transaction, as a single fire would."""

from datetime import timedelta

import pytest

from outbound.models import Delivery, Send
from schedules import tasks
from schedules.models import BeatLease, Run, Schedule
from schedules.services import occurrences_fire, schedule_occurrence_fire

# Committed for real: deliveries are published from their sends' on_commit hooks.
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_batch_fires_each_occurrence_once(make_schedule, clock, queued_tasks):
    made = [make_schedule() for _ in range(3)]
    clock.move_to(made[-1].next_run_at)
    tasks.schedules_fire([[str(s.id), 1] for s in made])
    assert sorted(Run.objects.values_list("schedule_id", flat=True)) == sorted(s.id for s in made)
    # A republished message, or the single fire, finds them fired.
    tasks.schedules_fire([[str(s.id), 1] for s in made])
    assert schedule_occurrence_fire(schedule_id=made[0].id, occurrence_number=1) is None
    assert Send.objects.count() == 3 and Run.objects.count() == 3


def test_the_deliveries_of_a_batch_go_out_together(make_schedule, clock, queued_tasks, settings):
    settings.OUTBOUND_DELIVERY_BATCH_SIZE = 25
    made = [make_schedule() for _ in range(3)]
    clock.move_to(made[-1].next_run_at)
    occurrences_fire(occurrences=[(str(s.id), 1) for s in made])
    attempts = [args[0] for name, args, _ in queued_tasks() if name == "outbound.tasks.deliveries_attempt"]
    queued = {str(i) for i in Delivery.objects.filter(status=Delivery.Status.QUEUED).values_list("id", flat=True)}
    assert len(attempts) == 1 and set(attempts[0]) == queued and len(queued) == Delivery.objects.count() > 3


def test_one_that_fails_leaves_the_others_fired_and_itself_unfired(make_schedule, clock, queued_tasks, monkeypatch):
    from schedules.services import firing

    made = [make_schedule() for _ in range(3)]
    clock.move_to(made[-1].next_run_at)
    broken = made[1].id
    real = firing._fire_locked

    def fire(schedule, *args):
        if schedule.pk == broken:
            raise RuntimeError("boom")
        return real(schedule, *args)

    monkeypatch.setattr(firing, "_fire_locked", fire)
    occurrences_fire(occurrences=[(str(s.id), 1) for s in made])
    assert set(Run.objects.values_list("schedule_id", flat=True)) == {made[0].id, made[2].id}
    assert Schedule.objects.get(pk=broken).next_occurrence == 1
    assert not Send.objects.filter(schedule_id=broken).exists()
    # Its deliveries were never gathered: only the two committed sends' went out.
    attempts = [i for name, args, _ in queued_tasks() if name == "outbound.tasks.deliveries_attempt" for i in args[0]]
    assert set(attempts) == {str(i) for i in Delivery.objects.values_list("id", flat=True)}


def test_nothing_is_fired_early_and_a_little_early_comes_back_on_time(make_schedule, clock, queued_tasks):
    schedule = make_schedule()
    clock.move_to(schedule.next_run_at - timedelta(seconds=2))  # beat's clock ran 2 s ahead of this worker's
    tasks.schedules_fire([[str(schedule.id), 1]])
    assert not Run.objects.exists()
    again = [args for name, args, _ in queued_tasks() if name == "schedules.tasks.schedule_fire"]
    assert again == [[str(schedule.id), 1, "beat"]]


def test_a_message_from_a_replaced_leader_is_dropped_and_the_current_leaders_is_fired(make_schedule, clock, queued_tasks):
    from schedules.leader import lease_renew

    assert lease_renew(name="beat", holder="host-a:1:aa", seconds=30)  # term 1
    BeatLease.objects.filter(name="beat").update(holder="host-b:2:bb", term=2)  # host-b took over
    schedule = make_schedule()
    clock.move_to(schedule.next_run_at)
    tasks.schedules_fire([[str(schedule.id), 1]], term=1)  # published by host-a before it knew
    assert not Run.objects.exists()
    tasks.schedules_fire([[str(schedule.id), 1]], term=2)
    assert Run.objects.filter(schedule=schedule, occurrence_number=1).count() == 1
