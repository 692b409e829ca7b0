"""Media URLs: the gateway downloads them from inside our network, so only public addresses, at request and at send time."""

import json
import uuid

import httpx
import pytest

from outbound.models import Delivery, Send
from outbound.services.deliveries import delivery_attempt
from outbound.services.sends import send_create, send_targets_resolve

# Refused media URLs and their field code; 127.0.0.0/8 is allowed by bin/test, so loopback is not among them.
REFUSED = [
    ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "url_not_public"),
    ("http://100.100.100.200/latest/meta-data/", "url_not_public"),
    ("http://10.0.0.5/a.png", "url_not_public"),
    ("http://[::ffff:10.0.0.5]/a.png", "url_not_public"),
    ("http://[64:ff9b::a9fe:a9fe]/a.png", "url_not_public"),
    ("http://[fd00::5]/a.png", "url_not_public"),
    ("https://no-such-host.invalid/a.png", "url_unresolvable"),
    ("https://me:pw@cdn.example.com/a.png", "invalid_url"),
]


@pytest.fixture
def post(api, session, make_groups):
    groups = make_groups(2)

    def post(**fields):
        body = {"session_id": str(session.id), "group_ids": [str(g.id) for g in groups], "idempotency_key": f"k-{uuid.uuid4()}"}
        return api.post("/v2/outbound/sends", {**body, **fields}, format="json")

    return post


def assert_field_refused(response, field, code):
    assert response.status_code == 400, response.json()
    fields = response.json()["error"]["details"]["fields"]
    assert fields[field][0]["code"] == code, fields
    assert not Send.objects.exists()


@pytest.mark.parametrize("url, code", REFUSED)
def test_a_send_with_a_non_public_media_url_is_refused(post, public_dns, url, code):
    media = [{"url": "https://cdn.example.com/a.png"}, {"url": url}]
    assert_field_refused(post(text="Look", media=media), "media.1.url", code)


@pytest.mark.parametrize("url, code", REFUSED)
def test_a_variant_with_a_non_public_media_url_is_refused(post, public_dns, url, code):
    variants = [
        {"variant_name": "A", "text": "Hi", "percent_audience": 50},
        {"variant_name": "B", "media": [{"url": url}], "percent_audience": 50},
    ]
    assert_field_refused(post(variants=variants), "variants.1.media.0.url", code)


def test_a_multipart_send_with_a_non_public_media_url_is_refused(api, session, make_groups, public_dns):
    form = {
        "session_id": str(session.id), "group_ids": [str(g.id) for g in make_groups(1)], "idempotency_key": "k-1",
        "media": json.dumps([{"url": "http://169.254.169.254/latest/meta-data/"}]),
    }
    assert_field_refused(api.post("/v2/outbound/sends", form, format="multipart"), "media.0.url", "url_not_public")


def test_a_send_with_public_media_urls_is_accepted(post, settings, public_dns):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    assert post(media=[{"url": "https://cdn.example.com/a.png"}]).status_code == 202


def test_an_allowed_network_is_accepted_for_media(post, settings):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = ["10.20.0.0/16"]
    assert post(media=[{"url": "http://10.20.0.9/a.png"}]).status_code == 202


def _gateway_messages(gateway) -> list:
    return httpx.get(f"{gateway.base_url}/_fake/ledger").json()["messages"]


def test_a_media_url_that_stopped_being_public_fails_the_delivery_at_send_time(gateway, session, make_groups, public_dns):
    """Accepted while the name pointed at a public address; by the send it points at the metadata service."""
    targets = send_targets_resolve(account=session.account, session_id=session.id, group_ids=[g.id for g in make_groups(1)])
    media = [{"url": "https://cdn.example.com/a.png"}, {"url": "https://rebind.example.com/b.png"}]
    public_dns["rebind.example.com"] = ["169.254.169.254"]
    delivery = send_create(targets=targets, text="Look", media=media, actor_user=None).deliveries[0]
    assert delivery_attempt(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.error_code == "url_not_public"
    assert "Media 2 not sent" in delivery.error_message and "169.254.169.254" in delivery.error_message
    # No part at all reached the gateway: the first image is not sent without the second.
    assert _gateway_messages(gateway) == []
    assert delivery.send.deliveries.get().status == Delivery.Status.FAILED


def test_a_media_host_that_stops_resolving_is_retried_not_failed(gateway, session, make_groups, settings):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    targets = send_targets_resolve(account=session.account, session_id=session.id, group_ids=[g.id for g in make_groups(1)])
    delivery = send_create(
        targets=targets, text="", media=[{"url": "https://no-such-host.invalid/a.png"}], actor_user=None
    ).deliveries[0]
    assert delivery_attempt(delivery_id=delivery.id) is not None  # a resolver's bad minute: try again later
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error_code) == (Delivery.Status.QUEUED, "url_unresolvable")
    assert _gateway_messages(gateway) == []
