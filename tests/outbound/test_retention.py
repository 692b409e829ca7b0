"""Retention of outbound's tables: each purge deletes exactly what is past its period, in bounded batches."""

from datetime import timedelta

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from config.celery_app import app
from core.models import Event
from outbound.models import Delivery, IdempotencyKey, ProviderEvent, Send
from outbound.services.events import events_record
from outbound.services.idempotency import idempotency_keys_purge
from outbound.services.retention import events_purge, provider_events_purge, sends_purge
from outbound.services.sends import send_create, send_targets_resolve
import outbound.tasks  # noqa: F401  (registers the tasks)
import schedules.tasks  # noqa: F401
import webhooks.tasks  # noqa: F401

DAY = 24 * 3600



def record(account, n=1, **fields) -> list[Event]:
    with transaction.atomic():
        events = events_record(account_id=account.id, events=[("message.notification.sent", {"i": i}) for i in range(n)])
    if fields:
        Event.objects.filter(pk__in=[e.pk for e in events]).update(**fields)
    return events


def left(events) -> int:
    return Event.objects.filter(pk__in=[e.pk for e in events]).count()


def test_it_purges_relayed_events_past_their_period_and_nothing_else(account, clock, settings):
    settings.RETENTION_EVENTS_DAYS = 7
    old = record(account, 3)  # no endpoint: written relayed
    old_unrelayed = record(account, relayed=False)
    old_needed = record(account, has_webhook_messages=True)
    clock.shift(7 * DAY + 60)
    recent = record(account)

    assert events_purge() == 3
    assert left(old) == 0
    assert left(old_unrelayed) == left(old_needed) == left(recent) == 1


def test_it_purges_events_in_bounded_batches(account, clock):
    events = record(account, 5)
    clock.shift(8 * DAY)
    assert events_purge(days=7, batch=2, max_batches=2) == 4
    assert left(events) == 1
    assert events_purge(days=7, batch=2, max_batches=2) == 1
    assert left(events) == 0


def test_a_period_of_0_days_keeps_events_forever(account, clock):
    events = record(account)
    clock.shift(400 * DAY)
    assert events_purge(days=0) == 0
    assert left(events) == 1


def test_it_purges_expired_idempotency_keys_in_bounded_batches(account):
    now = timezone.now()
    for i in range(5):
        IdempotencyKey.objects.create(account=account, key=f"old-{i}", request_hash="x", response={}, expires_at=now - timedelta(seconds=1))
    IdempotencyKey.objects.create(account=account, key="live", request_hash="x", response={}, expires_at=now + timedelta(hours=1))
    assert idempotency_keys_purge(batch=2, max_batches=2) == 4
    assert idempotency_keys_purge(batch=2, max_batches=2) == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["live"]


def test_it_forgets_gateway_event_ids_after_a_week_in_bounded_batches(db, clock):
    for i in range(3):
        ProviderEvent.objects.create(id=f"evt_old_{i}", type="message.ack")
    clock.shift(7 * DAY + 60)
    ProviderEvent.objects.create(id="evt_new", type="message.ack")
    assert provider_events_purge(batch=2, max_batches=1) == 2
    assert provider_events_purge() == 1
    assert list(ProviderEvent.objects.values_list("id", flat=True)) == ["evt_new"]


def make_send(session, groups, *, finished: bool) -> Send:
    targets = send_targets_resolve(account=session.account, session_id=session.id, group_ids=[g.id for g in groups])
    send = send_create(targets=targets, text="Hi", media=[], actor_user=None).send
    if finished:
        Delivery.objects.filter(send=send).update(status=Delivery.Status.SENT, sent_at=timezone.now())
        Send.objects.filter(pk=send.pk).update(status=Send.Status.COMPLETED, completed_at=timezone.now())
    return send


def test_it_keeps_sends_forever_by_default(session, make_groups, clock):
    assert django_settings.RETENTION_RUN_HISTORY_DAYS == 0
    make_send(session, make_groups(1), finished=True)
    clock.shift(1000 * DAY)
    assert sends_purge() == 0
    assert Send.objects.count() == 1


def test_it_purges_finished_sends_with_their_deliveries_past_the_history_period(session, make_groups, clock, settings):
    settings.RETENTION_RUN_HISTORY_DAYS = 90
    old = [make_send(session, make_groups(3), finished=True) for _ in range(3)]
    unfinished = make_send(session, make_groups(1), finished=False)
    clock.shift(91 * DAY)
    recent = make_send(session, make_groups(1), finished=True)

    assert sends_purge(batch=2, max_batches=1) == 2
    assert sends_purge() == 1
    assert set(Send.objects.values_list("pk", flat=True)) == {unfinished.pk, recent.pk}
    assert not Delivery.objects.filter(send_id__in=[s.pk for s in old]).exists()
    assert Delivery.objects.count() == 2


def test_the_beat_schedule_runs_every_purge():
    tasks = {entry["task"]: entry["schedule"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    purges = {
        "outbound.tasks.events_purge",
        "outbound.tasks.idempotency_keys_purge",
        "outbound.tasks.provider_events_purge",
        "outbound.tasks.sends_purge",
        "webhooks.tasks.webhook_messages_purge",
        "schedules.tasks.schedule_mirrors_purge",
        "schedules.tasks.runs_purge",
    }
    assert purges <= set(tasks)
    assert all(tasks[name] == django_settings.RETENTION_PURGE_SECONDS for name in purges)
    assert purges <= set(app.tasks)
