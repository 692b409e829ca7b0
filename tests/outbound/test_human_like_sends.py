"""Human-like sends: seen, typing for a time that grows with the text, then the message; typing inside the pacing."""

import random
import uuid
from datetime import timedelta

import httpx
import pytest
from django.test import override_settings

from outbound import clock as service_clock
from outbound.models import Delivery, Session
from outbound.services.deliveries import RetryAt, delivery_attempt
from outbound.services.deliveries.typing import typing_ms_draw
from outbound.services.pacing import GUARD

from .test_delivery_attempt import configure, ledger, make_send


def chat_actions(gateway, **query):
    return httpx.get(f"{gateway.base_url}/_fake/chat_actions", params=query).json()["actions"]


def human(session, *, low=2000, high=2000, per_char=0, per_minute=None):
    Session.objects.filter(pk=session.pk).update(
        human_like=True, typing_ms_min=low, typing_ms_max=high, typing_ms_per_char=per_char,
        messages_per_minute=per_minute, send_delay_max_ms=0, next_send_slot_at=None,
    )
    session.refresh_from_db()
    return session


def test_typing_time_grows_with_the_text_within_its_bounds():
    session = Session(typing_ms_min=1000, typing_ms_max=8000, typing_ms_per_char=50)
    rng = random.Random(7)
    short = [typing_ms_draw(session=session, characters=10, rng=rng) for _ in range(200)]
    long = [typing_ms_draw(session=session, characters=100, rng=rng) for _ in range(200)]
    huge = [typing_ms_draw(session=session, characters=4000, rng=rng) for _ in range(50)]
    assert all(1000 <= t <= 1800 for t in short) and len(set(short)) > 10  # (1000 + 500) +-20%, at least min
    assert all(4800 <= t <= 7200 for t in long)  # (1000 + 5000) +-20%
    assert set(huge) == {8000}  # never past max
    assert sum(long) / len(long) > 3 * sum(short) / len(short)


def test_it_types_then_sends_from_a_second_task_without_waiting(clock, gateway, session, make_groups):
    human(session)
    delivery = make_send(session, make_groups(1)).deliveries.get()
    start = service_clock.now()

    wait = delivery_attempt(delivery_id=delivery.id)
    assert isinstance(wait, RetryAt) and wait.when - start == pytest.approx(timedelta(seconds=2), abs=timedelta(milliseconds=300))
    assert [a["kind"] for a in chat_actions(gateway)] == ["seen", "typing_start"]
    assert ledger(gateway) == []  # nothing sent while it types: the task returned
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.typing_ms) == ("queued", 0, 2000)

    # The task delivered twice while it types: no second seen, no second typing.
    assert isinstance(delivery_attempt(delivery_id=delivery.id), RetryAt)
    assert len(chat_actions(gateway)) == 2

    clock.shift(2.1)
    assert delivery_attempt(delivery_id=delivery.id) is None
    actions, sent = chat_actions(gateway), ledger(gateway)
    assert [a["kind"] for a in actions] == ["seen", "typing_start", "typing_stop"]
    assert len(sent) == 1 and actions[2]["messages_before"] == 0  # typing stopped, then the message
    assert all(a["chatId"] == delivery.chat_id and a["session"] == session.name for a in actions)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.typing_ms) == ("sent", 1, 2000)

    assert delivery_attempt(delivery_id=delivery.id) is None  # and once more: nothing
    assert len(ledger(gateway)) == 1 and len(chat_actions(gateway)) == 3


def test_the_pacing_gap_covers_the_typing_time(clock, gateway, session, make_groups):
    human(session, low=3000, high=3000, per_minute=60)
    first, second = make_send(session, make_groups(2)).deliveries.order_by("id")
    start = service_clock.now()
    typed = delivery_attempt(delivery_id=first.id)  # the first slot is now: it types at once
    assert typed.when - start == pytest.approx(timedelta(seconds=3), abs=timedelta(milliseconds=300))
    waiting = delivery_attempt(delivery_id=second.id)
    # Its slot starts after the first one's typing (3 s) and the rate's gap (1 s).
    assert waiting.when - start == pytest.approx(timedelta(seconds=4) + GUARD, abs=timedelta(milliseconds=300))
    second.refresh_from_db()
    assert second.typing_ms == 3000 and second.typing_started_at is None
    assert len(chat_actions(gateway, chat_id=second.chat_id)) == 0


def test_a_retry_after_a_gateway_error_types_again(clock, gateway, session, make_groups, settings):
    settings.OUTBOUND_RETRY_BASE_SECONDS = 1
    human(session, low=1000, high=1000)
    delivery = make_send(session, make_groups(1)).deliveries.get()
    delivery_attempt(delivery_id=delivery.id)
    configure(gateway, error_rate=1.0)
    clock.shift(1.1)
    retry = delivery_attempt(delivery_id=delivery.id)  # stopTyping, then the send fails
    assert isinstance(retry, RetryAt)
    configure(gateway, error_rate=0.0)
    clock.move_to(retry.when + timedelta(milliseconds=50))
    assert isinstance(delivery_attempt(delivery_id=delivery.id), RetryAt)  # types again
    clock.shift(1.1)
    assert delivery_attempt(delivery_id=delivery.id) is None
    kinds = [a["kind"] for a in chat_actions(gateway)]
    assert kinds == ["seen", "typing_start", "typing_stop", "seen", "typing_start", "typing_stop"]
    assert len(ledger(gateway)) == 1


def test_a_session_that_stops_while_typing_holds_the_message(clock, gateway, session, make_groups):
    human(session, low=1000, high=1000)
    delivery = make_send(session, make_groups(1)).deliveries.get()
    configure(gateway, sessions={session.name: "STOPPED"})
    assert delivery_attempt(delivery_id=delivery.id) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.error_code, delivery.typing_started_at) == ("queued", "session_not_working", None)
    assert ledger(gateway) == []


def test_a_session_without_human_like_sends_at_once(gateway, session, make_groups):
    delivery = make_send(session, make_groups(1)).deliveries.get()
    assert delivery_attempt(delivery_id=delivery.id) is None
    assert chat_actions(gateway) == [] and len(ledger(gateway)) == 1
    delivery.refresh_from_db()
    assert delivery.typing_ms is None


def test_new_sessions_send_human_like_by_default(account):
    with override_settings(OUTBOUND_SESSION_HUMAN_LIKE=True):
        assert Session.objects.create(account=account, name=f"new-{uuid.uuid4().hex[:6]}").human_like is True
    with override_settings(OUTBOUND_SESSION_HUMAN_LIKE=False):
        assert Session.objects.create(account=account, name=f"new-{uuid.uuid4().hex[:6]}").human_like is False


def test_the_api_shows_and_changes_the_typing_settings(api, session):
    body = api.get(f"/v2/sessions/{session.id}").json()
    assert (body["human_like"], body["typing_ms_min"], body["typing_ms_max"], body["typing_ms_per_char"]) == (False, 1000, 8000, 40)
    changed = api.patch(
        f"/v2/sessions/{session.id}",
        {"human_like": True, "typing_ms_min": 500, "typing_ms_max": 4000, "typing_ms_per_char": 25},
        format="json",
    )
    assert changed.status_code == 200, changed.json()
    session.refresh_from_db()
    assert (session.human_like, session.typing_ms_min, session.typing_ms_max, session.typing_ms_per_char) == (True, 500, 4000, 25)


@pytest.mark.parametrize(
    ("patch", "field", "code"),
    [
        ({"typing_ms_min": 9000}, "typing_ms_min", "min_above_max"),  # above the stored max, 8000
        ({"typing_ms_min": 3000, "typing_ms_max": 2000}, "typing_ms_min", "min_above_max"),
        ({"typing_ms_max": 60_001}, "typing_ms_max", "max_value"),
        ({"typing_ms_per_char": 1001}, "typing_ms_per_char", "max_value"),
        ({"typing_ms_min": -1}, "typing_ms_min", "min_value"),
        ({"human_like": "maybe"}, "human_like", "invalid_type"),
    ],
)
def test_the_api_refuses_bad_typing_settings_naming_the_field(api, session, patch, field, code):
    response = api.patch(f"/v2/sessions/{session.id}", patch, format="json")
    assert response.status_code == 400, response.json()
    assert [e["code"] for e in response.json()["error"]["details"]["fields"][field]] == [code]
    session.refresh_from_db()
    assert (session.typing_ms_min, session.typing_ms_max, session.typing_ms_per_char) == (1000, 8000, 40)


def test_the_delivery_shows_its_typing_time(api, clock, gateway, session, make_groups):
    human(session, low=1500, high=1500)
    send = make_send(session, make_groups(1))
    delivery = send.deliveries.get()
    delivery_attempt(delivery_id=delivery.id)
    clock.shift(1.6)
    delivery_attempt(delivery_id=delivery.id)
    result = api.get(f"/v2/outbound/sends/{send.id}").json()["results"][0]
    assert (result["status"], result["typing_ms"]) == ("sent", 1500)
    assert Delivery.objects.get(pk=delivery.pk).typing_started_at is not None


@pytest.fixture
def operator(client, db):
    from outbound.models import User

    client.force_login(User.objects.create_superuser("operator", "op@example.com", "pw"))
    return client


def _admin_form(session, **changes):
    form = {
        "account": str(session.account_id), "name": session.name, "label": session.label, "role": session.role,
        "status": session.status, "phone_number": "", "messages_per_minute": "", "send_delay_min_ms": "0",
        "send_delay_max_ms": "0", "typing_ms_min": "1000", "typing_ms_max": "8000", "typing_ms_per_char": "40",
        # The daily cap, warm-up and quiet hours fieldset, left empty (off).
        "time_zone": "", "daily_message_cap": "", "warmup_first_day_cap": "", "warmup_days": "0",
        "warmup_started_at": "", "quiet_hours_start": "", "quiet_hours_end": "", "quiet_hours_days": "[]",
    }
    return {**form, **changes}


def test_operators_turn_it_on_in_the_admin(operator, session):
    url = f"/admin/outbound/session/{session.id}/change/"
    assert "Human-like sends" in operator.get(url).content.decode()
    response = operator.post(url, _admin_form(session, human_like="on", typing_ms_min="500", typing_ms_max="3000"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    session.refresh_from_db()
    assert (session.human_like, session.typing_ms_min, session.typing_ms_max) == (True, 500, 3000)


def test_the_admin_refuses_a_min_above_the_max(operator, session):
    url = f"/admin/outbound/session/{session.id}/change/"
    response = operator.post(url, _admin_form(session, human_like="on", typing_ms_min="5000", typing_ms_max="3000"))
    assert response.status_code == 200 and "errornote" in response.content.decode()
    response = operator.post(url, _admin_form(session, typing_ms_max="60001"))
    assert response.status_code == 200 and "60000" in response.content.decode()
    session.refresh_from_db()
    assert (session.human_like, session.typing_ms_min, session.typing_ms_max) == (False, 1000, 8000)


@pytest.mark.django_db(transaction=True)
def test_sessions_that_existed_before_keep_sending_as_they_did(account, settings):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    settings.OUTBOUND_SESSION_HUMAN_LIKE = True
    graph = MigrationExecutor(connection).loader.graph
    [added] = [key for key in graph.nodes if key[0] == "outbound" and key[1].endswith("_human_like_sends")]
    [before] = [parent.key for parent in graph.node_map[added].parents if parent.key[0] == "outbound"]
    executor = MigrationExecutor(connection)
    latest = [key for key in executor.loader.graph.leaf_nodes() if key[0] == "outbound"]
    executor.migrate([before])
    try:
        OldSession = executor.loader.project_state([before]).apps.get_model("outbound", "Session")
        old = OldSession.objects.create(account_id=account.pk, name="old-line", status="WORKING")
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(latest)
    assert Session.objects.get(pk=old.pk).human_like is False
    assert Session.objects.create(account=account, name="new-line").human_like is True
