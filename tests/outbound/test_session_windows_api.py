"""PATCH /v2/sessions/{id}: daily cap, warm-up and quiet hours through the API; a delivery's deferral in the send detail."""

from datetime import date, time

import pytest

from outbound.models import Session
from outbound.services.deliveries import delivery_attempt

from .test_delivery_attempt import make_send


def field_error(response, field):
    assert response.status_code == 400, response.json()
    return response.json()["error"]["details"]["fields"][field][0]["code"]


def test_it_sets_and_shows_a_cap_a_warm_up_and_quiet_hours(api, session):
    body = {
        "time_zone": "Africa/Cairo", "daily_message_cap": 200, "warmup_first_day_cap": 20, "warmup_days": 14,
        "quiet_hours_start": "22:00", "quiet_hours_end": "08:00", "quiet_hours_days": [5, 1],
    }
    response = api.patch(f"/v2/sessions/{session.id}", body, format="json")
    assert response.status_code == 200, response.json()
    shown = response.json()
    # Warm-up day 1 is today in Cairo when not given (the clock: 2026-03-04 11:00 there).
    assert {k: shown[k] for k in body} == {**body, "quiet_hours_days": [1, 5]}
    assert (shown["warmup_started_on"], shown["cap_today"], shown["messages_today"]) == ("2026-03-04", 20, 0)
    session.refresh_from_db()
    assert (session.warmup_started_at, session.quiet_hours_start) == (date(2026, 3, 4), time(22))
    # null removes them.
    cleared = api.patch(f"/v2/sessions/{session.id}", {"quiet_hours_start": None, "quiet_hours_end": None, "warmup_first_day_cap": None}, format="json")
    assert (cleared.json()["quiet_hours_start"], cleared.json()["cap_today"]) == (None, 200)


@pytest.mark.parametrize(
    "body, field, code",
    [
        ({"daily_message_cap": 10, "warmup_first_day_cap": 20, "warmup_days": 5}, "daily_message_cap", "below_warmup_first_day_cap"),
        ({"warmup_first_day_cap": 20, "warmup_days": 5}, "warmup_first_day_cap", "warmup_without_daily_cap"),
        ({"daily_message_cap": 100, "warmup_first_day_cap": 20}, "warmup_days", "warmup_too_short"),
        ({"quiet_hours_start": "08:00", "quiet_hours_end": "08:00"}, "quiet_hours_end", "empty_quiet_hours"),
        ({"quiet_hours_start": "22:00"}, "quiet_hours_end", "quiet_hours_incomplete"),
        ({"quiet_hours_start": "25:00", "quiet_hours_end": "08:00"}, "quiet_hours_start", "invalid"),
        ({"quiet_hours_start": 22, "quiet_hours_end": "08:00"}, "quiet_hours_start", "invalid_type"),
        ({"quiet_hours_days": [0]}, "quiet_hours_days.0", "min_value"),
        ({"quiet_hours_days": [1, 1]}, "quiet_hours_days", "duplicate_items"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "invalid_timezone"),
        ({"daily_message_cap": 0}, "daily_message_cap", "min_value"),
    ],
)
def test_a_misconfiguration_is_refused_with_the_field_named(api, session, body, field, code):
    response = api.patch(f"/v2/sessions/{session.id}", body, format="json")
    assert field_error(response, field) == code
    assert Session.objects.get(pk=session.pk).daily_message_cap is None  # nothing changed


def test_a_change_is_checked_against_what_the_session_has(api, session):
    Session.objects.filter(pk=session.pk).update(daily_message_cap=100, warmup_first_day_cap=20, warmup_days=5)
    assert field_error(api.patch(f"/v2/sessions/{session.id}", {"daily_message_cap": 10}, format="json"), "daily_message_cap") == "below_warmup_first_day_cap"


def test_a_deferred_delivery_shows_its_reason_and_time_in_the_send(api, gateway, session, make_groups):
    Session.objects.filter(pk=session.pk).update(daily_message_cap=1)
    send = make_send(session, make_groups(2))
    for delivery in send.deliveries.order_by("id"):
        delivery_attempt(delivery_id=delivery.id)
    results = api.get(f"/v2/outbound/sends/{send.id}").json()["results"]
    deferred = [r for r in results if r["status"] == "queued"]
    sent = [r for r in results if r["status"] == "sent"]
    assert len(deferred) == 1 and len(sent) == 1
    assert deferred[0]["deferred_reason"] == "daily_cap" and deferred[0]["ok"] is True
    assert deferred[0]["not_before_at_ms"] == 1772668800000  # 2026-03-05T00:00Z, the next UTC day
    assert (sent[0]["deferred_reason"], sent[0]["not_before_at_ms"]) == (None, None)


def test_raising_the_cap_lets_the_waiting_go_now(api, gateway, session, make_groups, queued_tasks, django_capture_on_commit_callbacks):
    from outbound.models import Delivery

    Session.objects.filter(pk=session.pk).update(daily_message_cap=1)
    send = make_send(session, make_groups(3))
    for delivery in send.deliveries.order_by("id"):
        delivery_attempt(delivery_id=delivery.id)
    waiting = list(send.deliveries.filter(error_code="daily_cap").values_list("id", flat=True))
    assert len(waiting) == 2
    queued_tasks()
    with django_capture_on_commit_callbacks(execute=True):
        assert api.patch(f"/v2/sessions/{session.id}", {"daily_message_cap": 10}, format="json").status_code == 200
    published = [i for name, args, _ in queued_tasks() if name == "outbound.tasks.deliveries_attempt" for i in args[0]]
    assert sorted(published) == sorted(str(i) for i in waiting)
    for delivery_id in waiting:
        delivery_attempt(delivery_id=delivery_id)
    assert set(Delivery.objects.filter(pk__in=waiting).values_list("status", flat=True)) == {"sent"}
