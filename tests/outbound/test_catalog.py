"""GET /v2/sessions and GET /v2/groups."""

import json
import uuid

from django.core.management import call_command

from core.models import Account, ApiToken
from outbound.models import Group, Session


def test_it_lists_only_the_accounts_sessions(api, session, other_account):
    body = api.get("/v2/sessions").json()
    assert [s["id"] for s in body["results"]] == [str(session.id)]
    item = body["results"][0]
    assert (item["name"], item["label"], item["role"], item["status"]) == (session.name, "Sales line", "sending", "WORKING")


def test_it_lists_groups_and_filters_them_by_session(api, account, session, make_groups):
    other = Session.objects.create(account=account, name=f"other-{uuid.uuid4().hex[:6]}", status="WORKING")
    in_session = make_groups(2)
    elsewhere = make_groups(1, in_session=other)
    all_ids = {g["id"] for g in api.get("/v2/groups").json()["results"]}
    assert all_ids == {str(g.id) for g in in_session + elsewhere}
    filtered = api.get(f"/v2/groups?session_id={session.id}").json()["results"]
    assert {g["id"] for g in filtered} == {str(g.id) for g in in_session}
    assert filtered[0]["session_ids"] == [str(session.id)]
    assert filtered[0]["chat_id"].endswith("@g.us")
    bad = api.get("/v2/groups?session_id=nope")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"


def test_group_chat_ids_must_be_group_ids(account):
    from django.core.exceptions import ValidationError

    group = Group(account=account, chat_id="201001234567@c.us", name="a person")
    try:
        group.full_clean()
    except ValidationError as error:
        assert error.error_dict["chat_id"][0].code == "invalid_chat_id"
    else:
        raise AssertionError("a person's chat id was accepted as a group")


def test_create_demo_account_is_idempotent_and_prints_a_working_token(db, capsys):
    call_command("create_demo_account")
    first = json.loads(capsys.readouterr().out)
    call_command("create_demo_account")
    second = json.loads(capsys.readouterr().out)
    assert (first["session_id"], first["group_ids"]) == (second["session_id"], second["group_ids"])
    assert Account.objects.count() == 1 and Group.objects.count() == 3
    assert Session.objects.get(pk=first["session_id"]).status == "WORKING"
    assert ApiToken.objects.count() == 2 and first["token"] != second["token"]
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {first['token']}")
    groups = client.get(f"/v2/groups?session_id={first['session_id']}").json()["results"]
    assert sorted(g["id"] for g in groups) == sorted(first["group_ids"])
