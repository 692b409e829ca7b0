"""No admin page offers what cannot work: every Add page saves a valid form, or there is no Add at all.

Goes through every model registered with the admin (ours, django-celery-beat's
as the project customises it, auth's, axes') as a superuser with Django's test client.
"""

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from outbound.models import User

# Rows only the service writes (through the API, a fire, the outbox, the
# dispatcher, the login guard): an Add page for them could not make a valid one.
NOT_ADDABLE = {
    "outbound.send", "outbound.delivery", "core.event", "schedules.schedule", "schedules.run",
    "webhooks.webhookendpoint", "webhooks.webhookmessage",
    "axes.accessattempt", "axes.accesslog", "axes.accessfailurelog",
}


def addable_forms(account, session):
    """A valid Add form for each model an operator may add."""
    from django_celery_beat.models import IntervalSchedule

    account_pk, session_pk = getattr(account, "pk", None), getattr(session, "pk", None)
    interval_pk = IntervalSchedule.objects.get_or_create(every=1, period="hours")[0].pk if account else None
    return {
        "auth.group": {"name": "Support"},
        "core.account": {"name": "Beta"},
        "outbound.user": {
            "username": "op2", "password1": "a-long-Pass-phrase-17", "password2": "a-long-Pass-phrase-17",
            "usable_password": "true", "account": account_pk,
        },
        "core.apitoken": {"account": account_pk, "name": "crm", "scopes": ["read"]},
        "core.apisecret": {"account": account_pk, "name": "crm", "scopes": ["read"]},
        "outbound.session": {
            "account": account_pk, "name": "support-line", "label": "Support", "role": "sending", "status": "STOPPED",
            "messages_per_minute": 20, "send_delay_min_ms": 0, "send_delay_max_ms": 1000,
            "human_like": "on", "typing_ms_min": 1000, "typing_ms_max": 8000, "typing_ms_per_char": 40,
            "warmup_days": 0,  # shown filled in with its default on the page
        },
        "outbound.group": {"account": account_pk, "chat_id": "120363111111111111@g.us", "name": "Resellers", "sessions": [session_pk]},
        "django_celery_beat.intervalschedule": {"every": 10, "period": "minutes"},
        "django_celery_beat.crontabschedule": {
            "minute": "0", "hour": "4", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*", "timezone": "UTC",
        },
        "django_celery_beat.solarschedule": {"event": "sunrise", "latitude": "30.04", "longitude": "31.23"},
        "django_celery_beat.clockedschedule": {"clocked_time_0": "2026-03-05", "clocked_time_1": "10:00:00"},
        "django_celery_beat.periodictask": {
            "name": "nightly sweep", "regtask": "outbound.deliveries_sweep", "task": "", "enabled": "on",
            "interval": interval_pk, "crontab": "", "solar": "", "clocked": "", "args": "[]", "kwargs": "{}",
            "expire_seconds": "", "queue": "", "exchange": "", "routing_key": "", "headers": "{}", "priority": "",
            "description": "", "start_time_0": "", "start_time_1": "", "last_run_at_0": "", "last_run_at_1": "",
        },
    }


def registered():
    return [m for m in apps.get_models() if admin.site.is_registered(m)]


def label(model) -> str:
    return model._meta.label_lower


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def operator(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def management_forms(page) -> dict:
    """The inline formsets' management forms, empty: an Add page's inlines add nothing."""
    data = {}
    for inline in page.context.get("inline_admin_formsets") or []:
        prefix = inline.formset.prefix
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    return data


def test_every_registered_model_is_either_addable_or_offers_no_add(db):
    known = set(NOT_ADDABLE) | set(addable_forms(None, None))
    assert {label(m) for m in registered()} <= known, "a newly registered model: decide whether operators may add it"


@pytest.mark.parametrize("name", sorted(NOT_ADDABLE))
def test_rows_the_service_writes_have_no_add_page_and_no_add_link(operator, name):
    model = apps.get_model(name)
    assert operator.get(url(model, "add")).status_code == 403
    changelist = operator.get(url(model, "changelist"))
    assert changelist.status_code == 200
    assert url(model, "add") not in changelist.content.decode()


@pytest.mark.parametrize("name", sorted(addable_forms(None, None)))
def test_each_add_page_saves_a_valid_form(operator, account, session, name, settings):
    model = apps.get_model(name)
    form = addable_forms(account, session)[name]
    page = operator.get(url(model, "add"))
    assert page.status_code == 200
    before = model.objects.count()
    response = operator.post(url(model, "add"), {**management_forms(page), **form})
    form = response.context and response.context.get("adminform")
    assert response.status_code == 302, form.form.errors if form else response.status_code
    assert model.objects.count() == before + 1


def test_a_hand_made_task_of_the_schedule_fire_task_is_refused(operator):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from schedules.registration import FIRE_TASK

    model = PeriodicTask
    form = addable_forms(None, None)[label(model)]
    interval = IntervalSchedule.objects.create(every=1, period="hours")
    response = operator.post(url(model, "add"), {**form, "regtask": "", "task": FIRE_TASK, "interval": interval.pk})
    assert response.status_code == 200 and "would never run" in response.content.decode()
    assert not PeriodicTask.objects.filter(task=FIRE_TASK).exists()


def test_an_endpoint_edited_in_the_admin_is_checked_and_saved_as_the_api_would(operator, account, settings):
    from webhooks.models import WebhookEndpoint
    from webhooks.services.endpoints import endpoint_create

    endpoint = endpoint_create(account=account, url="http://127.0.0.1:9/hooks", events=["*"])
    form = {"url": "http://169.254.169.254/latest", "description": "", "events": '["*"]', "enabled": "on"}
    refused = operator.post(url(WebhookEndpoint, "change", endpoint.pk), form)
    assert refused.status_code == 200 and WebhookEndpoint.objects.get(pk=endpoint.pk).url == "http://127.0.0.1:9/hooks"
    saved = operator.post(url(WebhookEndpoint, "change", endpoint.pk), {**form, "url": "http://127.0.0.1:9/other"})
    assert saved.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "http://127.0.0.1:9/other" and endpoint.secret
