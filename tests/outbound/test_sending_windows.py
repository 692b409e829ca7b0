"""Daily caps, warm-up and quiet hours: where a send slot starts, on an injected clock."""

import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from core.models import Account, Event
from outbound import clock as service_clock
from outbound.models import Delivery, Session
from outbound.services import queueing
from outbound.services.deliveries import RetryAt, delivery_attempt
from outbound.services.pacing import GUARD, Deferral, send_slot_reserve
from outbound.services.sending_windows import QuietHours, daily_cap_on, day_start, wall_reached

from .test_delivery_attempt import ledger, make_send

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def configure(session, **fields):
    Session.objects.filter(pk=session.pk).update(next_send_slot_at=None, **fields)
    session.refresh_from_db()


# --- local times on DST days --------------------------------------------------------------


def test_it_reads_a_plain_local_time_in_its_zone():
    assert wall_reached(date(2026, 3, 4), time(8), TOKYO) == utc(2026, 3, 3, 23)


@pytest.mark.parametrize(
    "zone, day, at, expected",
    [
        # Berlin skips 02:00-03:00 on 2026-03-29: 02:30 is reached at the jump, 01:00 UTC (03:00 CEST).
        (BERLIN, date(2026, 3, 29), time(2, 30), utc(2026, 3, 29, 1)),
        # New York skips 02:00-03:00 on 2026-03-08: the jump is 07:00 UTC.
        (NEW_YORK, date(2026, 3, 8), time(2, 15), utc(2026, 3, 8, 7)),
        # Berlin repeats 02:00-03:00 on 2026-10-25: 02:30 is reached the first time (CEST, 00:30 UTC).
        (BERLIN, date(2026, 10, 25), time(2, 30), utc(2026, 10, 25, 0, 30)),
        # New York repeats 01:00-02:00 on 2026-11-01: the first 01:30 is EDT (05:30 UTC).
        (NEW_YORK, date(2026, 11, 1), time(1, 30), utc(2026, 11, 1, 5, 30)),
    ],
)
def test_a_local_time_is_reached_the_first_time_the_wall_clock_shows_it(zone, day, at, expected):
    assert wall_reached(day, at, zone) == expected


def test_a_local_day_that_skips_its_midnight_starts_at_the_jump():
    # Santiago springs forward at midnight (2026-09-06 00:00 -> 01:00): that day starts at 01:00 local.
    santiago = ZoneInfo("America/Santiago")
    assert day_start(date(2026, 9, 6), santiago) == utc(2026, 9, 6, 4)
    assert day_start(date(2026, 9, 7), santiago) == utc(2026, 9, 7, 3)


def test_a_window_ending_in_the_spring_gap_ends_at_the_jump():
    quiet = QuietHours(time(22), time(2, 30), (), BERLIN)
    assert quiet.end_if_inside(utc(2026, 3, 28, 23)) == utc(2026, 3, 29, 1)  # 03:00 CEST
    assert quiet.end_if_inside(utc(2026, 3, 29, 1)) is None


def test_a_window_ending_in_the_repeated_hour_ends_once():
    quiet = QuietHours(time(22), time(2, 30), (), BERLIN)
    assert quiet.end_if_inside(utc(2026, 10, 24, 23)) == utc(2026, 10, 25, 0, 30)  # the first 02:30 (CEST)
    # 01:15 UTC is 02:15 CET, the hour again: not quiet again.
    assert quiet.end_if_inside(utc(2026, 10, 25, 1, 15)) is None


def test_a_window_may_cross_midnight_and_keep_to_its_days():
    fridays = QuietHours(time(22), time(8), (5,), ZoneInfo("UTC"))  # starts on Fridays only
    assert fridays.end_if_inside(utc(2026, 3, 7, 3)) == utc(2026, 3, 7, 8)  # Saturday 03:00: Friday's window
    assert fridays.end_if_inside(utc(2026, 3, 8, 3)) is None  # Sunday 03:00: Saturday's would-be window
    assert fridays.end_if_inside(utc(2026, 3, 6, 21, 59)) is None


# --- warm-up ------------------------------------------------------------------------------


def test_warm_up_rises_linearly_from_day_one_to_the_cap():
    session = Session(daily_message_cap=100, warmup_first_day_cap=20, warmup_days=5, warmup_started_at=date(2026, 3, 1))
    caps = [daily_cap_on(session, date(2026, 3, 1) + timedelta(days=k)) for k in range(-1, 7)]
    assert caps == [20, 20, 40, 60, 80, 100, 100, 100]
    assert daily_cap_on(Session(daily_message_cap=None), date(2026, 3, 1)) is None


# --- the slot ------------------------------------------------------------------------------


def test_the_cap_counts_slots_per_local_day_and_defers_the_rest_to_the_next(session, clock):
    configure(session, time_zone="Asia/Tokyo", daily_message_cap=3)
    now = service_clock.now()  # 2026-03-04 18:00 in Tokyo
    slots = [send_slot_reserve(session_id=session.id, messages=1, now=now) for _ in range(5)]
    assert slots[:3] == [now] * 3
    tokyo_midnight = utc(2026, 3, 4, 15)
    assert slots[3:] == [Deferral(tokyo_midnight, "daily_cap")] * 2
    session.refresh_from_db()
    assert (session.cap_day, session.cap_day_count) == (date(2026, 3, 4), 3)  # the deferrals counted nothing
    # The next local day starts from nothing.
    assert send_slot_reserve(session_id=session.id, messages=1, now=tokyo_midnight) == tokyo_midnight
    session.refresh_from_db()
    assert (session.cap_day, session.cap_day_count) == (date(2026, 3, 5), 1)


def test_a_cap_near_midnight_defers_to_midnight_and_counts_nothing_ahead(session):
    configure(session, daily_message_cap=1, messages_per_minute=60, send_delay_max_ms=0)
    now = utc(2026, 3, 4, 23, 59, 58)
    assert send_slot_reserve(session_id=session.id, messages=1, now=now) == now
    assert send_slot_reserve(session_id=session.id, messages=1, now=now) == Deferral(utc(2026, 3, 5), "daily_cap")
    session.refresh_from_db()
    assert (session.cap_day, session.cap_day_count) == (date(2026, 3, 4), 1)


def test_warm_up_day_one_caps_a_new_number(session):
    configure(session, daily_message_cap=100, warmup_first_day_cap=2, warmup_days=10, warmup_started_at=date(2026, 3, 4))
    now = utc(2026, 3, 4, 9)
    slots = [send_slot_reserve(session_id=session.id, messages=1, now=now) for _ in range(3)]
    assert slots[:2] == [now, now] and isinstance(slots[2], Deferral)


def test_quiet_hours_defer_to_their_end_and_pacing_spreads_what_comes_back(session):
    configure(session, messages_per_minute=60, send_delay_max_ms=0, quiet_hours_start=time(22), quiet_hours_end=time(8), time_zone="Europe/Berlin")
    now = utc(2026, 3, 5, 6, 55)  # 07:55 in Berlin, five minutes before the end
    end = utc(2026, 3, 5, 7)
    assert [send_slot_reserve(session_id=session.id, messages=1, now=now) for _ in range(3)] == [Deferral(end, "quiet_hours")] * 3
    # At the end they come back and leave one gap apart: no burst at 08:00.
    slots = [send_slot_reserve(session_id=session.id, messages=1, now=end) for _ in range(3)]
    assert slots == [end, end + timedelta(seconds=1) + GUARD, end + 2 * (timedelta(seconds=1) + GUARD)]


def test_quiet_hours_far_from_their_end_defer_without_a_slot(session):
    configure(session, quiet_hours_start=time(22), quiet_hours_end=time(8), time_zone="Europe/Berlin")
    assert send_slot_reserve(session_id=session.id, messages=1, now=utc(2026, 3, 4, 22)) == Deferral(utc(2026, 3, 5, 7), "quiet_hours")
    session.refresh_from_db()
    assert session.next_send_slot_at is None


def test_the_accounts_quiet_hours_apply_unless_the_session_has_its_own(session):
    Account.objects.filter(pk=session.account_id).update(quiet_hours_start=time(12), quiet_hours_end=time(14), time_zone="UTC")
    assert send_slot_reserve(session_id=session.id, messages=1, now=utc(2026, 3, 4, 12)) == Deferral(utc(2026, 3, 4, 14), "quiet_hours")
    configure(session, quiet_hours_start=time(1), quiet_hours_end=time(2))
    assert send_slot_reserve(session_id=session.id, messages=1, now=utc(2026, 3, 4, 12)) == utc(2026, 3, 4, 12)


def test_a_cap_reached_inside_quiet_hours_waits_for_the_next_days_window_end(session):
    configure(session, daily_message_cap=1, quiet_hours_start=time(22), quiet_hours_end=time(8))
    now = utc(2026, 3, 4, 21)
    assert send_slot_reserve(session_id=session.id, messages=1, now=now) == now
    assert send_slot_reserve(session_id=session.id, messages=1, now=now) == Deferral(utc(2026, 3, 5, 8), "quiet_hours")


@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_never_exceed_the_cap(session):
    configure(session, daily_message_cap=17)
    now, results = utc(2026, 3, 4, 9), []

    def reserve():
        for _ in range(10):
            results.append(send_slot_reserve(session_id=session.id, messages=1, now=now))
        connection.close()

    threads = [threading.Thread(target=reserve) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for r in results if r == now) == 17
    assert sum(1 for r in results if isinstance(r, Deferral)) == 23


# --- deliveries ----------------------------------------------------------------------------


def test_a_delivery_over_the_cap_waits_queued_with_its_reason_then_goes_the_next_day(gateway, session, make_groups, clock, queued_tasks):
    configure(session, daily_message_cap=1)
    first, second = make_send(session, make_groups(2)).deliveries.order_by("id")
    assert delivery_attempt(delivery_id=first.id) is None
    assert delivery_attempt(delivery_id=second.id) is None  # far off: no countdown in the broker
    assert len(ledger(gateway)) == 1  # the deferred one never reached the gateway
    second.refresh_from_db()
    midnight = utc(2026, 3, 5)
    assert (second.status, second.attempts, second.error_code, second.next_attempt_at) == ("queued", 0, "daily_cap", midnight)
    event = Event.objects.filter(type="message.notification.deferred").get()
    assert (event.data["deferred_reason"], event.data["not_before_at"]) == ("daily_cap", "2026-03-05T00:00:00.000Z")
    # The sweeper puts it on the queue for its time once that is near, once.
    queued_tasks()
    for at, released in ((utc(2026, 3, 4, 23, 40), 0), (utc(2026, 3, 4, 23, 55), 1), (utc(2026, 3, 4, 23, 56), 0)):
        clock.move_to(at)
        assert queueing.deliveries_deferred_release(now=service_clock.now()) == released
    assert [args for name, args, _ in queued_tasks() if name == "outbound.tasks.deliveries_attempt"] == [[[str(second.id)]]]
    clock.move_to(midnight)
    assert delivery_attempt(delivery_id=second.id) is None
    second.refresh_from_db()
    assert (second.status, second.attempts, second.error_code) == ("sent", 1, "")
    assert len(ledger(gateway)) == 2


def test_a_deferral_near_its_end_comes_back_on_its_own(gateway, session, make_groups, clock):
    clock.move_to(utc(2026, 3, 4, 7, 58))
    configure(session, quiet_hours_start=time(22), quiet_hours_end=time(8))
    delivery = make_send(session, make_groups(1)).deliveries.get()
    # Within the pacing horizon: queued for 08:00 at once, the sweeper not needed.
    assert delivery_attempt(delivery_id=delivery.id) == RetryAt(utc(2026, 3, 4, 8))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error_code, delivery.attempts, delivery.slot_at) == ("queued", "quiet_hours", 0, None)
    assert not ledger(gateway)


def test_a_delivery_deferred_past_its_expiry_expires_as_any_other(gateway, session, make_groups, clock):
    configure(session, daily_message_cap=1)
    first, second = make_send(session, make_groups(2)).deliveries.order_by("id")
    expires = service_clock.now() + timedelta(hours=2)
    Delivery.objects.filter(pk=second.pk).update(expires_at=expires)
    delivery_attempt(delivery_id=first.id)
    delivery_attempt(delivery_id=second.id)
    second.refresh_from_db()
    assert (second.status, second.next_attempt_at) == ("queued", expires)
    clock.move_to(expires + timedelta(seconds=1))
    assert delivery_attempt(delivery_id=second.id) is None
    second.refresh_from_db()
    assert (second.status, second.error_code) == ("expired", "expired")
    assert len(ledger(gateway)) == 1


def test_each_deferral_is_counted_by_reason(gateway, session, make_groups, django_capture_on_commit_callbacks):
    from outbound import metrics

    configure(session, quiet_hours_start=time(8), quiet_hours_end=time(10))  # the clock reads 09:00 UTC
    counter = metrics.DEFERRED.labels("quiet_hours")
    before = counter._value.get()
    send = make_send(session, make_groups(2))
    with django_capture_on_commit_callbacks(execute=True):
        for delivery in send.deliveries.all():
            delivery_attempt(delivery_id=delivery.id)
    assert counter._value.get() - before == 2
    assert set(send.deliveries.values_list("status", "error_code")) == {("queued", "quiet_hours")}
