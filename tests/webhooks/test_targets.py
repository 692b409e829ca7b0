"""Webhook targets after they were saved: the rule again before each send, and in the admin."""

from django.db import transaction

from outbound.models import User
from outbound.services.events import events_record
from webhooks.models import WebhookEndpoint, WebhookMessage
from webhooks.services.dispatch import endpoint_dispatch
from webhooks.services.relay import events_relay


def test_a_target_that_stopped_being_allowed_is_not_called(account, endpoint, receiver, settings):
    """Saved while loopback was allowed; by the send it is not (as when a public name is re-pointed inward)."""
    with transaction.atomic():
        events_record(account_id=account.id, events=[("message.notification.sent", {"n": 1})])
    events_relay()
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    endpoint_dispatch(endpoint_id=endpoint.id)
    assert receiver.requests == []
    message = WebhookMessage.objects.get()
    attempt = message.attempt_log.get()
    assert attempt.status_code is None and attempt.error.startswith("url_not_public: 127.0.0.1 resolves to 127.0.0.1")
    assert message.status == "pending"  # retried on the schedule: the operator may allow it again


def test_a_rebound_name_is_not_called(account, receiver, public_dns):
    from webhooks.services.endpoints import endpoint_create

    public_dns["hooks.example.com"] = ["93.184.215.15"]
    port = receiver.server.server_address[1]
    endpoint = endpoint_create(account=account, url=f"http://hooks.example.com:{port}/hooks", events=["*"])
    public_dns["hooks.example.com"] = ["93.184.215.15", "100.100.100.200"]
    with transaction.atomic():
        events_record(account_id=account.id, events=[("message.notification.sent", {"n": 1})])
    events_relay()
    endpoint_dispatch(endpoint_id=endpoint.id)
    attempt = WebhookMessage.objects.get().attempt_log.get()
    assert attempt.status_code is None and "100.100.100.200" in attempt.error


def _operator(client):
    client.force_login(User.objects.create_superuser("operator", "op@example.com", "pw"))
    return client


def test_the_admin_refuses_a_non_public_url(client, db, account, endpoint, settings):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    before = endpoint.url
    form = {"account": str(account.pk), "url": "http://100.100.100.200/latest/meta-data/", "events": '["*"]', "description": "",
            "enabled": "on", "disabled_reason": ""}
    response = _operator(client).post(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/", form)
    assert response.status_code == 200
    assert "not a public internet address" in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.url == before


def test_the_admin_changes_an_endpoint_to_a_public_url(client, db, account, endpoint, settings, public_dns):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    form = {"account": str(account.pk), "url": "https://hooks.example.com/wa", "events": '["*"]', "description": "",
            "enabled": "on", "disabled_reason": ""}
    response = _operator(client).post(f"/admin/webhooks/webhookendpoint/{endpoint.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.example.com/wa"



class Answers:
    """A name's answers, one list per lookup, the last one repeated: a DNS rebinding server."""

    def __init__(self, *lookups):
        self.lookups = list(lookups)

    def __iter__(self):
        return iter(self.lookups.pop(0) if len(self.lookups) > 1 else self.lookups[0])


def test_a_name_that_rebinds_between_the_check_and_the_connect_is_not_called(account, receiver, settings, public_dns):
    """The round's check sees a public address, the connect's own lookup gets loopback: nothing is sent there."""
    from webhooks.services import dispatch
    from webhooks.services.endpoints import endpoint_create

    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    port = receiver.server.server_address[1]
    endpoint = endpoint_create(account=account, url=f"http://rebind.example.com:{port}/hooks", events=["*"])
    public_dns["rebind.example.com"] = Answers(["93.184.215.15"], ["127.0.0.1"])
    with transaction.atomic():
        events_record(account_id=account.id, events=[("message.notification.sent", {"n": 1})])
    events_relay()
    dispatch._client = None  # a client made with this test's resolver in place
    try:
        endpoint_dispatch(endpoint_id=endpoint.id)
    finally:
        dispatch._client = None
    assert receiver.requests == []
    attempt = WebhookMessage.objects.get().attempt_log.get()
    assert attempt.status_code is None
    assert attempt.error.startswith("url_not_public: rebind.example.com resolves to 127.0.0.1"), attempt.error
