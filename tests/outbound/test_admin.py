"""The operators' admin for accounts, tokens, sessions, groups and sends."""


import pytest

from core.models import ApiSecret, ApiToken
from core.services.credentials import api_secret_create
from outbound.models import User
from outbound.services.sends import send_create, send_targets_resolve


@pytest.fixture
def operator(client, db):
    client.force_login(User.objects.create_superuser("operator", "op@example.com", "pw"))
    return client


@pytest.mark.parametrize(
    "page",
    ["core/account", "outbound/user", "core/apitoken", "core/apisecret", "outbound/session", "outbound/group",
     "outbound/send", "outbound/delivery", "core/event"],
)
def test_every_list_page_loads(operator, session, make_groups, page):
    targets = send_targets_resolve(account=session.account, session_id=session.id, group_ids=[g.id for g in make_groups(2)])
    send_create(targets=targets, text="x", media=[], actor_user=None)
    assert operator.get(f"/admin/{page}/").status_code == 200


def test_a_send_shows_its_deliveries_inline(operator, session, make_groups):
    groups = make_groups(3)
    targets = send_targets_resolve(account=session.account, session_id=session.id, group_ids=[g.id for g in groups])
    send = send_create(targets=targets, text="x", media=[], actor_user=None).send
    page = operator.get(f"/admin/outbound/send/{send.id}/change/").content.decode()
    assert all(g.chat_id in page for g in groups)


def test_adding_a_token_shows_it_once_and_stores_its_hash(operator, account):
    body = {"account": account.pk, "name": "crm", "scopes": ["read", "sends:write"]}
    response = operator.post("/admin/core/apitoken/add/", body, follow=True)
    messages = [str(m) for m in response.context["messages"]]
    shown = next(m for m in messages if "copy it now" in m).rsplit(" ", 1)[1]
    token = ApiToken.objects.get(name="crm")
    assert shown.startswith(token.prefix) and shown not in token.token_hash
    assert token.scopes == ["read", "sends:write"]
    assert ApiToken.objects.count() == 1


def test_adding_an_api_secret_shows_its_key_once_and_stores_it_encrypted(operator, account):
    body = {"account": account.pk, "name": "crm", "scopes": ["read"]}
    response = operator.post("/admin/core/apisecret/add/", body, follow=True)
    message = next(str(m) for m in response.context["messages"] if "copy it now" in str(m))
    key = message.rsplit(" ", 1)[1]
    secret = ApiSecret.objects.get(name="crm")
    assert str(secret.id) in message and key.startswith(secret.key_prefix)
    assert key not in secret.key_encrypted and secret.scopes == ["read"]
    page = operator.get(f"/admin/core/apisecret/{secret.id}/change/").content.decode()
    assert key not in page and secret.key_encrypted not in page


def test_revoking_an_api_secret_from_the_admin(operator, account):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    secret, _ = api_secret_create(account=account, name="crm", scopes=["read"])
    operator.post("/admin/core/apisecret/", {"action": "revoke", ACTION_CHECKBOX_NAME: [str(secret.pk)]})
    secret.refresh_from_db()
    assert secret.revoked_at is not None


def test_revoking_a_token_from_the_admin(operator, account):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    from core.services.tokens import api_token_create

    token, _ = api_token_create(account=account)
    operator.post("/admin/core/apitoken/", {"action": "revoke", ACTION_CHECKBOX_NAME: [str(token.pk)]})
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_admin_logins_are_locked_out_after_5_wrong_passwords(client, db, settings):
    User.objects.create_superuser("ops", "ops@example.com", "right-password")
    wrong = {"username": "ops", "password": "guess", "next": "/admin/"}
    answers = [client.post("/admin/login/", wrong).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 200, 429]  # the form again with an error, then the lockout
    locked = client.post("/admin/login/", {**wrong, "password": "right-password"})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    # Another operator is not locked out by someone guessing at "ops".
    User.objects.create_superuser("ops2", "ops2@example.com", "pw-2")
    assert client.post("/admin/login/", {"username": "ops2", "password": "pw-2", "next": "/admin/"}).status_code == 302


@pytest.mark.parametrize("page", ["outbound/send", "outbound/delivery", "core/event"])
def test_it_offers_no_delete_for_the_record_of_what_was_sent(operator, session, make_groups, page):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    from core.models import Event
    from outbound.models import Delivery, Send

    targets = send_targets_resolve(account=session.account, session_id=session.id, group_ids=[g.id for g in make_groups(2)])
    send = send_create(targets=targets, text="x", media=[], actor_user=None).send
    row = {"send": send, "delivery": send.deliveries.first(), "event": Event.objects.first()}[page.split("/")[1]]
    changelist = f"/admin/{page}/"
    assert 'value="delete_selected"' not in operator.get(changelist).content.decode()
    assert "deletelink" not in operator.get(f"{changelist}{row.pk}/change/").content.decode()
    assert operator.post(f"{changelist}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    operator.post(changelist, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [str(row.pk)], "post": "yes"})
    assert type(row).objects.filter(pk=row.pk).exists()
    assert Send.objects.count() == 1 and Delivery.objects.count() == 2


def test_it_offers_no_delete_for_webhook_messages(operator, account):
    from django.contrib import admin

    from webhooks.admin import WebhookMessageAdmin
    from webhooks.models import WebhookMessage

    model_admin = WebhookMessageAdmin(WebhookMessage, admin.site)
    request = operator.get("/admin/").wsgi_request
    assert not model_admin.has_delete_permission(request)
    assert "delete_selected" not in model_admin.get_actions(request)
    assert 'value="delete_selected"' not in operator.get("/admin/webhooks/webhookmessage/").content.decode()


# --- The console reads at a glance (issue 23) ---------------------------------------------------------------

def test_it_writes_every_instant_one_way_with_seconds_and_the_zone(settings):
    """Django's DATETIME_FORMAT (list columns, read-only fields) and core.admin_format.moment agree."""
    import zoneinfo
    from datetime import datetime
    from datetime import timezone as dt_timezone

    from django.utils import formats, timezone

    from core.admin_format import moment

    instant = datetime(2026, 12, 4, 19, 30, 5, 303_000, tzinfo=dt_timezone.utc)
    for zone, expected in [("Africa/Cairo", "2026-12-04 21:30:05 EET"), ("UTC", "2026-12-04 19:30:05 UTC")]:
        with timezone.override(zoneinfo.ZoneInfo(zone)):
            assert moment(instant) == expected
            assert formats.localize(timezone.template_localtime(instant)) == expected
            assert moment(instant, millis=True) == expected.replace(":05 ", ":05.303 ")
    assert moment(None) == "-"


def test_the_admin_is_titled_for_the_product(operator):
    page = operator.get("/admin/").content.decode()
    assert "<title>Schedules, sends, sessions and webhooks | Outbound operations</title>" in page
    assert "Django administration" not in page


def test_a_sends_page_is_headed_by_its_text(operator, session, make_groups):
    targets = send_targets_resolve(account=session.account, session_id=session.id, group_ids=[g.id for g in make_groups(1)])
    send = send_create(targets=targets, text="Flash sale:\n30% off today", media=[], actor_user=None).send
    page = operator.get(f"/admin/outbound/send/{send.id}/change/").content.decode()
    assert f"<h2>Flash sale: 30% off today ({send.id})</h2>" in page
