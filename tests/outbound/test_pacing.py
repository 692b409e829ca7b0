"""Per-session pacing shared by all workers: evenly spaced slots, waiting without using attempts."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from outbound.models import Delivery, Session
from outbound.services.deliveries import RetryAt, delivery_attempt
from outbound.services.pacing import GUARD, send_slot_reserve

from .test_delivery_attempt import ledger, make_send


def pace(session, per_minute, low=0, high=0):
    Session.objects.filter(pk=session.pk).update(
        messages_per_minute=per_minute, send_delay_min_ms=low, send_delay_max_ms=high, next_send_slot_at=None
    )
    session.refresh_from_db()


def test_slots_are_spaced_by_the_rate(session):
    pace(session, 60)
    now = timezone.now()
    slots = [send_slot_reserve(session_id=session.id, messages=1, now=now) for _ in range(4)]
    gaps = {b - a for a, b in zip(slots, slots[1:])}
    assert slots[0] == now and gaps == {timedelta(seconds=1) + GUARD}


def test_a_message_with_images_reserves_a_slot_per_image(session):
    pace(session, 60)
    now = timezone.now()
    send_slot_reserve(session_id=session.id, messages=3, now=now)
    assert send_slot_reserve(session_id=session.id, messages=1, now=now) == now + 3 * (timedelta(seconds=1) + GUARD)


def test_the_random_gap_stays_within_its_bounds(session):
    pace(session, None, low=200, high=400)
    now = timezone.now()
    slots = [send_slot_reserve(session_id=session.id, messages=1, now=now) for _ in range(20)]
    gaps = [(b - a).total_seconds() for a, b in zip(slots, slots[1:])]
    assert all(0.2 <= g <= 0.4 for g in gaps) and len(set(gaps)) > 1


def test_nothing_is_reserved_beyond_the_horizon(session):
    pace(session, 1)  # one a minute (plus the guard): the 11th is more than 10 minutes out
    now = timezone.now()
    slots = [send_slot_reserve(session_id=session.id, messages=1, now=now) for _ in range(12)]
    assert slots[9] is not None and slots[10] is None and slots[11] is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_never_share_or_crowd_a_slot(session):
    pace(session, 600)  # 0.1 s apart
    now, slots = timezone.now(), []

    def reserve():
        for _ in range(10):
            slots.append(send_slot_reserve(session_id=session.id, messages=1, now=now))
        connection.close()

    threads = [threading.Thread(target=reserve) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ordered = sorted(slots)
    assert len(set(ordered)) == 40
    assert min(b - a for a, b in zip(ordered, ordered[1:])) >= timedelta(seconds=0.1)


def test_a_delivery_waiting_for_its_slot_keeps_its_attempt(gateway, session, make_groups):
    pace(session, 6)  # one every 10 s
    first, second = make_send(session, make_groups(2)).deliveries.order_by("id")
    assert delivery_attempt(delivery_id=first.id) is None  # the first slot is now
    wait = delivery_attempt(delivery_id=second.id)
    assert isinstance(wait, RetryAt) and timedelta(seconds=9) < wait.when - timezone.now() <= timedelta(seconds=10.1)
    second.refresh_from_db()
    assert (second.status, second.attempts, second.slot_at) == ("queued", 0, wait.when)
    # Arriving early for its slot changes nothing and reserves nothing new.
    before = Session.objects.get(pk=session.pk).next_send_slot_at
    assert delivery_attempt(delivery_id=second.id) == RetryAt(wait.when)
    assert Session.objects.get(pk=session.pk).next_send_slot_at == before
    # When its slot has come it sends, with its first attempt.
    Delivery.objects.filter(pk=second.pk).update(slot_at=timezone.now(), next_attempt_at=timezone.now())
    assert delivery_attempt(delivery_id=second.id) is None
    second.refresh_from_db()
    assert (second.status, second.attempts, second.slot_at) == ("sent", 1, None)
    assert len(ledger(gateway)) == 2


def test_a_batch_of_paced_deliveries_comes_back_each_at_its_own_slot(gateway, session, make_groups, queued_tasks):
    from outbound import tasks

    pace(session, 6)  # one every 10 s
    send = make_send(session, make_groups(3))
    ids = [str(i) for i in send.deliveries.order_by("id").values_list("id", flat=True)]
    queued_tasks()  # what the send published is not the point here
    tasks.deliveries_attempt(ids)
    assert len(ledger(gateway)) == 1  # the first slot was now
    first, second = Delivery.objects.filter(pk__in=ids[1:]).order_by("slot_at")
    assert first.enqueued_at == second.enqueued_at  # noted for the sweeper in one statement
    assert second.slot_at - first.slot_at == timedelta(seconds=10) + GUARD
    waiting = [first, second]
    again = sorted(args[0] for name, args, _ in queued_tasks() if name == "outbound.tasks.deliveries_attempt")
    assert again == sorted([[str(d.id)] for d in waiting])  # one task each, for its own slot


def test_one_sessions_pacing_does_not_hold_back_another(gateway, session, account, make_groups):
    other = Session.objects.create(account=account, name="unpaced", status="WORKING", messages_per_minute=None, send_delay_max_ms=0)
    pace(session, 1)
    slow = make_send(session, make_groups(3))
    fast = make_send(other, make_groups(3, in_session=other))
    for delivery in list(slow.deliveries.all()) + list(fast.deliveries.all()):
        delivery_attempt(delivery_id=delivery.id)
    assert list(fast.deliveries.values_list("status", flat=True)) == ["sent"] * 3
    assert sorted(slow.deliveries.values_list("status", flat=True)) == ["queued", "queued", "sent"]


def test_pacing_is_set_per_session_through_the_api(api, session):
    response = api.patch(f"/v2/sessions/{session.id}", {"messages_per_minute": 12, "send_delay_max_ms": 1500}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["messages_per_minute"], body["send_delay_min_ms"], body["send_delay_max_ms"]) == (12, 0, 1500)
    bad = api.patch(f"/v2/sessions/{session.id}", {"send_delay_min_ms": 2000}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["details"]["fields"]["send_delay_min_ms"][0]["code"] == "min_above_max"
    assert api.patch(f"/v2/sessions/{session.id}", {"messages_per_minute": None}, format="json").json()["messages_per_minute"] is None


def test_new_sessions_are_paced_by_default(account, settings):
    settings.OUTBOUND_SESSION_MESSAGES_PER_MINUTE = 25
    session = Session.objects.create(account=account, name="new-number")
    assert session.messages_per_minute == 25 and session.send_delay_max_ms == settings.OUTBOUND_SESSION_SEND_DELAY_MAX_MS
