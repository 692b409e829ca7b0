"""Retention of webhook messages: finished ones go after their period with their attempts, and then their events."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from core.models import Event
from outbound.services.events import events_record
from outbound.services.retention import events_purge
from webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from webhooks.services.dispatch import endpoint_dispatch, message_replay
from webhooks.services.relay import account_events_relay
from webhooks.services.retention import webhook_messages_purge

DAY = 24 * 3600


def delivered(account, endpoint, n=1) -> list[WebhookMessage]:
    """n events of the account, relayed and sent to the endpoint (the receiver answers 200)."""
    with transaction.atomic():
        events = events_record(account_id=account.id, events=[("message.notification.sent", {"i": i}) for i in range(n)])
    account_events_relay(account_id=account.id)
    endpoint_dispatch(endpoint_id=endpoint.id)
    return list(WebhookMessage.objects.filter(event__in=events))


def test_it_purges_finished_messages_past_their_period_with_their_attempts(account, endpoint, receiver, clock, settings):
    settings.RETENTION_WEBHOOK_MESSAGES_DAYS = 30
    receiver.answers = [200, 200, 410]
    succeeded = delivered(account, endpoint, 2)
    [failed] = delivered(account, endpoint)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(disabled_reason="", enabled=True)
    with transaction.atomic():
        [waiting_event] = events_record(account_id=account.id, events=[("message.notification.sent", {})])
    account_events_relay(account_id=account.id)
    # Pending, its next attempt far ahead: a retry, or an endpoint that is off.
    WebhookMessage.objects.filter(event=waiting_event).update(next_attempt_at=timezone.now() + timedelta(days=60))
    clock.shift(30 * DAY + 60)
    recent = delivered(account, endpoint)

    assert {m.status for m in succeeded + [failed]} == {"succeeded", "failed"}
    assert webhook_messages_purge() == 3
    assert not WebhookMessage.objects.filter(pk__in=[m.pk for m in succeeded + [failed]]).exists()
    assert not WebhookAttempt.objects.filter(message_id__in=[m.pk for m in succeeded + [failed]]).exists()
    assert WebhookMessage.objects.get(event=waiting_event).status == "pending"
    assert WebhookMessage.objects.filter(pk__in=[m.pk for m in recent]).count() == 1


def test_it_purges_messages_in_bounded_batches(account, endpoint, clock):
    delivered(account, endpoint, 5)
    clock.shift(31 * DAY)
    assert webhook_messages_purge(days=30, batch=2, max_batches=2) == 4
    assert WebhookMessage.objects.count() == 1


def test_a_replayed_message_counts_from_its_replay(account, endpoint, clock):
    [message] = delivered(account, endpoint)
    clock.shift(29 * DAY)
    message_replay(message=message)
    endpoint_dispatch(endpoint_id=endpoint.id)
    clock.shift(2 * DAY)
    assert webhook_messages_purge(days=30) == 0


def test_an_event_stays_while_its_messages_do_then_goes(account, endpoint, clock, settings):
    settings.RETENTION_EVENTS_DAYS, settings.RETENTION_WEBHOOK_MESSAGES_DAYS = 7, 30
    [message] = delivered(account, endpoint)
    event = Event.objects.get(pk=message.event_id)
    assert event.relayed and event.has_webhook_messages

    clock.shift(8 * DAY)
    assert events_purge() == 0  # its message is kept 30 days, so is the event
    clock.shift(23 * DAY)
    assert webhook_messages_purge() == 1
    assert not Event.objects.get(pk=event.pk).has_webhook_messages
    assert events_purge() == 1
    assert not Event.objects.filter(pk=event.pk).exists()


def test_an_event_another_endpoint_still_waits_for_is_kept(account, endpoint, receiver, clock):
    other = WebhookEndpoint.objects.create(account=account, url=receiver.url, events=["*"], secret="whsec_" + "B" * 44)
    delivered(account, endpoint)  # only `endpoint` is dispatched; `other`'s message stays pending
    message = WebhookMessage.objects.get(endpoint=endpoint)
    clock.shift(31 * DAY)
    assert webhook_messages_purge(days=30) == 1
    assert WebhookMessage.objects.filter(endpoint=other, event_id=message.event_id, status="pending").exists()
    assert Event.objects.get(pk=message.event_id).has_webhook_messages
    assert events_purge(days=7) == 0


def test_deleting_an_endpoint_lets_its_events_go(api, account, endpoint, clock):
    [message] = delivered(account, endpoint)
    assert api.delete(f"/v2/webhooks/{endpoint.id}").status_code == 204
    assert not Event.objects.get(pk=message.event_id).has_webhook_messages
    clock.shift(8 * DAY)
    assert events_purge(days=7) == 1


def test_a_period_of_0_days_keeps_messages_forever(account, endpoint, clock):
    delivered(account, endpoint)
    clock.shift(400 * DAY)
    assert webhook_messages_purge(days=0) == 0
    assert WebhookMessage.objects.count() == 1
