"""The operators' admin for accounts, tokens, sessions, groups and sends."""

import pytest

from outbound.models import ApiToken, User
from outbound.services.sends import send_create, send_targets_resolve


@pytest.fixture
def operator(client, db):
    client.force_login(User.objects.create_superuser("operator", "op@example.com", "pw"))
    return client


@pytest.mark.parametrize("page", ["account", "user", "apitoken", "session", "group", "send", "delivery", "event"])
def test_every_list_page_loads(operator, session, make_groups, page):
    targets = send_targets_resolve(account=session.account, session_id=session.id, group_ids=[g.id for g in make_groups(2)])
    send_create(targets=targets, text="x", media=[], actor_user=None)
    assert operator.get(f"/admin/outbound/{page}/").status_code == 200


def test_a_send_shows_its_deliveries_inline(operator, session, make_groups):
    groups = make_groups(3)
    targets = send_targets_resolve(account=session.account, session_id=session.id, group_ids=[g.id for g in groups])
    send = send_create(targets=targets, text="x", media=[], actor_user=None).send
    page = operator.get(f"/admin/outbound/send/{send.id}/change/").content.decode()
    assert all(g.chat_id in page for g in groups)


def test_adding_a_token_shows_it_once_and_stores_its_hash(operator, account):
    response = operator.post("/admin/outbound/apitoken/add/", {"account": account.pk, "name": "crm"}, follow=True)
    messages = [str(m) for m in response.context["messages"]]
    shown = next(m for m in messages if "copy it now" in m).rsplit(" ", 1)[1]
    token = ApiToken.objects.get(name="crm")
    assert shown.startswith(token.prefix) and shown not in token.token_hash
    assert ApiToken.objects.count() == 1


def test_revoking_a_token_from_the_admin(operator, account):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    from outbound.services.tokens import api_token_create

    token, _ = api_token_create(account=account)
    operator.post("/admin/outbound/apitoken/", {"action": "revoke", ACTION_CHECKBOX_NAME: [str(token.pk)]})
    token.refresh_from_db()
    assert token.revoked_at is not None
