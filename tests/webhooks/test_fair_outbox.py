"""A fair outbox: one account's backlog never holds up another's webhooks; unsubscribed events never queue."""

import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core.models import Account, Event
from outbound.services.deliveries import delivery_attempt
from outbound.services.events import events_record
from outbound.services.retention import id_floor
from outbound.services.sends import send_create, send_targets_resolve
from tests.webhooks.conftest import Receiver, events_backlog
from webhooks import receivers
from webhooks.models import WebhookEndpoint, WebhookMessage
from webhooks.services import relay
from webhooks.services.dispatch import endpoint_dispatch
from webhooks.services.endpoints import endpoint_create, endpoint_update

RELAY_TASK = "webhooks.tasks.account_events_relay"



def record(account, type="message.notification.sent", **data):
    with transaction.atomic():
        return events_record(account_id=account.id, events=[(type, {"n": 1, **data})])[0]


def endpoint_made_elsewhere(account, receiver, *, receiving_since) -> WebhookEndpoint:
    """An endpoint created by another process: this one's cache is not told."""
    return WebhookEndpoint.objects.create(
        account=account, url=receiver.url, events=["*"], secret="whsec_" + "A" * 44, receiving_since=receiving_since
    )


def unrelayed(account) -> int:
    return Event.objects.filter(account=account, relayed=False).count()


@pytest.fixture
def tenant_b(db):
    """Another account with an endpoint of its own and 20,000 events waiting for the relay."""
    account = Account.objects.create(name="Busy")
    receiver = Receiver()
    endpoint_create(account=account, url=receiver.url, events=["*"])
    events_backlog(account, 20_000)
    yield account
    receiver.server.shutdown()


def test_it_relays_a_tenants_event_at_once_behind_another_tenants_20000_event_backlog(account, endpoint, receiver, tenant_b):
    started = time.monotonic()
    event = record(account, id="a1")
    # What the task queued on commit does, then the endpoint's dispatcher.
    assert relay.account_events_relay(account_id=account.id) == [endpoint.id]
    assert endpoint_dispatch(endpoint_id=endpoint.id) == 1
    elapsed = time.monotonic() - started

    assert [r["json"]["data"]["id"] for r in receiver.requests] == ["a1"]
    assert elapsed < 5, f"tenant A's webhook took {elapsed:.2f} s"
    assert WebhookMessage.objects.get(event=event).status == "succeeded"
    assert unrelayed(tenant_b) == 20_000  # A did not wait for any of B's
    print(f"tenant A's webhook behind 20,000 events of tenant B: {elapsed * 1000:.0f} ms")


def test_it_gives_every_account_a_turn_in_the_backstop(account, endpoint, tenant_b):
    event = Event.objects.bulk_create([Event(account=account, type="message.notification.sent", data={})])[0]
    # A budget of two batches: one of B's 20,000, and A's.
    assert set(relay.events_relay(max_batches=2, budget_seconds=60)) == {endpoint.id, WebhookEndpoint.objects.get(account=tenant_b).id}
    assert Event.objects.get(pk=event.pk).relayed
    assert WebhookMessage.objects.filter(event=event).exists()
    assert unrelayed(tenant_b) == 20_000 - relay.BATCH


def test_it_relays_only_the_accounts_own_events(account, endpoint, tenant_b):
    record(account)
    relay.account_events_relay(account_id=tenant_b.id, max_batches=1)
    assert unrelayed(account) == 1
    assert unrelayed(tenant_b) == 20_000 - relay.BATCH


def test_it_relays_a_backlog_in_bounded_batches(account, endpoint):
    events_backlog(account, 1200)
    relay.account_events_relay(account_id=account.id, batch=500, max_batches=2, budget_seconds=60)
    assert unrelayed(account) == 200
    relay.account_events_relay(account_id=account.id, batch=500, max_batches=2, budget_seconds=60)
    assert unrelayed(account) == 0
    assert WebhookMessage.objects.filter(endpoint=endpoint).count() == 1200
    assert Event.objects.filter(account=account, has_webhook_messages=True).count() == 1200


def test_a_relay_task_stops_when_its_time_is_up(tenant_b):
    relay.account_events_relay(account_id=tenant_b.id, budget_seconds=0)
    assert unrelayed(tenant_b) == 20_000 - relay.BATCH
    relay.events_relay(budget_seconds=0)
    assert unrelayed(tenant_b) == 20_000 - 2 * relay.BATCH


def test_it_finds_every_account_with_unrelayed_events_whatever_the_starting_point(db):
    accounts = [Account.objects.create(name=f"A{i}") for i in range(5)]
    for account in accounts:
        events_backlog(account, 3)
    for _ in range(10):  # a random start each time
        assert sorted(relay.accounts_with_unrelayed_events(limit=10)) == sorted(a.id for a in accounts)
    assert len(relay.accounts_with_unrelayed_events(limit=2)) == 2


def test_it_writes_events_of_an_account_without_endpoints_as_relayed(
    api, session, make_groups, gateway, queued_tasks, django_capture_on_commit_callbacks
):
    groups = make_groups(3)
    body = {"session_id": str(session.id), "group_ids": [str(g.id) for g in groups], "idempotency_key": "k1", "text": "Hi"}
    with django_capture_on_commit_callbacks(execute=True):
        send_id = api.post("/v2/outbound/sends", body, format="json").json()["send"]["send_id"]
    for delivery_id in Event.objects.filter(type="message.notification.scheduled").values_list("data__id", flat=True):
        with django_capture_on_commit_callbacks(execute=True):
            delivery_attempt(delivery_id=delivery_id)

    assert Event.objects.filter(type="message.notification.sent").count() == 3
    assert Event.objects.filter(data__send_id=send_id).count() == 6
    assert Event.objects.filter(relayed=False).count() == 0
    assert RELAY_TASK not in [name for name, _, _ in queued_tasks()]


def test_it_queues_a_relay_of_the_account_when_its_events_commit(account, endpoint, queued_tasks, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        event = record(account)
    assert not Event.objects.get(pk=event.pk).relayed
    assert [(name, args) for name, args, _ in queued_tasks()] == [(RELAY_TASK, [str(account.id)])]


def test_an_endpoint_created_here_gets_the_next_event_at_once(account, receiver):
    record(account)  # cached here: no endpoint
    endpoint = endpoint_create(account=account, url=receiver.url, events=["*"])
    event = record(account)
    assert not Event.objects.get(pk=event.pk).relayed
    assert relay.account_events_relay(account_id=account.id) == [endpoint.id]


def test_an_endpoint_turned_on_elsewhere_catches_up_the_events_written_as_unsubscribed(account, receiver, clock):
    before = record(account, i=0)  # before the endpoint: not for it
    clock.shift(1)
    # Another process turns an endpoint on; this one's cache still says "none".
    endpoint = endpoint_made_elsewhere(account, receiver, receiving_since=timezone.now())
    clock.shift(1)
    missed = [record(account, i=i) for i in (1, 2)]
    assert all(Event.objects.get(pk=e.pk).relayed for e in missed)

    assert relay.events_relay() == [endpoint.id]
    endpoint_dispatch(endpoint_id=endpoint.id)
    assert [r["json"]["data"]["i"] for r in receiver.requests] == [1, 2]
    assert not WebhookMessage.objects.filter(event=before).exists()
    assert Event.objects.filter(pk__in=[e.pk for e in missed], has_webhook_messages=True).count() == 2
    # Again on the next runs, without sending anything twice.
    relay.events_relay()
    assert WebhookMessage.objects.filter(endpoint=endpoint).count() == 2


def test_the_catch_up_window_outlasts_the_cache():
    assert relay.CATCH_UP_WINDOW.total_seconds() >= receivers.CACHE_SECONDS + 5
    assert relay.CATCH_UP_HORIZON > relay.CATCH_UP_WINDOW


def test_an_endpoint_turned_back_on_gets_events_from_then_on(account, endpoint, receiver, clock):
    endpoint_update(endpoint=endpoint, enabled=False)
    off = record(account, i=0)
    clock.shift(1)
    endpoint_update(endpoint=endpoint, enabled=True)
    endpoint.refresh_from_db()
    assert endpoint.receiving_since > off.created_at
    on = record(account, i=1)
    relay.events_relay()
    endpoint_dispatch(endpoint_id=endpoint.id)
    assert [r["json"]["data"]["i"] for r in receiver.requests] == [1]
    assert not WebhookMessage.objects.filter(event=off).exists() and WebhookMessage.objects.filter(event=on).exists()


def test_it_catches_up_only_inside_the_window(account, receiver):
    long_ago = timezone.now() - relay.CATCH_UP_HORIZON - timedelta(seconds=1)
    endpoint_made_elsewhere(account, receiver, receiving_since=long_ago)
    receivers._cache[account.id] = (time.monotonic() + 60, False)  # a stale "none" here
    record(account)
    assert relay.endpoints_catch_up() == set()


def test_id_floor_sorts_below_every_id_made_from_that_instant_on(account):
    moment = timezone.now()
    event = record(account)
    assert id_floor(moment) <= event.id < id_floor(moment + timedelta(seconds=1))
    assert id_floor(moment - timedelta(milliseconds=1)) < id_floor(moment)


def test_a_send_to_an_account_with_an_endpoint_is_relayed_and_delivered(account, endpoint, receiver, session, make_groups):
    targets = send_targets_resolve(account=account, session_id=session.id, group_ids=[g.id for g in make_groups(2)])
    send_create(targets=targets, text="Hi", media=[], actor_user=None)
    assert unrelayed(account) == 2
    relay.account_events_relay(account_id=account.id)
    endpoint_dispatch(endpoint_id=endpoint.id)
    assert receiver.events() == ["message.notification.scheduled"] * 2


def test_commits_while_a_relay_waits_queue_no_second_one_and_its_start_lets_the_next_queue(
    account, endpoint, queued_tasks, django_capture_on_commit_callbacks
):
    from webhooks.tasks import account_events_relay

    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            record(account)
    assert [name for name, _, _ in queued_tasks()].count(RELAY_TASK) == 1  # the waiting one will read all three
    account_events_relay(str(account.id))  # it runs: all three relayed, one dispatch queued
    assert Event.objects.filter(account=account, relayed=False).count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        record(account)  # committed after it started: needs a relay of its own
    assert [name for name, _, _ in queued_tasks()].count(RELAY_TASK) == 2
    assert [name for name, _, _ in queued_tasks()].count("webhooks.tasks.endpoint_dispatch") == 1


@pytest.mark.django_db(transaction=True)
def test_two_relays_of_one_account_take_turns_so_a_later_event_never_goes_first(account, endpoint, monkeypatch):
    """The per-account task and the backstop may relay one account at once; neither may pass the other's batch."""
    import threading

    from django.db import connection

    first = record(account, id="first")
    paused, release = threading.Event(), threading.Event()
    make = relay._messages_make

    def make_slowly(endpoints, events):
        if threading.current_thread().name == "busy-relay":
            paused.set()
            release.wait(10)  # a relay in the middle of its batch, holding the first event
        return make(endpoints, events)

    monkeypatch.setattr(relay, "_messages_make", make_slowly)

    def relay_in_thread():
        try:
            relay.account_events_relay(account_id=account.id)
        finally:
            connection.close()

    busy = threading.Thread(target=relay_in_thread, name="busy-relay")
    busy.start()
    assert paused.wait(10)
    second = record(account, id="second")
    other = threading.Thread(target=relay_in_thread, name="second-relay")
    other.start()
    other.join(1.0)
    # The second relay waits for the first: the later event has no message yet.
    messages_before_release = set(WebhookMessage.objects.values_list("event_id", flat=True))
    release.set()
    busy.join(10)
    other.join(10)
    assert second.pk not in messages_before_release
    assert set(WebhookMessage.objects.values_list("event_id", flat=True)) == {first.pk, second.pk}
