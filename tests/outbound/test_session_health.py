"""Sessions that are not WORKING hold their deliveries; WORKING again releases them."""

from datetime import timedelta

import httpx
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from outbound.models import Delivery, Session
from outbound.services.deliveries import delivery_attempt
from outbound.services.queueing import deliveries_sweep
from outbound.services.sessions import session_status_refresh, session_status_set, sessions_refresh

from .test_delivery_attempt import configure, ledger, make_send


def test_a_gateway_422_holds_the_delivery_and_records_the_session_status(gateway, session, make_groups):
    configure(gateway, sessions={session.name: "SCAN_QR_CODE"})
    delivery = make_send(session, make_groups(1)).deliveries.get()
    assert delivery_attempt(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    # Held: still queued, no attempt used, not failed, waiting until it expires at the latest.
    assert (delivery.status, delivery.attempts, delivery.error_code) == ("queued", 0, "session_not_working")
    assert delivery.next_attempt_at == delivery.expires_at
    session.refresh_from_db()
    assert session.status == "SCAN_QR_CODE" and session.status_changed_at is not None
    assert ledger(gateway) == []


def test_a_session_known_not_working_holds_without_calling_the_gateway(gateway, session, make_groups):
    send = make_send(session, make_groups(2))
    Session.objects.filter(pk=session.pk).update(status="STOPPED")
    for delivery in send.deliveries.all():
        delivery_attempt(delivery_id=delivery.id)
    assert set(send.deliveries.values_list("status", "attempts", "error_code")) == {("queued", 0, "session_not_working")}
    assert ledger(gateway) == []


def test_working_again_releases_held_deliveries(gateway, session, make_groups, queued_tasks, django_capture_on_commit_callbacks):
    configure(gateway, sessions={session.name: "STOPPED"})
    send = make_send(session, make_groups(3))
    for delivery in send.deliveries.all():
        delivery_attempt(delivery_id=delivery.id)
    assert Session.objects.get(pk=session.pk).status == "STOPPED"
    queued_tasks()  # empty the queue view

    configure(gateway, sessions={session.name: "WORKING"})
    with django_capture_on_commit_callbacks(execute=True):
        assert sessions_refresh() == 1  # the periodic status check sees it WORKING
    released = sorted(i for _, args, _ in queued_tasks() for i in args[0])
    assert released == sorted(str(d.pk) for d in send.deliveries.all())
    for delivery in send.deliveries.all():
        delivery_attempt(delivery_id=delivery.id)
    assert set(send.deliveries.values_list("status", "attempts")) == {("sent", 1)}
    assert len(ledger(gateway)) == 3


def test_a_held_delivery_expires_when_its_time_is_up(gateway, session, make_groups, queued_tasks):
    delivery = make_send(session, make_groups(1)).deliveries.get()
    Session.objects.filter(pk=session.pk).update(status="STOPPED")
    delivery_attempt(delivery_id=delivery.id)
    past = timezone.now() - timedelta(minutes=10)
    Delivery.objects.filter(pk=delivery.pk).update(expires_at=past, next_attempt_at=past, enqueued_at=past)
    assert deliveries_sweep(stale_seconds=60) == 1  # the sweeper finds it at its expiry
    delivery_attempt(delivery_id=delivery.id)
    delivery.refresh_from_db()
    assert delivery.status == "expired"


def test_a_refresh_with_the_gateway_down_changes_nothing(session, settings):
    settings.WAHA_BASE_URL = "http://127.0.0.1:9"  # nothing listens there
    assert sessions_refresh() == 0
    assert Session.objects.get(pk=session.pk).status == "WORKING"


def test_status_and_its_change_time_are_in_the_api(api, session):
    session_status_set(session=session, status="FAILED")
    item = api.get(f"/v2/sessions/{session.id}").json()
    assert item["status"] == "FAILED" and isinstance(item["status_changed_at_ms"], int)


def test_the_gateway_status_endpoint_is_what_refresh_reads(gateway, session):
    httpx.post(f"{gateway.base_url}/_fake/config", json={"sessions": {session.name: "STARTING"}})
    from outbound.services.sessions import session_status_refresh

    assert session_status_refresh(session=session) == "STARTING"


def test_it_records_the_number_the_session_sends_from(gateway, session):
    configure(gateway, sessions={session.name: "WORKING"}, phones={session.name: "201234567890"})

    assert session_status_refresh(session=session) == "WORKING"

    assert Session.objects.get(pk=session.pk).phone_number == "+201234567890"


def test_it_does_not_write_an_unchanged_number_again(gateway, session):
    configure(gateway, sessions={session.name: "WORKING"}, phones={session.name: "201234567890"})
    session_status_refresh(session=session)
    session = Session.objects.get(pk=session.pk)
    updated_at = session.updated_at

    with CaptureQueriesContext(connection) as queries:
        session_status_refresh(session=session)

    assert not [q["sql"] for q in queries.captured_queries if "phone_number" in q["sql"]]
    assert Session.objects.get(pk=session.pk).updated_at == updated_at


def test_it_records_the_new_number_of_a_relinked_session(gateway, session):
    configure(gateway, sessions={session.name: "WORKING"}, phones={session.name: "201234567890"})
    session_status_refresh(session=session)

    configure(gateway, phones={session.name: "+201000000002"})
    session_status_refresh(session=session)

    assert Session.objects.get(pk=session.pk).phone_number == "+201000000002"


def test_it_keeps_the_number_while_the_gateway_names_none(gateway, session):
    Session.objects.filter(pk=session.pk).update(phone_number="+201234567890")
    session.refresh_from_db()
    configure(gateway, sessions={session.name: "SCAN_QR_CODE"})

    assert session_status_refresh(session=session) == "SCAN_QR_CODE"

    session.refresh_from_db()
    assert (session.status, session.phone_number) == ("SCAN_QR_CODE", "+201234567890")


def test_it_records_every_sending_sessions_number_on_the_periodic_refresh(gateway, session):
    configure(gateway, phones={session.name: "201234567890"})  # unconfigured status: WORKING

    assert sessions_refresh() == 0  # the status did not change; the number is recorded anyway

    assert Session.objects.get(pk=session.pk).phone_number == "+201234567890"


def test_a_hold_read_before_a_release_is_not_left_behind_a_working_session(gateway, session, make_groups):
    # A worker loaded its batch while the session was STOPPED; before it got to
    # this delivery, the session came back and its held deliveries were released
    # (this one was being attempted, so it was not among them). Holding it now
    # would leave it stuck until it expires: it is retried at once instead.
    from outbound.services.deliveries import attempt, claiming, retries

    delivery = make_send(session, make_groups(1)).deliveries.get()
    Session.objects.filter(pk=session.pk).update(status="STOPPED")
    claimed = claiming.deliveries_claim([delivery.id], timezone.now())
    stale, taken_over = claimed[delivery.id]
    assert stale.send.session.status == "STOPPED"
    session.status = "STOPPED"
    session_status_set(session=session, status="WORKING")
    retry = attempt.attempt_claimed(stale, taken_over)
    assert isinstance(retry, retries.RetryAt)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.error_code) == ("queued", 0, "")
