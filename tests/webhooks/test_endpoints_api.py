"""/v2/webhooks: endpoints, secrets shown once, rotation, and refused targets."""

import pytest

from tests.api_asserts import assert_unknown_field
from webhooks.models import WebhookEndpoint


def test_it_creates_an_endpoint_and_shows_the_secret_once(api, receiver):
    response = api.post("/v2/webhooks", {"url": receiver.url, "events": ["message.notification.sent"], "description": "CRM"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["message.notification.sent"]
    detail = api.get(f"/v2/webhooks/{body['id']}").json()
    assert "secret" not in detail and detail["url"] == receiver.url
    assert [e["id"] for e in api.get("/v2/webhooks").json()["results"]] == [body["id"]]


def test_events_default_to_all_and_must_be_known(api, receiver):
    assert api.post("/v2/webhooks", {"url": receiver.url}, format="json").json()["events"] == ["*"]
    bad = api.post("/v2/webhooks", {"url": receiver.url, "events": ["message.sent"]}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["details"]["fields"]["events.0"][0]["code"] == "invalid_choice"


def test_it_updates_and_deletes(api, endpoint):
    body = api.patch(f"/v2/webhooks/{endpoint.id}", {"enabled": False, "events": ["schedule.completed"]}, format="json").json()
    assert body["enabled"] is False and body["events"] == ["schedule.completed"]
    assert api.delete(f"/v2/webhooks/{endpoint.id}").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_rotation_gives_a_new_secret_and_keeps_the_old_one_signing_for_a_while(api, endpoint):
    old = endpoint.secret
    body = api.post(f"/v2/webhooks/{endpoint.id}/rotate-secret").json()
    endpoint.refresh_from_db()
    assert body["secret"] == endpoint.secret != old and endpoint.previous_secret == old
    assert body["previous_secret_expires_at_ms"] is not None


def _assert_url_refused(response, code):
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["details"]["fields"]["url"][0]["code"] == code, error


REFUSED = [
    ("http://127.0.0.1:8080/hook", "url_not_public"),
    ("http://localhost/hook", "url_not_public"),
    ("http://10.1.2.3/hook", "url_not_public"),
    ("http://192.168.1.10/hook", "url_not_public"),
    ("http://169.254.169.254/latest/meta-data", "url_not_public"),
    ("http://100.100.100.200/latest/meta-data", "url_not_public"),  # shared address space (a cloud's metadata)
    ("http://100.64.0.1/hook", "url_not_public"),
    ("http://192.0.0.1/hook", "url_not_public"),
    ("http://198.18.0.1/hook", "url_not_public"),
    ("http://[::1]/hook", "url_not_public"),
    ("http://[::ffff:127.0.0.1]/hook", "url_not_public"),
    ("http://[::ffff:10.0.0.1]/hook", "url_not_public"),
    ("http://[2002:a00:1::]/hook", "url_not_public"),  # 6to4 of 10.0.0.1
    ("http://[64:ff9b::a00:1]/hook", "url_not_public"),  # NAT64 of 10.0.0.1
    ("http://[fd00::1]/hook", "url_not_public"),
    ("http://0.0.0.0/hook", "url_not_public"),
    ("http://no-such-host.invalid/hook", "url_unresolvable"),
    ("https://user:pw@hooks.example.com/hook", "invalid_url"),
]


@pytest.mark.parametrize("url, code", REFUSED)
def test_non_public_targets_are_refused_when_adding(api, settings, public_dns, url, code):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    _assert_url_refused(api.post("/v2/webhooks", {"url": url}, format="json"), code)
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url, code", REFUSED)
def test_non_public_targets_are_refused_when_changing(api, settings, public_dns, url, code):
    endpoint = api.post("/v2/webhooks", {"url": "https://hooks.example.com/wa"}, format="json").json()
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    _assert_url_refused(api.patch(f"/v2/webhooks/{endpoint['id']}", {"url": url}, format="json"), code)
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).url == "https://hooks.example.com/wa"


def test_a_name_with_one_private_address_is_refused(api, settings, public_dns):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    public_dns["hooks.example.com"] = ["93.184.215.15", "100.100.100.200"]
    _assert_url_refused(api.post("/v2/webhooks", {"url": "https://hooks.example.com/wa"}, format="json"), "url_not_public")


def test_a_public_target_is_accepted(api, settings, public_dns):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    assert api.post("/v2/webhooks", {"url": "https://hooks.example.com/wa"}, format="json").status_code == 201


def test_non_http_schemes_are_refused(api):
    response = api.post("/v2/webhooks", {"url": "ftp://example.com/hook"}, format="json")
    assert response.status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_a_setting_allows_a_private_network(api, settings, receiver):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    assert api.post("/v2/webhooks", {"url": receiver.url}, format="json").status_code == 201


def test_another_accounts_endpoint_is_not_found(api, other_account):

    theirs = WebhookEndpoint.objects.create(account=other_account, url="https://example.com/x", events=["*"], secret="whsec_x")
    assert api.get(f"/v2/webhooks/{theirs.id}").status_code == 404
    assert api.delete(f"/v2/webhooks/{theirs.id}").status_code == 404


def test_an_unknown_field_is_refused_when_adding_or_changing_a_webhook(api, receiver):
    assert_unknown_field(api.post("/v2/webhooks", {"url": receiver.url, "event": ["*"]}, format="json"), "event")
    assert not WebhookEndpoint.objects.exists()
    endpoint = api.post("/v2/webhooks", {"url": receiver.url}, format="json").json()
    response = api.patch(f"/v2/webhooks/{endpoint['id']}", {"enabled": False, "enabeld": True}, format="json")
    assert_unknown_field(response, "enabeld")
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).enabled is True
