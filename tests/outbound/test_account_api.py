"""GET and PATCH /v2/account: the account's own quiet hours; a change re-examines what its sessions deferred."""

import json
from datetime import time

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from core.models import Account
from core.services.tokens import api_token_create
from outbound.models import Delivery, Session
from outbound.services.deliveries import delivery_attempt

from .test_delivery_attempt import make_send

# The account's settings are part of the API contract: these run on SQLite too (bin/test).
pytestmark = pytest.mark.contract


def field_error(response, field):
    assert response.status_code == 400, response.json()
    return response.json()["error"]["details"]["fields"][field][0]["code"]


def test_it_shows_the_accounts_own_settings(api, account):
    response = api.get("/v2/account")
    assert response.status_code == 200, response.json()
    assert {k: v for k, v in response.json().items() if k != "request_id"} == {
        "id": str(account.id), "name": "Acme", "time_zone": "",
        "quiet_hours_start": None, "quiet_hours_end": None, "quiet_hours_days": [],
    }


def test_it_sets_and_removes_quiet_hours(api, account):
    body = {"time_zone": "Africa/Cairo", "quiet_hours_start": "22:00", "quiet_hours_end": "08:00", "quiet_hours_days": [5, 1]}
    response = api.patch("/v2/account", body, format="json")
    assert response.status_code == 200, response.json()
    assert {k: response.json()[k] for k in body} == {**body, "quiet_hours_days": [1, 5]}
    assert api.get("/v2/account").json()["quiet_hours_start"] == "22:00"
    account.refresh_from_db()
    assert (account.time_zone, account.quiet_hours_start, account.quiet_hours_end, account.quiet_hours_days) == (
        "Africa/Cairo", time(22), time(8), [1, 5]
    )
    cleared = api.patch("/v2/account", {"quiet_hours_start": None, "quiet_hours_end": None}, format="json")
    assert (cleared.json()["quiet_hours_start"], cleared.json()["quiet_hours_end"]) == (None, None)
    assert Account.objects.get(pk=account.pk).quiet_hours_start is None


@pytest.mark.parametrize(
    "body, field, code",
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone", "invalid_timezone"),
        ({"quiet_hours_start": "08:00", "quiet_hours_end": "08:00"}, "quiet_hours_end", "empty_quiet_hours"),
        ({"quiet_hours_start": "22:00"}, "quiet_hours_end", "quiet_hours_incomplete"),
        ({"quiet_hours_end": "08:00"}, "quiet_hours_start", "quiet_hours_incomplete"),
        ({"quiet_hours_start": "25:00", "quiet_hours_end": "08:00"}, "quiet_hours_start", "invalid"),
        ({"quiet_hours_days": [0]}, "quiet_hours_days.0", "min_value"),
        ({"quiet_hours_days": [8]}, "quiet_hours_days.0", "max_value"),
        ({"quiet_hours_days": [1, 1]}, "quiet_hours_days", "duplicate_items"),
        ({"quiet_hours_days": "1"}, "quiet_hours_days", "not_a_list"),
        ({"name": "Renamed"}, "name", "unknown_field"),
        ({"id": "x"}, "id", "unknown_field"),
    ],
)
def test_a_misconfiguration_is_refused_with_the_field_named(api, account, body, field, code):
    assert field_error(api.patch("/v2/account", body, format="json"), field) == code
    account.refresh_from_db()
    assert (account.name, account.time_zone, account.quiet_hours_start, account.quiet_hours_end) == ("Acme", "", None, None)


def test_a_change_is_checked_against_what_the_account_has(api, account):
    Account.objects.filter(pk=account.pk).update(quiet_hours_start=time(22), quiet_hours_end=time(8))
    assert field_error(api.patch("/v2/account", {"quiet_hours_end": None}, format="json"), "quiet_hours_end") == "quiet_hours_incomplete"
    assert field_error(api.patch("/v2/account", {"quiet_hours_end": "22:00"}, format="json"), "quiet_hours_end") == "empty_quiet_hours"
    assert api.patch("/v2/account", {"quiet_hours_end": "07:00"}, format="json").json()["quiet_hours_end"] == "07:00"


def test_a_read_only_token_reads_but_cannot_change_it(account, user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(account=account, user=user, scopes=['read'])[1]}")
    assert client.get("/v2/account").status_code == 200
    refused = client.patch("/v2/account", {"quiet_hours_start": "22:00", "quiet_hours_end": "08:00"}, format="json")
    assert refused.status_code == 403
    assert refused.json()["error"]["details"]["required_scope"] == "settings:write"
    assert Account.objects.get(pk=account.pk).quiet_hours_start is None


def test_each_token_sees_and_changes_only_its_own_account(api, account, other_account):
    Account.objects.filter(pk=other_account.pk).update(time_zone="Asia/Tokyo", quiet_hours_start=time(1), quiet_hours_end=time(2))
    other_user = get_user_model().objects.create(username="other-user", account=other_account)
    theirs = APIClient()
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(account=other_account, user=other_user)[1]}")
    assert api.patch("/v2/account", {"time_zone": "Africa/Cairo"}, format="json").status_code == 200
    shown = api.get("/v2/account").json()
    assert (shown["id"], shown["name"], shown["time_zone"], shown["quiet_hours_start"]) == (str(account.id), "Acme", "Africa/Cairo", None)
    assert theirs.get("/v2/account").json()["time_zone"] == "Asia/Tokyo"
    other_account.refresh_from_db()
    assert (other_account.time_zone, other_account.quiet_hours_start) == ("Asia/Tokyo", time(1))


def _deferred_by_the_accounts_quiet_hours(account, session, make_groups):
    # The test clock: Wednesday 2026-03-04 09:00 UTC, inside 08:00-20:00 UTC.
    Account.objects.filter(pk=account.pk).update(quiet_hours_start=time(8), quiet_hours_end=time(20))
    send = make_send(session, make_groups(1))
    delivery = send.deliveries.get()
    delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error_code) == ("queued", "quiet_hours")
    return delivery


def _published(queued_tasks):
    return [i for name, args, _ in queued_tasks() if name == "outbound.tasks.deliveries_attempt" for i in args[0]]


def test_removing_the_accounts_quiet_hours_lets_what_they_deferred_go_now(
    api, gateway, account, session, make_groups, queued_tasks, django_capture_on_commit_callbacks
):
    delivery = _deferred_by_the_accounts_quiet_hours(account, session, make_groups)
    queued_tasks()
    with django_capture_on_commit_callbacks(execute=True):
        response = api.patch("/v2/account", {"quiet_hours_start": None, "quiet_hours_end": None}, format="json")
    assert response.status_code == 200, response.json()
    assert _published(queued_tasks) == [str(delivery.id)]  # back on the queue at once, not at 20:00
    delivery_attempt(delivery_id=delivery.id)
    assert Delivery.objects.get(pk=delivery.pk).status == "sent"


def test_a_session_with_its_own_quiet_hours_is_not_looked_at_again(
    api, account, session, make_groups, queued_tasks, django_capture_on_commit_callbacks
):
    delivery = _deferred_by_the_accounts_quiet_hours(account, session, make_groups)
    # The session now has its own window: the account's never applies to it again.
    Session.objects.filter(pk=session.pk).update(quiet_hours_start=time(8, 30), quiet_hours_end=time(21))
    queued_tasks()
    with django_capture_on_commit_callbacks(execute=True):
        assert api.patch("/v2/account", {"quiet_hours_start": None, "quiet_hours_end": None}, format="json").status_code == 200
    assert _published(queued_tasks) == []
    assert Delivery.objects.get(pk=delivery.pk).error_code == "quiet_hours"


def test_the_admin_change_releases_them_too(
    client, account, session, make_groups, queued_tasks, django_capture_on_commit_callbacks
):
    delivery = _deferred_by_the_accounts_quiet_hours(account, session, make_groups)
    client.force_login(get_user_model().objects.create_superuser("operator", "op@example.com", "pw"))
    queued_tasks()
    form = {"name": "Acme", "time_zone": "", "quiet_hours_start": "", "quiet_hours_end": "", "quiet_hours_days": json.dumps([])}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/core/account/{account.id}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Account.objects.get(pk=account.pk).quiet_hours_start is None
    assert _published(queued_tasks) == [str(delivery.id)]


def test_the_schema_names_both_operations_and_refuses_unknown_fields(db):
    import io

    import yaml
    from django.core.management import call_command

    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    operations = {method: operation["operationId"] for method, operation in schema["paths"]["/v2/account"].items()}
    assert operations == {"get": "account_retrieve", "patch": "account_update"}
    request = schema["components"]["schemas"]["PatchedAccountSettingsInputRequest"]
    assert set(request["properties"]) == {"time_zone", "quiet_hours_start", "quiet_hours_end", "quiet_hours_days"}
    assert request["additionalProperties"] is False
