"""The admin shows and edits a session's daily cap, warm-up and quiet hours, and an account's quiet hours."""

import json

import pytest
from django.contrib import admin
from django.forms.models import model_to_dict
from django.test import RequestFactory

from core.models import Account
from outbound.models import Session, User


@pytest.fixture
def operator(client, db):
    client.force_login(User.objects.create_superuser("operator", "op@example.com", "pw"))
    return client


def form_for(model, instance, **changes):
    request = RequestFactory().get("/")
    request.user = User(is_superuser=True, is_staff=True)
    model_admin = admin.site._registry[model]
    form_class = model_admin.get_form(request, instance)
    data = {k: ("" if v is None else v) for k, v in model_to_dict(instance, fields=form_class.base_fields).items()}
    data.update({k: json.dumps(v) if isinstance(v, list) else v for k, v in changes.items()})
    if "quiet_hours_days" not in changes:
        data["quiet_hours_days"] = json.dumps(data.get("quiet_hours_days") or [])
    return form_class(data=data, instance=instance)


def test_the_session_page_has_a_fieldset_for_them(operator, session):
    page = operator.get(f"/admin/outbound/session/{session.id}/change/").content.decode()
    assert "Daily cap, warm-up and quiet hours" in page and 'name="daily_message_cap"' in page


def test_the_account_page_has_a_fieldset_for_its_quiet_hours(operator, account):
    page = operator.get(f"/admin/core/account/{account.id}/change/").content.decode()
    assert "Quiet hours" in page and 'name="quiet_hours_start"' in page


def test_an_operator_sets_a_cap_and_quiet_hours(session):
    form = form_for(Session, session, daily_message_cap=50, quiet_hours_start="22:00", quiet_hours_end="07:00", quiet_hours_days=[6, 7], time_zone="Europe/Berlin")
    assert form.is_valid(), form.errors
    form.save()
    session.refresh_from_db()
    assert (session.daily_message_cap, session.quiet_hours_days, session.time_zone) == (50, [6, 7], "Europe/Berlin")


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"daily_message_cap": 10, "warmup_first_day_cap": 20, "warmup_days": 5, "warmup_started_at": "2026-03-01"}, "daily_message_cap"),
        ({"quiet_hours_start": "08:00", "quiet_hours_end": "08:00"}, "quiet_hours_end"),
        ({"quiet_hours_start": "08:00"}, "quiet_hours_end"),
        ({"quiet_hours_start": "22:00", "quiet_hours_end": "07:00", "quiet_hours_days": [8]}, "quiet_hours_days"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
def test_the_admin_refuses_what_the_api_refuses(session, changes, field):
    form = form_for(Session, session, **changes)
    assert not form.is_valid() and field in form.errors


def test_account_quiet_hours_are_checked_too(account):
    assert not form_for(Account, account, quiet_hours_start="09:00", quiet_hours_end="09:00").is_valid()
    form = form_for(Account, account, quiet_hours_start="21:00", quiet_hours_end="09:00", time_zone="Africa/Cairo")
    assert form.is_valid(), form.errors
    form.save()
    assert Account.objects.get(pk=account.pk).quiet_hours_end.hour == 9


def test_an_emptied_days_box_means_every_day(session):
    form = form_for(Session, session, quiet_hours_start="22:00", quiet_hours_end="07:00")
    form.data["quiet_hours_days"] = ""
    assert form.is_valid(), form.errors
    form.save()
    assert Session.objects.get(pk=session.pk).quiet_hours_days == []
