"""An endpoint that keeps failing is turned off: at a count or after days, once, with an event; re-enabling replays nothing."""

import logging

import pytest
from django.db import transaction

from core.models import Account, Event
from outbound.services.events import events_record
from webhooks.models import WebhookEndpoint, WebhookMessage
from webhooks.services.dispatch import ENDPOINT_DISABLED, endpoint_dispatch
from webhooks.services.endpoints import endpoint_create
from webhooks.services.relay import events_relay

from .conftest import Receiver


def record(account, n=1, type="message.notification.sent"):
    with transaction.atomic():
        return events_record(account_id=account.id, events=[(type, {"n": i}) for i in range(n)])


def relay_and_dispatch(*endpoints):
    events_relay()
    return [endpoint_dispatch(endpoint_id=e.id) for e in endpoints]


@pytest.fixture
def down():
    """A receiver that answers 500 to everything until told otherwise."""
    receiver = Receiver()
    receiver.answers = [500] * 1000
    yield receiver
    receiver.server.shutdown()


@pytest.fixture
def healthy():
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()


def test_it_is_disabled_at_the_count_with_an_event_and_nothing_is_attempted_after(account, down, healthy, settings, clock):
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 5
    failing = endpoint_create(account=account, url=down.url, events=["*"])
    other = endpoint_create(account=account, url=healthy.url, events=["*"])
    record(account, 3)
    relay_and_dispatch(failing, other)
    failing.refresh_from_db()
    assert (len(down.requests), failing.consecutive_failures, failing.status) == (3, 3, "active")

    clock.shift(10)  # the retries (5 s) are due: the 5th failure in a row turns it off, the 6th is not tried
    relay_and_dispatch(failing)
    failing.refresh_from_db()
    assert len(down.requests) == 5
    assert failing.status == "disabled" and failing.disabled_at is not None
    assert failing.disabled_reason.startswith("5 attempts in a row failed")
    assert not failing.messages.exclude(status="failed").exists()  # nothing left to send by surprise later
    assert "turned off" in Account.objects.get(pk=account.pk).webhook_alert

    [event] = Event.objects.filter(type=ENDPOINT_DISABLED)
    assert event.data["endpoint_id"] == str(failing.id) and event.data["consecutive_failures"] == 5
    assert event.data["messages_dropped"] >= 1
    relay_and_dispatch(other)
    told = [r["json"] for r in healthy.requests if r["json"]["event"] == ENDPOINT_DISABLED]
    assert [t["data"]["endpoint_id"] for t in told] == [str(failing.id)]  # the account's other endpoint hears of it
    assert not failing.messages.filter(event=event).exists()  # not the disabled one

    for _ in range(3):  # while disabled: new events, time passing, dispatches: nothing is tried
        record(account, 2)
        clock.shift(3600)
        assert relay_and_dispatch(failing) == [-1]
    assert len(down.requests) == 5
    assert not failing.messages.filter(status="pending").exists()


def test_re_enabling_sends_only_what_happens_afterwards(api, account, down, settings, clock):
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 2
    endpoint = endpoint_create(account=account, url=down.url, events=["message.notification.sent"])
    record(account, 3)
    relay_and_dispatch(endpoint)
    endpoint.refresh_from_db()
    assert endpoint.status == "disabled" and len(down.requests) == 2
    record(account, 2)  # while it is off: never sent

    shown = api.get(f"/v2/webhooks/{endpoint.id}").json()
    assert (shown["status"], shown["enabled"], shown["consecutive_failures"]) == ("disabled", True, 2)
    assert shown["disabled_at_ms"] is not None and shown["disabled_reason"].startswith("2 attempts in a row")

    down.answers = []  # it works again
    clock.shift(60)
    answer = api.patch(f"/v2/webhooks/{endpoint.id}", {"enabled": True}, format="json")
    assert answer.status_code == 200, answer.json()
    assert (answer.json()["status"], answer.json()["disabled_reason"], answer.json()["disabled_at_ms"]) == ("active", "", None)
    assert answer.json()["consecutive_failures"] == 0
    clock.shift(60)  # past the catch-up window of the re-enabling: what is sent now is only what happens now
    relay_and_dispatch(endpoint)
    assert len(down.requests) == 2  # nothing from before was replayed

    after = record(account, 1)[0]
    clock.shift(1)
    relay_and_dispatch(endpoint)
    assert len(down.requests) == 3 and down.requests[-1]["json"]["data"] == after.data
    assert WebhookMessage.objects.get(endpoint=endpoint, event=after).status == "succeeded"


def test_a_success_resets_the_count(account, down, settings, clock):
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 3
    endpoint = endpoint_create(account=account, url=down.url, events=["*"])
    down.answers = [500, 500, 200, 500, 500]
    record(account, 5)
    relay_and_dispatch(endpoint)
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.consecutive_failures) == ("active", 2)


def test_a_failing_endpoint_logs_its_1st_10th_100th_failure_not_every_attempt(account, down, settings, caplog):
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 0  # no count limit: it only logs
    endpoint = endpoint_create(account=account, url=down.url, events=["*"])
    record(account, 40)
    with caplog.at_level(logging.INFO, logger="webhooks.services.dispatch"):
        for _ in range(2):
            relay_and_dispatch(endpoint)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 40 and endpoint.status == "active"
    lines = [r for r in caplog.records if r.levelno >= logging.INFO and r.getMessage().startswith("webhook ")]
    assert [r.consecutive_failures for r in lines] == [1, 10]


def test_the_disable_thresholds_are_settings_with_defaults(settings):
    from django.conf import settings as live

    assert (live.WEBHOOKS_DISABLE_AFTER_DAYS, live.WEBHOOKS_DISABLE_AFTER_FAILURES) == (5, 1000)


def test_the_admin_shows_and_filters_disabled_endpoints_and_turns_them_on(client, account, down, settings):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    from outbound.models import User

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES = 1
    failing = endpoint_create(account=account, url=down.url, events=["*"])
    working = endpoint_create(account=account, url=down.url + "/ok", events=["*"])
    record(account)
    relay_and_dispatch(failing)
    page = client.get("/admin/webhooks/webhookendpoint/?status=disabled").content.decode()
    assert "1 attempts in a row failed" in page and f"/{failing.pk}/" in page and f"/{working.pk}/" not in page
    client.post("/admin/webhooks/webhookendpoint/", {"action": "enable", ACTION_CHECKBOX_NAME: [str(failing.pk)]})
    assert WebhookEndpoint.objects.get(pk=failing.pk).status == "active"


def test_it_is_disabled_after_days_of_failure_however_few_the_attempts(account, down, settings, clock):
    settings.WEBHOOKS_DISABLE_AFTER_FAILURES, settings.WEBHOOKS_DISABLE_AFTER_DAYS = 0, 1
    endpoint = endpoint_create(account=account, url=down.url, events=["*"])
    record(account)
    relay_and_dispatch(endpoint)
    clock.shift(23 * 3600)  # its retry is due; a day has not passed
    relay_and_dispatch(endpoint)
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.consecutive_failures) == ("active", 2)
    clock.shift(2 * 3600)
    relay_and_dispatch(endpoint)
    endpoint.refresh_from_db()
    assert endpoint.status == "disabled" and endpoint.disabled_reason.endswith("(more than 1 days).")
    assert len(down.requests) == 3
    assert Event.objects.filter(type=ENDPOINT_DISABLED, data__endpoint_id=str(endpoint.id)).count() == 1


def test_a_webhook_delivered_is_a_debug_line_and_an_endpoint_receiving_again_an_info_line(account, down, caplog, clock):
    endpoint = endpoint_create(account=account, url=down.url, events=["*"])
    record(account, 2)
    with caplog.at_level(logging.DEBUG, logger="webhooks.services.dispatch"):
        relay_and_dispatch(endpoint)  # both fail
        clock.shift(10)  # their retries are due
        down.answers = [200, 200]
        relay_and_dispatch(endpoint)
    lines = [(r.levelname, r.event) for r in caplog.records if hasattr(r, "event")]
    assert lines == [
        ("INFO", "webhook.retrying"), ("DEBUG", "webhook.retrying"),  # the 2nd failure in a row is quiet
        ("DEBUG", "webhook.succeeded"), ("DEBUG", "webhook.succeeded"), ("INFO", "webhook.endpoint.recovered"),
    ]
