"""The beat leader lease: taken, renewed and handed over on the database's clock.

These tests never compare the Python clock with the database's: the tests'
Python clock is frozen (tests/conftest.py) and months away from PostgreSQL's
now(), which the lease uses. A lease runs out by an UPDATE that moves its
expiry into the past relative to the database's own clock, or by real
seconds going by (time.sleep, time.monotonic: neither is frozen).
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.functions import Now

from config.celery_app import app as celery_app
from schedules import beat
from schedules.leader import Leadership, lease_release, lease_renew
from schedules.models import BeatLease
from schedules.selectors import beat_leader

from .conftest import make_due_now

LEASE = BeatLease.BEAT
FIRES = "schedules.tasks.schedules_fire"


def renew(holder: str, seconds: float = 30) -> bool:
    return lease_renew(name=LEASE, holder=holder, seconds=seconds)


def expire_lease() -> None:
    """As if the holder had stopped renewing for longer than the lease, on the database's clock."""
    BeatLease.objects.filter(name=LEASE).update(expires_at=Now() - timedelta(seconds=1))


def test_it_takes_a_free_lease(db):
    assert renew("host-a:1:aa")
    leader = beat_leader()
    assert (leader.holder, leader.term, leader.is_live) == ("host-a:1:aa", 1, True)


def test_it_refuses_a_second_holder_while_the_lease_is_live(db):
    assert renew("host-a:1:aa")
    assert not renew("host-b:2:bb")
    assert beat_leader().holder == "host-a:1:aa"


def test_it_hands_an_expired_lease_to_the_next_holder(db):
    assert renew("host-a:1:aa")
    expire_lease()
    assert beat_leader().is_live is False
    assert renew("host-b:2:bb")
    leader = beat_leader()
    assert (leader.holder, leader.term, leader.is_live) == ("host-b:2:bb", 2, True)


def test_renewing_keeps_the_lease_and_moves_its_expiry(db):
    assert renew("host-a:1:aa", seconds=30)
    first = beat_leader()
    assert renew("host-a:1:aa", seconds=30)
    assert not renew("host-b:2:bb")
    second = beat_leader()
    assert (second.holder, second.term) == ("host-a:1:aa", 1)
    assert second.renewed_at > first.renewed_at and second.expires_at > first.expires_at
    assert second.expires_at - second.renewed_at == timedelta(seconds=30)  # both from one database clock reading


def test_it_renews_its_own_expired_lease_nobody_took_under_the_same_term(db):
    assert renew("host-a:1:aa")
    expire_lease()
    assert renew("host-a:1:aa")
    assert (beat_leader().term, beat_leader().is_live) == (1, True)


def test_the_term_moves_at_every_change_of_holder_and_only_then(db):
    terms = []
    for holder in ["a", "a", "b", "b", "a", "c"]:
        if beat_leader() and beat_leader().holder != holder:
            expire_lease()
        assert renew(holder)
        terms.append(beat_leader().term)
    assert terms == [1, 1, 2, 2, 3, 4]


def test_a_holder_that_lost_the_lease_learns_it_at_its_next_renewal(db):
    leader, standby = Leadership(seconds=30), Leadership(seconds=30)
    assert leader.renew() and leader.term == 1
    expire_lease()
    assert standby.renew() and standby.term == 2
    assert not leader.renew()
    assert (leader.term, leader.is_fresh()) == (None, False)


def test_a_host_whose_clock_runs_ahead_cannot_take_a_live_lease(db, clock):
    assert renew("host-a:1:aa", seconds=30)
    clock.shift(3600)  # this host's clock an hour ahead (the lease is judged on the database's)
    assert not renew("host-b:2:bb")


def test_a_released_lease_goes_to_the_next_holder_at_once(db):
    assert renew("host-a:1:aa")
    lease_release(name=LEASE, holder="host-a:1:aa")
    assert renew("host-b:2:bb")
    assert beat_leader().term == 2


def test_releasing_a_lease_held_by_someone_else_changes_nothing(db):
    assert renew("host-a:1:aa")
    lease_release(name=LEASE, holder="host-b:2:bb")
    assert not renew("host-b:2:bb")


def test_there_is_no_leader_before_any_beat_ran(db):
    assert beat_leader() is None


def test_a_lease_counts_as_held_only_for_its_length_since_the_last_renewal(db):
    leadership = Leadership(seconds=0.3)
    assert not leadership.is_fresh()
    assert leadership.renew()
    assert leadership.is_fresh()
    time.sleep(0.35)  # a pause: SIGSTOP, a VM pause, a long GC
    assert not leadership.is_fresh()
    assert leadership.renew() and leadership.is_fresh()


def test_of_beats_starting_together_exactly_one_takes_the_new_lease(transactional_db):
    contenders = 6
    start, done = threading.Barrier(contenders), threading.Barrier(contenders)
    won = []

    def contend(i):
        try:
            start.wait()
            won.append(renew(f"host-{i}:{i}:00"))
            done.wait()  # all alive until each has tried: a closed session is a dead holder, whose lease is free
        finally:
            connection.close()  # each thread has a connection of its own

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False] * (contenders - 1) + [True]
    assert BeatLease.objects.count() == 1 and beat_leader().term == 1


def renew_in_own_session(holder: str, keep_open: threading.Event | None = None) -> int:
    """Renew as `holder` on a database session of its own (another process's, in effect); its backend pid.

    The session closes when done, as a killed process's does, unless `keep_open` is given: then it lives until that is set.
    """
    taken = {}
    opened = threading.Event()

    def hold():
        try:
            taken["ok"] = renew(holder)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                taken["pid"] = cursor.fetchone()[0]
            opened.set()
            if keep_open is not None:
                keep_open.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    opened.wait(10)
    if keep_open is None:
        thread.join()
    assert taken["ok"]
    return taken["pid"]


def session_gone(pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = %s)", [pid])
        return cursor.fetchone()[0]


@pytest.mark.postgresql
def test_a_standby_takes_over_at_once_from_a_leader_whose_database_session_is_gone(transactional_db):
    pid = renew_in_own_session("host-a:1:aa")  # a 30 s lease, then the process dies and its connection with it
    deadline = time.monotonic() + 5
    while not session_gone(pid):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert beat_leader().is_live  # the lease itself has not run out
    assert renew("host-b:2:bb")
    assert (beat_leader().holder, beat_leader().term) == ("host-b:2:bb", 2)


@pytest.mark.postgresql
def test_a_leader_whose_session_lives_keeps_its_lease_however_quiet(transactional_db):
    keep_open = threading.Event()
    try:
        renew_in_own_session("host-a:1:aa", keep_open)  # hung or cut off: its session stays
        assert not renew("host-b:2:bb")
        assert beat_leader().holder == "host-a:1:aa"
    finally:
        keep_open.set()


# The beat scheduler on the lease: what a leader does when it wakes from a pause.


@pytest.fixture
def short_lease(settings):
    settings.SCHEDULE_POLL_SECONDS = 0.1
    settings.SCHEDULE_LEADER_LEASE_SECONDS = 0.5


def fires(queued_tasks):
    """Every (schedule_id, occurrence) beat published, in order, whatever message carried it."""
    return [tuple(pair) for name, args, _ in queued_tasks() if name == FIRES for pair in args[0]]


def make_scheduler():
    return beat.OutboundScheduler(app=celery_app)


def test_a_standby_takes_over_a_leader_that_stopped_renewing(transactional_db, short_lease):
    leader, standby = make_scheduler(), make_scheduler()
    try:
        assert leader.is_leader()
        assert not standby.is_leader()
        time.sleep(0.6)  # the leader hangs: it renews nothing for longer than its lease
        assert standby.is_leader()
        assert beat_leader().holder == standby._leadership.holder and beat_leader().term == 2
    finally:
        standby.close()
        leader.close()


def test_a_leader_that_wakes_after_a_takeover_publishes_nothing_and_stands_down(
    transactional_db, short_lease, make_schedule, queued_tasks, caplog
):
    leader, standby = make_scheduler(), make_scheduler()
    try:
        assert leader.is_leader()
        schedule = make_schedule()
        make_due_now(schedule)
        leader._poll(schedule.next_run_at)  # due, in its heap, not yet published
        time.sleep(0.6)  # the leader hangs; a standby takes over
        assert standby.is_leader()
        leader.tick()  # wakes up
        assert fires(queued_tasks) == []
        assert "lost the leader lease" in caplog.text
        assert leader._due == [] and not leader.is_leader()
        standby.tick_schedules()  # the occurrence is the new leader's to fire
        assert fires(queued_tasks) == [(str(schedule.id), 1)]
    finally:
        standby.close()
        leader.close()


def test_a_leader_paused_between_renewing_and_publishing_renews_before_publishing(
    transactional_db, short_lease, make_schedule, queued_tasks
):
    leader = make_scheduler()
    try:
        assert leader.is_leader()
        schedule = make_schedule()
        make_due_now(schedule)
        leader._poll(schedule.next_run_at)  # in the heap, not yet published
        time.sleep(0.6)  # paused after its renewal: the lease may be someone else's now
        leader.tick_schedules()
        assert fires(queued_tasks) == []
        leader.tick()  # renews first: nobody took over, so it still leads, under the same term
        assert fires(queued_tasks) == [(str(schedule.id), 1)]
        assert beat_leader().term == 1
    finally:
        leader.close()


def test_a_clean_stop_hands_the_lease_over_at_the_next_poll(transactional_db, short_lease):
    leader, standby = make_scheduler(), make_scheduler()
    try:
        assert leader.is_leader() and not standby.is_leader()
        leader.close()
        time.sleep(0.1)
        assert standby.is_leader()
    finally:
        standby.close()
