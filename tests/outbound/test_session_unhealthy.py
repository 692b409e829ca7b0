"""A session is judged unhealthy: not WORKING for too long, or ack ERRORs in a row while WORKING (issue 22, item 6)."""


import pytest

from core.models import Event
from outbound.models import Delivery, Session
from outbound.services.deliveries import delivery_attempt
from outbound.services.receipts import delivery_ack_record
from outbound.services.session_health import sessions_health_check
from outbound.services.sessions import session_status_set
from outbound.signals import session_unhealthy
from outbound.tasks import sessions_health_check as sessions_health_check_task

from .test_delivery_attempt import make_send


@pytest.fixture
def heard():
    """What outbound.signals.session_unhealthy said (the schedules layer listens the same way)."""
    calls = []

    def listener(sender, session, code, reason, **kwargs):
        calls.append((session.name, code, reason))

    session_unhealthy.connect(listener)
    yield calls
    session_unhealthy.disconnect(listener)


def unhealthy_events(session):
    return list(Event.objects.filter(account_id=session.account_id, type="session.unhealthy").order_by("id"))


def test_a_session_not_working_past_the_threshold_is_unhealthy_once(session, settings, clock, heard):
    settings.OUTBOUND_SESSION_UNHEALTHY_AFTER_SECONDS = 600
    session_status_set(session=session, status="SCAN_QR_CODE")
    clock.shift(599)
    assert sessions_health_check() == 0 and heard == []
    clock.shift(2)
    assert sessions_health_check_task() == 1  # the task beat runs
    session.refresh_from_db()
    assert session.unhealthy_since is not None and "SCAN_QR_CODE since" in session.unhealthy_reason
    assert [(name, code) for name, code, _ in heard] == [(session.name, "not_working")]
    [event] = unhealthy_events(session)
    assert event.data["session_id"] == str(session.id) and event.data["code"] == "not_working"
    assert event.data["status"] == "SCAN_QR_CODE"
    # Judged once: later checks neither emit nor signal again.
    clock.shift(600)
    assert sessions_health_check() == 0 and len(heard) == 1 and len(unhealthy_events(session)) == 1


def test_working_again_makes_it_healthy_and_a_later_outage_counts_afresh(session, settings, clock, heard):
    settings.OUTBOUND_SESSION_UNHEALTHY_AFTER_SECONDS = 60
    session_status_set(session=session, status="STOPPED")
    clock.shift(61)
    assert sessions_health_check() == 1
    session_status_set(session=session, status="WORKING")
    session.refresh_from_db()
    assert session.unhealthy_since is None and session.unhealthy_reason == ""
    assert sessions_health_check() == 0
    session_status_set(session=session, status="FAILED")
    clock.shift(30)
    assert sessions_health_check() == 0  # its own 60 s, from this outage
    clock.shift(31)
    assert sessions_health_check() == 1 and len(heard) == 2


def test_a_threshold_of_zero_and_a_session_never_reported_are_left_alone(session, settings, clock, account):
    never = Session.objects.create(account=account, name="never-reported", status="STOPPED")
    assert never.status_changed_at is None
    settings.OUTBOUND_SESSION_UNHEALTHY_AFTER_SECONDS = 60
    clock.shift(3600)
    assert sessions_health_check() == 0
    session_status_set(session=session, status="STOPPED")
    clock.shift(3600)
    settings.OUTBOUND_SESSION_UNHEALTHY_AFTER_SECONDS = 0
    assert sessions_health_check() == 0


def sent_deliveries(session, groups):
    deliveries = []
    for group in groups:
        delivery = make_send(session, [group]).deliveries.get()
        delivery_attempt(delivery_id=delivery.id)
        delivery.refresh_from_db()
        assert delivery.status == "sent"
        deliveries.append(delivery)
    return deliveries


def test_ack_errors_in_a_row_while_working_make_it_unhealthy(gateway, session, make_groups, settings, heard):
    settings.OUTBOUND_SESSION_UNHEALTHY_ACK_ERRORS = 3
    first, second, third, fourth = sent_deliveries(session, make_groups(4))
    assert delivery_ack_record(message_id=first.provider_message_id, ack=-1) == "updated"
    assert delivery_ack_record(message_id=second.provider_message_id, ack=-1) == "updated"
    session.refresh_from_db()
    assert session.ack_error_streak == 2 and session.unhealthy_since is None and heard == []
    assert delivery_ack_record(message_id=third.provider_message_id, ack=-1) == "updated"
    session.refresh_from_db()
    assert session.unhealthy_since is not None and session.status == "WORKING"
    assert heard == [(session.name, "ack_errors", "3 deliveries in a row failed (ack ERROR) while the session said WORKING.")]
    [event] = unhealthy_events(session)
    assert event.data["code"] == "ack_errors"
    # A receipt that changes nothing (the same ERROR again) is not counted twice.
    assert delivery_ack_record(message_id=third.provider_message_id, ack=-1) == "ignored"
    session.refresh_from_db()
    assert session.ack_error_streak == 3
    # A delivered message ends the run and the judgement.
    assert delivery_ack_record(message_id=fourth.provider_message_id, ack=2) == "updated"
    session.refresh_from_db()
    assert (session.ack_error_streak, session.unhealthy_since, session.unhealthy_reason) == (0, None, "")


def test_a_delivered_message_breaks_the_run(gateway, session, make_groups, settings, heard):
    settings.OUTBOUND_SESSION_UNHEALTHY_ACK_ERRORS = 2
    a, b, c = sent_deliveries(session, make_groups(3))
    delivery_ack_record(message_id=a.provider_message_id, ack=-1)
    delivery_ack_record(message_id=b.provider_message_id, ack=3)  # read
    delivery_ack_record(message_id=c.provider_message_id, ack=-1)
    session.refresh_from_db()
    assert session.ack_error_streak == 1 and session.unhealthy_since is None and heard == []
    assert Delivery.objects.filter(status="failed", error_code="gateway_ack_error").count() == 2

