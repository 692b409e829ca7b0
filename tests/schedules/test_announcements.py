"""message.notification.scheduled when a message is scheduled: once per occurrence, with the id its delivery will have."""

import uuid
from datetime import timedelta

from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from core.ids import id_time, occurrence_delivery_id
from core.models import Event
from core.time import to_iso
from outbound.models import Delivery, Send
from outbound.services.deliveries import delivery_attempt
from outbound.services.events import delivery_events_record
from outbound.services.sends import send_create, session_targets_resolve
from schedules.models import Run, Schedule
from schedules.services import (
    schedule_cancel,
    schedule_create,
    schedule_occurrence_fire,
    schedule_pause,
    schedule_resume,
    schedule_update,
)
from schedules.services.status import schedule_settle
from webhooks import receivers

SCHEDULED = "message.notification.scheduled"
HOURLY = {"interval_ms": 3_600_000, "max_occurrences": 3}


def announced(schedule, occurrence=None) -> list[dict]:
    """The message.notification.scheduled data recorded for a schedule, oldest first."""
    events = Event.objects.filter(type=SCHEDULED, data__schedule_id=str(schedule.id))
    if occurrence is not None:
        events = events.filter(data__occurrence_number=occurrence)
    return [event.data for event in events.order_by("id")]


def fire_when_due(schedule, clock, occurrence):
    """Let the clock reach the schedule's next due time and fire it, as beat would."""
    schedule.refresh_from_db()
    clock.move_to(schedule.next_run_at)
    return schedule_occurrence_fire(schedule_id=schedule.id, occurrence_number=occurrence)


def settle(schedule):
    with transaction.atomic():
        schedule_settle(Schedule.objects.select_for_update().get(pk=schedule.pk), timezone.now())


def deliver_all(send):
    for delivery in send.deliveries.all():
        delivery_attempt(delivery_id=delivery.id)


def test_it_announces_occurrence_1_per_group_when_a_schedule_is_created(make_schedule, make_groups, session):
    groups = make_groups(3)
    schedule = make_schedule(groups=groups, **HOURLY)

    messages = {m["group_id"]: m for m in announced(schedule)}
    assert set(messages) == {str(g.id) for g in groups}
    for group in groups:
        message = messages[str(group.id)]
        assert message["id"] == str(occurrence_delivery_id(
            schedule_id=schedule.id, occurrence_number=1, group_id=group.id, due_at=schedule.first_run_at
        ))
        assert (message["status"], message["occurrence_number"], message["send_id"]) == ("scheduled", 1, None)
        assert message["schedule_send_at"] == to_iso(schedule.first_run_at)
        assert message["content"] == "Weekly promo"
        assert message["send_attempt_count"] == 0
        assert [message[k] for k in ("sent_at", "delivered_at", "read_at", "failed_at", "expired_at", "last_attempted_at")] == [None] * 6
        assert (message["message_thread_id"], message["to_phone_number"]) == (str(group.id), group.chat_id)
        assert (message["phone_id"], message["from_phone_number"], message["type"]) == (str(session.id), None, "sent_to_group")
        assert message["phone"]["id"] == str(session.id) and message["phone"]["name"] == "Sales line"
        assert message["phone"]["is_online"] is True and message["phone"]["phone_number"] is None
        # A UUIDv7 whose time is the due time (first_run_at_ms is whole milliseconds).
        assert uuid.UUID(message["id"]).version == 7 and id_time(uuid.UUID(message["id"])) == schedule.first_run_at


def test_it_carries_the_sessions_phone_number_as_the_sender(make_schedule, session):
    session.phone_number = "+201000000001"
    session.save()
    [message, _] = announced(make_schedule(**HOURLY))
    assert message["from_phone_number"] == "+201000000001"
    assert message["phone"]["phone_number"] == "+201000000001"


def test_the_fire_sends_the_announced_messages_without_announcing_them_again(make_schedule, gateway, clock):
    schedule = make_schedule(**HOURLY)
    before = announced(schedule, 1)

    run = fire_when_due(schedule, clock, 1)
    assert isinstance(run, Run)
    assert {str(d.id) for d in run.send.deliveries.all()} == {m["id"] for m in before}
    assert announced(schedule, 1) == before

    deliver_all(run.send)
    sent = {e.data["id"]: e.data for e in Event.objects.filter(type="message.notification.sent")}
    assert set(sent) == {m["id"] for m in before}
    for message in before:
        later = sent[message["id"]]
        assert set(later) == set(message)  # the same record, after the change
        assert (later["status"], later["send_id"]) == ("sent", str(run.send.id))
        assert later["schedule_send_at"] == message["schedule_send_at"]


def test_after_a_run_the_next_occurrence_is_announced_exactly_once(make_schedule, gateway, clock):
    schedule = make_schedule(**HOURLY)
    run = fire_when_due(schedule, clock, 1)

    second = announced(schedule, 2)
    assert len(second) == 2 and {m["status"] for m in second} == {"scheduled"}
    assert {m["schedule_send_at"] for m in second} == {to_iso(schedule.first_run_at + timedelta(hours=1))}
    settle(schedule)
    settle(schedule)
    deliver_all(run.send)  # the run completes and settles the schedule once more
    assert announced(schedule, 2) == second
    assert len(announced(schedule)) == 4


def test_an_occurrence_due_right_after_missed_ones_is_announced_as_it_fires(make_schedule, clock):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=5)
    # Occurrences 1 and 2 are past the grace; 3 is due now.
    clock.move_to(schedule.first_run_at + timedelta(hours=2, seconds=1))
    run = schedule_occurrence_fire(schedule_id=schedule.id)
    assert run.occurrence_number == 3

    third = announced(schedule, 3)
    assert {m["status"] for m in third} == {"queued"}  # announced as it fires, like an immediate send
    assert {m["id"] for m in third} == {str(d.id) for d in run.send.deliveries.all()}
    assert {m["schedule_send_at"] for m in third} == {to_iso(schedule.first_run_at + timedelta(hours=2))}
    assert [m["status"] for m in announced(schedule, 4)] == ["scheduled", "scheduled"]
    assert announced(schedule, 2) == []


def test_missed_occurrences_move_the_announcement_to_the_next_one(make_schedule, clock):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=5)
    clock.move_to(schedule.first_run_at + timedelta(minutes=55))  # 1 is past the grace, 2 not due yet
    assert schedule_occurrence_fire(schedule_id=schedule.id) is None
    assert Run.objects.get(schedule=schedule).error_code == "missed"

    second = announced(schedule, 2)
    assert [m["status"] for m in second] == ["scheduled", "scheduled"]
    assert {m["schedule_send_at"] for m in second} == {to_iso(schedule.first_run_at + timedelta(hours=1))}


def test_a_paused_schedule_announces_nothing_and_a_resume_announces_again(make_schedule):
    schedule = make_schedule(**HOURLY)
    first = announced(schedule)

    schedule_pause(schedule=schedule)
    assert announced(schedule) == first

    schedule_resume(schedule=schedule)
    again = announced(schedule)[len(first):]
    assert [m["id"] for m in again] == [m["id"] for m in first]  # the same messages, scheduled again
    assert {m["status"] for m in again} == {"scheduled"}
    settle(schedule)
    assert len(announced(schedule)) == 4


def test_settling_a_paused_schedule_announces_nothing(make_schedule):
    schedule = make_schedule(**HOURLY)
    schedule_pause(schedule=schedule)
    settle(schedule)
    settle(schedule)
    assert len(announced(schedule)) == 2


def test_a_resume_after_the_due_time_announces_the_next_occurrence(make_schedule, clock):
    schedule = make_schedule(**HOURLY)
    schedule_pause(schedule=schedule)
    clock.move_to(schedule.first_run_at + timedelta(minutes=30))
    schedule_resume(schedule=schedule)

    assert len(announced(schedule, 1)) == 2  # only from creation: occurrence 1 was skipped
    second = announced(schedule, 2)
    assert {m["schedule_send_at"] for m in second} == {to_iso(schedule.first_run_at + timedelta(hours=1))}


def test_a_timing_edit_announces_the_new_due_time_once(make_schedule):
    schedule = make_schedule(**HOURLY)
    first = announced(schedule)
    new_first = timezone.now() + timedelta(days=2)

    schedule_update(schedule=schedule, timing={"first_run_at": new_first})
    moved = announced(schedule)[len(first):]
    assert {m["schedule_send_at"] for m in moved} == {to_iso(new_first)}
    # The id carries the due time: a moved occurrence's messages have new ids.
    assert not {m["id"] for m in moved} & {m["id"] for m in first}
    assert {m["group_id"] for m in moved} == {m["group_id"] for m in first}

    # A change that leaves the next due time as it is announces nothing.
    schedule_update(schedule=schedule, timing={"max_occurrences": 5})
    assert len(announced(schedule)) == 4


def test_a_group_edit_announces_the_new_groups(make_schedule, make_groups):
    kept, dropped = make_groups(2)
    [added] = make_groups(1)
    schedule = make_schedule(groups=[kept, dropped], **HOURLY)
    first = {m["group_id"]: m for m in announced(schedule)}

    schedule_update(schedule=schedule, group_ids=[kept.id, added.id])
    again = {m["group_id"]: m for m in announced(schedule)[2:]}
    assert set(again) == {str(kept.id), str(added.id)}
    assert again[str(kept.id)]["id"] == first[str(kept.id)]["id"]  # supersedes the earlier announcement


def test_a_content_edit_announces_the_new_content_and_a_cap_edit_does_not(make_schedule):
    schedule = make_schedule(**HOURLY)
    schedule_update(schedule=schedule, text="New text")
    assert [m["content"] for m in announced(schedule)] == ["Weekly promo"] * 2 + ["New text"] * 2

    schedule_update(schedule=schedule, skip_within_hours=12)
    assert len(announced(schedule)) == 4


def test_a_canceled_schedule_announces_nothing(make_schedule):
    schedule = make_schedule(**HOURLY)
    schedule_cancel(schedule=schedule)
    settle(schedule)
    assert len(announced(schedule)) == 2
    assert Schedule.objects.get(pk=schedule.pk).announced_occurrence is None


def test_an_ended_schedule_announces_nothing_more(make_schedule, gateway, clock):
    schedule = make_schedule()  # a one-shot
    run = fire_when_due(schedule, clock, 1)
    deliver_all(run.send)
    settle(schedule)
    schedule.refresh_from_db()
    assert schedule.status == "completed"
    assert [m["occurrence_number"] for m in announced(schedule)] == [1, 1]


def test_each_group_is_announced_the_variant_it_gets(make_schedule, make_groups, clock):
    variants = [
        {"variant_name": "A", "text": "Version A", "percent_audience": 50},
        {"variant_name": "B", "text": "Version B", "percent_audience": 50},
    ]
    schedule = make_schedule(groups=make_groups(10), text="", variants=variants, **HOURLY)
    messages = {m["id"]: m for m in announced(schedule, 1)}
    assert {m["content"] for m in messages.values()} == {"Version A", "Version B"}

    run = fire_when_due(schedule, clock, 1)
    assert {str(d.id): d.variant_name for d in run.send.deliveries.all()} == {
        id: m["variant_name"] for id, m in messages.items()
    }


def test_an_immediate_send_still_announces_its_queued_deliveries(api, session, make_groups):
    groups = make_groups(2)
    body = {"session_id": str(session.id), "group_ids": [str(g.id) for g in groups], "idempotency_key": "now-1", "text": "Now"}
    send = api.post("/v2/outbound/sends", body, format="json").json()["send"]

    events = Event.objects.filter(pk__in=send["event_ids"])
    assert {e.type for e in events} == {SCHEDULED}
    assert {e.data["id"] for e in events} == {r["recipient_send_id"] for r in send["results"]}
    deliveries = {str(d.id): d for d in Delivery.objects.filter(send_id=send["send_id"])}
    for event in events:
        assert (event.data["status"], event.data["send_id"], event.data["schedule_id"]) == ("queued", send["send_id"], None)
        assert event.data["schedule_send_at"] == to_iso(deliveries[event.data["id"]].created_at)
        assert event.data["phone"]["id"] == str(session.id)


def _queries(run) -> int:
    receivers._cache.clear()  # the webhook relay's per-account cache would hide a query from one run
    with CaptureQueriesContext(connection) as context:
        run()
    return len(context)


def test_recording_a_sends_events_takes_as_many_queries_for_100_groups_as_for_2(session, make_groups):
    def created(n):
        targets = session_targets_resolve(session=session, group_ids=[g.id for g in make_groups(n)])
        return _queries(lambda: send_create(targets=targets, text="x", media=[], actor_user=None))

    def recorded(n):
        targets = session_targets_resolve(session=session, group_ids=[g.id for g in make_groups(n)])
        send = Send.objects.select_related("session").get(pk=send_create(targets=targets, text="x", media=[], actor_user=None).send.pk)
        deliveries = list(send.deliveries.all())
        return _queries(lambda: delivery_events_record(send=send, deliveries=deliveries, type="message.notification.sent"))

    assert created(100) == created(2)
    assert recorded(100) == recorded(2)


def test_announcing_takes_as_many_queries_for_100_groups_as_for_2(session, make_groups):
    def announce(n):
        targets = session_targets_resolve(session=session, group_ids=[g.id for g in make_groups(n)])
        timing = {"first_run_at": timezone.now() + timedelta(hours=1), **HOURLY}
        schedule = schedule_create(targets=targets, text="x", media=[], actor_user=None, timing=timing)
        Schedule.objects.filter(pk=schedule.pk).update(announced_occurrence=None)  # as after a group edit
        return _queries(lambda: settle(schedule)), len(announced(schedule))

    assert announce(100) == (announce(2)[0], 200)
