"""Failure policy: auto-pause after failed runs in a row, and retry-failed for one run."""

import httpx
import pytest

from outbound.models import Delivery, Session
from outbound.services.deliveries import delivery_attempt
from schedules.models import Schedule
from schedules.services import schedule_occurrence_fire, schedule_resume

from .conftest import make_due_now


def fire_now(schedule):
    make_due_now(schedule)
    return schedule_occurrence_fire(schedule_id=schedule.id)


def deliver_all(send):
    for delivery in send.deliveries.all():
        delivery_attempt(delivery_id=delivery.id)


def test_failed_runs_in_a_row_pause_the_schedule_with_the_reason(api, make_schedule, session, settings):
    settings.SCHEDULE_AUTO_PAUSE_AFTER_FAILED_RUNS = 3
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=10)
    Session.objects.filter(pk=session.pk).update(status="STOPPED")
    for _ in range(3):
        fire_now(schedule)
    schedule.refresh_from_db()
    assert schedule.status == "paused" and schedule.next_run_at is None
    assert schedule.consecutive_failed_runs == 3
    assert "3 failed runs in a row" in schedule.pause_reason and "session_not_working" in schedule.pause_reason
    body = api.get(f"/v2/outbound/schedules/{schedule.id}").json()
    assert body["status"] == "paused" and body["pause_reason"] == schedule.pause_reason
    assert body["runs"][-1]["error_code"] == "session_not_working"

    # An operator fixes the session and resumes: the count starts afresh.
    Session.objects.filter(pk=session.pk).update(status="WORKING")
    resumed = schedule_resume(schedule=schedule)
    assert resumed.status == "scheduled" and resumed.pause_reason == "" and resumed.consecutive_failed_runs == 0


def test_a_success_ends_the_row(make_schedule, session, gateway, settings):
    settings.SCHEDULE_AUTO_PAUSE_AFTER_FAILED_RUNS = 2
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=10)
    Session.objects.filter(pk=session.pk).update(status="STOPPED")
    fire_now(schedule)
    Session.objects.filter(pk=session.pk).update(status="WORKING")
    deliver_all(fire_now(schedule).send)
    Session.objects.filter(pk=session.pk).update(status="STOPPED")
    fire_now(schedule)
    schedule.refresh_from_db()
    assert schedule.status == "scheduled" and schedule.consecutive_failed_runs == 1
    assert schedule.failed_run_count == 2


def test_the_failure_policy_can_be_off(make_schedule, session, settings):
    settings.SCHEDULE_AUTO_PAUSE_AFTER_FAILED_RUNS = 0
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=10)
    Session.objects.filter(pk=session.pk).update(status="STOPPED")
    for _ in range(4):
        fire_now(schedule)
    assert Schedule.objects.get(pk=schedule.pk).status == "scheduled"


def test_retry_failed_resends_only_the_failed_deliveries_once(api, make_schedule, make_groups, session, gateway, queued_tasks, django_capture_on_commit_callbacks):
    groups = make_groups(3)
    schedule = make_schedule(groups=groups)
    run = fire_now(schedule)
    deliveries = list(run.send.deliveries.order_by("id"))
    # One group's delivery is refused by the gateway (permanently), the others go out.
    httpx.post(f"{gateway.base_url}/_fake/config", json={"sessions": {session.name: "MISSING"}})
    delivery_attempt(delivery_id=deliveries[0].id)
    httpx.post(f"{gateway.base_url}/_fake/config", json={"sessions": {session.name: "WORKING"}})
    for delivery in deliveries[1:]:
        delivery_attempt(delivery_id=delivery.id)
    run.refresh_from_db()
    assert run.status == "failed" and Schedule.objects.get(pk=schedule.pk).status == "completed_with_failures"
    queued_tasks()

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/v2/outbound/schedules/{schedule.id}/runs/1/retry-failed")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["retried_deliveries"] == 1 and body["status"] == "running" and body["retried_at_ms"]
    assert [args[0] for _, args, _ in queued_tasks()] == [[str(deliveries[0].id)]]
    assert Schedule.objects.get(pk=schedule.pk).status == "running"

    delivery_attempt(delivery_id=deliveries[0].id)
    run.refresh_from_db()
    assert run.status == "completed"
    schedule.refresh_from_db()
    assert (schedule.status, schedule.failed_run_count) == ("completed", 0)
    sent_to = [m["chatId"] for m in httpx.get(f"{gateway.base_url}/_fake/ledger").json()["messages"]]
    assert sorted(sent_to) == sorted(g.chat_id for g in groups)  # each group once

    again = api.post(f"/v2/outbound/schedules/{schedule.id}/runs/1/retry-failed").json()
    assert again["retried_deliveries"] == 0 and again["retried_at_ms"] == body["retried_at_ms"]


def test_a_retried_delivery_asks_the_gateway_before_resending(make_schedule, session, gateway, api):
    schedule = make_schedule()
    run = fire_now(schedule)
    delivery = run.send.deliveries.first()
    # The gateway took it but the delivery was recorded as failed (an ambiguous end).
    from outbound.transports import get_client

    get_client().send_text(session=session.name, chat_id=delivery.chat_id, text="x", message_id=delivery.gateway_message_id(0))
    Delivery.objects.filter(pk=delivery.pk).update(status="failed", error_code="gateway_timeout", unconfirmed=True)
    for other in run.send.deliveries.exclude(pk=delivery.pk):
        delivery_attempt(delivery_id=other.id)
    from outbound.services.sends import send_finish_if_done
    from outbound.models import Send

    send = Send.objects.get(pk=run.send_id)
    send_finish_if_done(send=send)
    api.post(f"/v2/outbound/schedules/{schedule.id}/runs/1/retry-failed")
    delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == "sent" and not delivery.unconfirmed
    chats = [m["chatId"] for m in httpx.get(f"{gateway.base_url}/_fake/ledger").json()["messages"]]
    assert chats.count(delivery.chat_id) == 1


@pytest.mark.parametrize("situation, code", [("no_send", "run_has_no_deliveries"), ("running", "run_in_progress"), ("all_sent", "nothing_to_retry")])
def test_retry_failed_refuses_what_it_cannot_do(api, make_schedule, session, gateway, situation, code):
    schedule = make_schedule(interval_ms=3_600_000, max_occurrences=2)
    if situation == "no_send":
        Session.objects.filter(pk=session.pk).update(status="STOPPED")
    run = fire_now(schedule)
    if situation == "all_sent":
        deliver_all(run.send)
    response = api.post(f"/v2/outbound/schedules/{schedule.id}/runs/1/retry-failed")
    assert response.status_code == 409 and response.json()["error"]["code"] == code
    assert api.post(f"/v2/outbound/schedules/{schedule.id}/runs/7/retry-failed").status_code == 404
