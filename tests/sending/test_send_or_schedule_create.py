"""sending.services.send_or_schedule_create: now or later, once per idempotency key."""

from datetime import timedelta

from django.utils import timezone

from outbound.models import Delivery, IdempotencyKey, Send
from core.time import to_ms
from schedules.models import Schedule
from sending.services import send_or_schedule_create


def _create(account, user, session, groups, *, key="key-1", schedule=None, **content):
    return send_or_schedule_create(
        account=account,
        actor_user=user,
        request_id="req-1",
        idempotency_key=key,
        fingerprint=f"fp-{key}",
        session_id=session.id,
        group_ids=[g.id for g in groups],
        text=content.get("text", "Hello groups"),
        media=content.get("media", []),
        uploads=[],
        variants=content.get("variants", []),
        skip_within_hours=content.get("skip_within_hours"),
        schedule=schedule,
    )


def test_it_sends_now_without_a_schedule(account, user, session, make_groups):
    groups = make_groups(2)
    body, duplicate = _create(account, user, session, groups)
    assert not duplicate
    send = Send.objects.get()
    assert body["send"]["send_id"] == str(send.id) and body["request_id"] == "req-1"
    assert [r["group_id"] for r in body["send"]["results"]] == [str(g.id) for g in groups]
    assert Delivery.objects.filter(send=send).count() == 2
    assert not Schedule.objects.exists()


def test_it_schedules_with_a_schedule(account, user, session, make_groups):
    first = timezone.now() + timedelta(hours=1)
    rule = {"kind": Schedule.Kind.INTERVAL, "first_run_at": first, "interval_ms": 3_600_000, "max_occurrences": 3,
            "name": "Hourly promo"}
    body, duplicate = _create(account, user, session, make_groups(1), schedule=rule)
    assert not duplicate
    schedule = Schedule.objects.get()
    assert (schedule.name, schedule.max_occurrences, schedule.text) == ("Hourly promo", 3, "Hello groups")
    assert body["schedule"] == {
        "status": "accepted",
        "schedule_id": str(schedule.id),
        "workflow_id": schedule.workflow_id,
        "next_run_at_ms": to_ms(schedule.next_run_at),
        "interval_ms": 3_600_000,
        "max_occurrences": 3,
    }
    assert not Send.objects.exists()


def test_it_remembers_the_first_answer_under_the_key(account, user, session, make_groups):
    groups = make_groups(1)
    body, _ = _create(account, user, session, groups)
    assert IdempotencyKey.objects.get(key="key-1").response == body
    assert Send.objects.count() == 1
