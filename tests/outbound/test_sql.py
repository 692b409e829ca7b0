"""outbound.sql: its statements, checked by what they do to the rows, on PostgreSQL and on SQLite (marker `contract`)."""

from datetime import timedelta

import uuid

import pytest
from django.db.models.signals import post_delete, pre_delete
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, PeriodicTask, PeriodicTasks

from outbound import sql
from core.ids import new_id
from core.models import Event
from outbound.models import Delivery, IdempotencyKey
from outbound.services.sends import send_create, send_targets_resolve

pytestmark = pytest.mark.contract


def make_deliveries(session, groups) -> list[Delivery]:
    targets = send_targets_resolve(account=session.account, session_id=session.id, group_ids=[g.id for g in groups])
    return send_create(targets=targets, text="Hello", media=[], actor_user=None).deliveries


def test_it_inserts_rows_exactly_as_built_and_they_read_back_as_the_orm_reads_them(account):
    now = timezone.now()
    later = now + timedelta(seconds=5)
    rows = [
        Event(id=new_id(), account=account, type="message.notification.sent", data={"n": n, "ok": True, "ids": [str(account.id)]},
              relayed=n == 1, created_at=when)
        for n, when in enumerate((now, later, now))
    ]
    sql.rows_insert(rows)
    saved = {e.pk: e for e in Event.objects.filter(pk__in=[r.pk for r in rows])}
    for made in rows:
        got = saved[made.pk]
        assert isinstance(got.pk, uuid.UUID) and got.account_id == account.id
        assert (got.type, got.data, got.relayed, got.created_at) == (made.type, made.data, made.relayed, made.created_at)


def test_it_claims_a_batch_once_and_says_exactly_which_deliveries(session, make_groups):
    deliveries = make_deliveries(session, make_groups(3))
    ids = [d.id for d in deliveries]
    now = timezone.now()
    Delivery.objects.filter(pk=ids[2]).update(next_attempt_at=now + timedelta(minutes=5))  # not due yet
    lease = now + timedelta(minutes=1)

    claimed = sql.deliveries_claim(ids, now=now, lease=lease, abandoned=False)

    assert claimed == set(ids[:2])  # canonical uuid.UUIDs, on every database
    rows = {d.pk: d for d in Delivery.objects.filter(pk__in=ids)}
    assert [(rows[i].status, rows[i].attempts, rows[i].lease_expires_at) for i in ids[:2]] == [("sending", 1, lease)] * 2
    assert (rows[ids[2]].status, rows[ids[2]].attempts) == ("queued", 0)
    assert sql.deliveries_claim(ids, now=now, lease=lease, abandoned=False) == set()  # a duplicate task claims nothing


def test_it_takes_over_only_a_claim_whose_lease_ran_out(session, make_groups):
    ids = [d.id for d in make_deliveries(session, make_groups(2))]
    now = timezone.now()
    sql.deliveries_claim(ids, now=now, lease=now + timedelta(minutes=1), abandoned=False)
    Delivery.objects.filter(pk=ids[0]).update(lease_expires_at=now - timedelta(seconds=1))

    taken = sql.deliveries_claim(ids, now=now, lease=now + timedelta(minutes=1), abandoned=True)

    assert taken == {ids[0]}
    assert dict(Delivery.objects.filter(pk__in=ids).values_list("pk", "attempts")) == {ids[0]: 2, ids[1]: 1}


def test_it_stores_a_key_once_while_it_lives_and_takes_over_an_expired_one(account):
    now = timezone.now()

    def store(request_hash, at):
        return sql.idempotency_key_store(
            account_id=account.pk, key="k-1", request_hash=request_hash, response={"n": request_hash},
            now=at, expires_at=at + timedelta(hours=1),
        )

    assert store("first", now)
    assert not store("second", now + timedelta(minutes=59))  # live: left alone
    assert IdempotencyKey.objects.get(account=account, key="k-1").response == {"n": "first"}
    assert store("third", now + timedelta(hours=1))  # expired: taken over
    key = IdempotencyKey.objects.get(account=account, key="k-1")
    assert (key.request_hash, key.response, key.expires_at) == ("third", {"n": "third"}, now + timedelta(hours=2))


def test_it_deletes_rows_without_signals_so_beat_is_not_told_to_reload(db):
    clocked = ClockedSchedule.objects.create(clocked_time=timezone.now())
    task = PeriodicTask.objects.create(name="mirror", task="t", clocked=clocked, one_off=True)
    PeriodicTasks.update_changed()
    marker = PeriodicTasks.last_change()
    heard = []

    def receiver(sender, **kwargs):
        heard.append(sender)

    pre_delete.connect(receiver)
    post_delete.connect(receiver)
    try:
        assert sql.rows_delete_without_signals(PeriodicTask, [task.pk]) == 1
        assert sql.rows_delete_without_signals(ClockedSchedule, [clocked.pk]) == 1
    finally:
        pre_delete.disconnect(receiver)
        post_delete.disconnect(receiver)
    assert heard == []
    assert not PeriodicTask.objects.filter(pk=task.pk).exists() and not ClockedSchedule.objects.filter(pk=clocked.pk).exists()
    assert PeriodicTasks.last_change() == marker
    assert sql.rows_delete_without_signals(ClockedSchedule, []) == 0
