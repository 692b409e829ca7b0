"""From the outbox to the customer's receiver: relay, signed delivery, retries, 410, replay, atomicity."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from core.models import Account, Event
from core.time import to_iso
from outbound.services.events import events_record
from webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from webhooks.services.dispatch import RETRY_SCHEDULE, endpoint_dispatch, endpoints_with_due_messages, retry_delay
from webhooks.services.relay import events_relay


def record(account, type="message.notification.sent", **data):
    with transaction.atomic():
        return events_record(account_id=account.id, events=[(type, {"n": 1, **data})])[0]


def deliver(endpoint):
    events_relay()
    return endpoint_dispatch(endpoint_id=endpoint.id)


@pytest.mark.contract
def test_an_event_reaches_the_receiver_signed_and_in_the_seed_shape(account, endpoint, receiver):
    event = record(account, id="d1", status="sent")
    assert deliver(endpoint) == 1
    [request] = receiver.requests
    assert request["json"] == {
        "event": "message.notification.sent",
        "timestamp": to_iso(event.created_at),  # when it happened, not when this attempt was made
        "data": {"n": 1, "id": "d1", "status": "sent"},
    }
    headers = {k.lower(): v for k, v in request["headers"].items()}
    message = WebhookMessage.objects.get(event=event)
    assert headers["webhook-id"] == message.webhook_id
    assert Webhook(endpoint.secret).verify(request["body"], headers) == request["json"]
    assert message.status == "succeeded" and message.attempts == 1 and message.last_status_code == 200
    attempt = message.attempt_log.get()
    assert attempt.status_code == 200 and attempt.latency_ms is not None and '"ok"' in attempt.response_excerpt
    assert Event.objects.get(pk=event.pk).relayed


@pytest.mark.contract
def test_only_subscribed_events_are_sent(account, receiver):
    from webhooks.services.endpoints import endpoint_create

    endpoint = endpoint_create(account=account, url=receiver.url, events=["schedule.completed"])
    record(account, "message.notification.sent")
    record(account, "schedule.completed")
    deliver(endpoint)
    assert receiver.events() == ["schedule.completed"]


@pytest.mark.contract
def test_events_arrive_in_the_order_they_happened(account, endpoint, receiver):
    for i in range(5):
        record(account, "message.notification.sent", i=i)
    deliver(endpoint)
    assert [r["json"]["data"]["i"] for r in receiver.requests] == [0, 1, 2, 3, 4]


@pytest.mark.contract
def test_a_rolled_back_change_emits_nothing(account, endpoint, receiver):
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            events_record(account_id=account.id, events=[("message.notification.sent", {"n": 1})])
            raise RuntimeError("the change fails after its event was written")
    assert not Event.objects.exists()
    assert deliver(endpoint) == 0
    assert receiver.requests == []


def test_a_failing_receiver_is_retried_on_the_schedule_with_every_attempt_logged(account, endpoint, receiver):
    receiver.answers = [500, 503]
    event = record(account)
    before = timezone.now()
    deliver(endpoint)
    message = WebhookMessage.objects.get(event=event)
    assert (message.status, message.attempts, message.last_status_code) == ("pending", 1, 500)
    assert before + timedelta(seconds=4) < message.next_attempt_at < timezone.now() + timedelta(seconds=6)
    attempt = message.attempt_log.get()
    assert attempt.status_code == 500 and attempt.response_excerpt.startswith("nope")
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    # Due again: the periodic check finds it.
    WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    assert endpoints_with_due_messages() == [endpoint.id]
    endpoint_dispatch(endpoint_id=endpoint.id)
    message.refresh_from_db()
    assert (message.attempts, message.last_status_code) == (2, 503)
    assert message.next_attempt_at > timezone.now() + timedelta(minutes=4)  # the second step: about 5 minutes
    WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=timezone.now())
    endpoint_dispatch(endpoint_id=endpoint.id)
    message.refresh_from_db()
    assert message.status == "succeeded" and message.attempt_log.count() == 3
    # Every attempt of one message carried the same webhook-id.
    assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_the_retry_schedule_grows_to_a_day_then_gives_up():
    assert RETRY_SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 86400)  # 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h
    for attempts, seconds in enumerate(RETRY_SCHEDULE, start=1):
        assert 0.9 * seconds <= retry_delay(attempts) <= 1.1 * seconds  # with jitter
    assert retry_delay(len(RETRY_SCHEDULE) + 1) is None


def test_a_timeout_counts_as_a_failure(account, endpoint, receiver, settings):
    import time as _time

    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.2
    from webhooks.services import dispatch

    dispatch._client = None  # a client with the short timeout
    original = receiver.server.RequestHandlerClass.do_POST

    def slow(handler):
        _time.sleep(0.5)
        original(handler)

    receiver.server.RequestHandlerClass.do_POST = slow
    try:
        record(account)
        deliver(endpoint)
    finally:
        receiver.server.RequestHandlerClass.do_POST = original
        dispatch._client = None
    attempt = WebhookMessage.objects.get().attempt_log.get()
    assert attempt.status_code is None and attempt.error.startswith("timeout")


def test_410_turns_the_endpoint_off_and_flags_the_account(account, endpoint, receiver):
    receiver.answers = [410]
    record(account)
    record(account)
    deliver(endpoint)
    endpoint.refresh_from_db()
    assert "410" in endpoint.disabled_reason
    # The 410'd message has failed, and so has the one waiting behind it: a gone
    # endpoint turned on again gets only what happens afterwards.
    assert WebhookMessage.objects.filter(status="failed").count() == 2
    assert len(receiver.requests) == 1  # the next one is not sent to a gone endpoint
    assert "410" in Account.objects.get(pk=account.pk).webhook_alert


def test_an_endpoint_failing_for_days_is_turned_off(account, endpoint, receiver, settings):
    settings.WEBHOOKS_DISABLE_AFTER_DAYS = 5
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=timezone.now() - timedelta(days=6))
    receiver.answers = [500]
    record(account)
    deliver(endpoint)
    endpoint.refresh_from_db()
    assert endpoint.disabled_reason.startswith("Failing since")
    assert Account.objects.get(pk=account.pk).webhook_alert


def test_a_replay_sends_the_message_again_with_the_same_id(api, account, endpoint, receiver):
    event = record(account)
    deliver(endpoint)
    message = WebhookMessage.objects.get(event=event)
    response = api.post(f"/v2/webhooks/{endpoint.id}/deliveries/{message.id}/replay")
    assert response.status_code == 200 and response.json()["status"] == "pending"
    endpoint_dispatch(endpoint_id=endpoint.id)
    assert len(receiver.requests) == 2
    assert receiver.requests[0]["headers"]["webhook-id"] == receiver.requests[1]["headers"]["webhook-id"]
    listing = api.get(f"/v2/webhooks/{endpoint.id}/deliveries").json()["results"]
    assert listing[0]["attempts"] == 2 and len(listing[0]["attempt_log"]) == 2
    assert listing[0]["attempt_log"][0]["status_code"] == 200


def test_a_second_dispatcher_stays_out_while_one_holds_the_endpoint(account, endpoint):
    record(account)
    events_relay()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(dispatch_lease_until=timezone.now() + timedelta(seconds=60))
    assert endpoint_dispatch(endpoint_id=endpoint.id) == -1
    assert WebhookMessage.objects.get().status == "pending"


def test_a_disabled_or_switched_off_endpoint_gets_no_new_messages(account, endpoint):
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    record(account)
    events_relay()
    assert not WebhookMessage.objects.exists()


def test_a_round_of_messages_costs_a_few_statements_not_a_few_per_message(
    account, endpoint, receiver, django_assert_max_num_queries
):
    for i in range(20):
        record(account, i=i)
    events_relay()
    # One claim, one INSERT of the attempts, one UPDATE of the successes for the
    # round (it was five statements a message), plus the lease's own.
    with django_assert_max_num_queries(12):
        assert endpoint_dispatch(endpoint_id=endpoint.id) == 20
    assert [r["json"]["data"]["i"] for r in receiver.requests] == list(range(20))
    assert WebhookMessage.objects.filter(status="succeeded", attempts=1, last_status_code=200).count() == 20
    assert WebhookAttempt.objects.filter(status_code=200).count() == 20


def test_what_the_budget_leaves_unsent_goes_back_unattempted(account, endpoint, receiver):
    import time as _time

    original = receiver.server.RequestHandlerClass.do_POST

    def slow(handler):
        _time.sleep(0.3)
        original(handler)

    for i in range(3):
        record(account, i=i)
    events_relay()
    receiver.server.RequestHandlerClass.do_POST = slow
    try:
        assert endpoint_dispatch(endpoint_id=endpoint.id, budget_seconds=0.1) == 1
    finally:
        receiver.server.RequestHandlerClass.do_POST = original
    messages = list(WebhookMessage.objects.order_by("event_id"))
    assert [(m.status, m.attempts) for m in messages] == [("succeeded", 1), ("pending", 0), ("pending", 0)]
    assert endpoint_dispatch(endpoint_id=endpoint.id) == 2  # the next dispatch sends them, in order
    assert [r["json"]["data"]["i"] for r in receiver.requests] == [0, 1, 2]


def test_a_failure_amid_successes_leaves_the_endpoint_failing_only_if_it_came_last(account, endpoint, receiver):
    receiver.answers = [200, 500]
    record(account, i=0)
    record(account, i=1)
    deliver(endpoint)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    WebhookMessage.objects.filter(status="pending").update(next_attempt_at=timezone.now())
    receiver.answers = []
    endpoint_dispatch(endpoint_id=endpoint.id)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None
    assert WebhookMessage.objects.filter(status="succeeded").count() == 2
