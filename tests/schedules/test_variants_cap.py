"""Message variants (A/B split by percent) and the frequency cap (skip_within_hours)."""

import uuid
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from outbound.models import Delivery, Send
from outbound.services.deliveries import delivery_attempt
from outbound.variants import variant_counts, variants_assign
from schedules.services import schedule_occurrence_fire

from .conftest import make_due_now

VARIANTS = [
    {"variant_name": "Control", "text": "Flash sale this weekend! Shop now: {{link1}}", "percent_audience": 60,
     "values": {"link1": "https://shop.example/a"}},
    {"variant_name": "Urgency", "text": "Don't miss out, 20% off: {{link1}}", "percent_audience": 40,
     "values": {"link1": "https://shop.example/b"}},
]


def test_counts_follow_the_percents_exactly():
    assert variant_counts([60, 40], 100) == [60, 40]
    assert variant_counts([33.3, 33.3, 33.4], 10) == [3, 3, 4]
    assert sum(variant_counts([50, 50], 7)) == 7
    assert variant_counts([100], 3) == [3]


def test_the_split_is_deterministic_per_seed_and_varies_between_seeds():
    groups = [uuid.uuid4() for _ in range(100)]
    variants = [{"variant_name": "A", "percent_audience": 60}, {"variant_name": "B", "percent_audience": 40}]
    one = variants_assign(variants=variants, group_ids=groups, seed="s:1")
    assert one == variants_assign(variants=variants, group_ids=list(reversed(groups)), seed="s:1")
    assert Counter(one.values()) == {"A": 60, "B": 40}
    assert one != variants_assign(variants=variants, group_ids=groups, seed="s:2")


def test_each_occurrence_splits_100_groups_by_the_percents(make_schedule, make_groups, gateway, api):
    groups = make_groups(100)
    schedule = make_schedule(groups=groups, text="", variants=VARIANTS, interval_ms=3_600_000, max_occurrences=2)
    make_due_now(schedule)
    run = schedule_occurrence_fire(schedule_id=schedule.id)
    deliveries = list(run.send.deliveries.all())
    assert Counter(d.variant_name for d in deliveries) == {"Control": 60, "Urgency": 40}

    for delivery in deliveries[:10]:
        delivery_attempt(delivery_id=delivery.id)
    sent = httpx.get(f"{gateway.base_url}/_fake/ledger").json()["messages"]
    by_chat = {d.chat_id: d.variant_name for d in deliveries}
    for message in sent:
        expected = "https://shop.example/a" if by_chat[message["chatId"]] == "Control" else "https://shop.example/b"
        assert message["text"].endswith(expected)  # placeholders filled per variant
        assert "{{" not in message["text"]

    detail = api.get(f"/v2/outbound/schedules/{schedule.id}/runs/1").json()
    assert {d["group_id"]: d["variant_name"] for d in detail["deliveries"]} == {str(d.group_id): d.variant_name for d in deliveries}
    summary = api.get(f"/v2/outbound/schedules/{schedule.id}").json()["variants"]
    assert [(v["variant_name"], v["percent_audience"]) for v in summary] == [("Control", 60), ("Urgency", 40)]
    assert "text" not in summary[0]


@pytest.mark.parametrize(
    "variants, field, code",
    [
        ([{**VARIANTS[0], "percent_audience": 50}, VARIANTS[1]], "variants", "percent_sum_not_100"),
        ([VARIANTS[0], {**VARIANTS[1], "variant_name": "Control"}], "variants", "duplicate_variant_name"),
        ([{**VARIANTS[0], "values": {}}, VARIANTS[1]], "variants.0.values", "unknown_placeholder"),
        ([{"variant_name": "Empty", "percent_audience": 100}], "variants.0.text", "content_required"),
    ],
)
def test_bad_variants_are_refused(post_schedule, variants, field, code):
    response = post_schedule(text="", variants=variants)
    assert response.status_code == 400
    assert code in [e["code"] for e in response.json()["error"]["details"]["fields"][field]]


def test_variants_exclude_top_level_text(post_schedule):
    response = post_schedule(text="Hello", variants=VARIANTS)
    assert response.json()["error"]["details"]["fields"]["variants"][0]["code"] == "variants_with_content"


def test_the_frequency_cap_skips_groups_messaged_recently_with_the_reason(make_schedule, make_groups, gateway, api):
    groups = make_groups(3)
    recent, old, fresh = groups
    # Earlier messages from this account: one 2 hours ago, one 30 hours ago.
    earlier = make_schedule(groups=groups)
    make_due_now(earlier)
    earlier_run = schedule_occurrence_fire(schedule_id=earlier.id)
    for delivery in earlier_run.send.deliveries.all():
        delivery_attempt(delivery_id=delivery.id)
    Delivery.objects.filter(group=recent).update(sent_at=timezone.now() - timedelta(hours=2))
    Delivery.objects.filter(group=old).update(sent_at=timezone.now() - timedelta(hours=30))
    Delivery.objects.filter(group=fresh).update(sent_at=None, status="failed")

    schedule = make_schedule(groups=groups, skip_within_hours=24)
    make_due_now(schedule)
    run = schedule_occurrence_fire(schedule_id=schedule.id)
    statuses = {d.group_id: d for d in run.send.deliveries.all()}
    assert statuses[recent.id].status == "skipped" and statuses[recent.id].error_code == "frequency_cap"
    assert "2.0 h ago" in statuses[recent.id].error_message and "24" in statuses[recent.id].error_message
    assert statuses[old.id].status == "queued" and statuses[fresh.id].status == "queued"

    detail = api.get(f"/v2/outbound/schedules/{schedule.id}/runs/1").json()
    skipped = [d for d in detail["deliveries"] if d["status"] == "skipped"]
    assert [(d["group_id"], d["error_code"], d["ok"]) for d in skipped] == [(str(recent.id), "frequency_cap", False)]


def test_a_run_whose_groups_are_all_capped_completes_at_once(make_schedule, make_groups, gateway):
    groups = make_groups(2)
    earlier = make_schedule(groups=groups)
    make_due_now(earlier)
    for delivery in schedule_occurrence_fire(schedule_id=earlier.id).send.deliveries.all():
        delivery_attempt(delivery_id=delivery.id)

    schedule = make_schedule(groups=groups, skip_within_hours=1)
    make_due_now(schedule)
    run = schedule_occurrence_fire(schedule_id=schedule.id)
    run.refresh_from_db()
    assert run.status == "completed"
    assert Send.objects.get(pk=run.send_id).status == "completed"
    schedule.refresh_from_db()
    assert schedule.status == "completed"


def test_an_immediate_send_can_use_the_cap_and_variants(api, session, make_groups):
    groups = make_groups(10)
    body = {
        "session_id": str(session.id), "group_ids": [str(g.id) for g in groups], "idempotency_key": "ab-now",
        "variants": VARIANTS, "skip_within_hours": 12,
    }
    response = api.post("/v2/outbound/sends", body, format="json")
    assert response.status_code == 202, response.json()
    send = Send.objects.get(pk=response.json()["send"]["send_id"])
    assert Counter(send.deliveries.values_list("variant_name", flat=True)) == {"Control": 6, "Urgency": 4}
    assert send.variants[0]["text"] == "Flash sale this weekend! Shop now: https://shop.example/a"
