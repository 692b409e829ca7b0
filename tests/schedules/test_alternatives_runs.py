"""A schedule's text with {a|b} alternatives: each group's wording per occurrence, shown in the run detail."""

import httpx

from outbound.services.deliveries import delivery_attempt
from schedules.services import schedule_occurrence_fire

from .conftest import make_due_now

WORDINGS = [f"{a} team, {b}" for a in ("Hi", "Hello", "Hey") for b in ("doors open at 9", "we open at 9")]


def _wording(chosen):
    return f"{['Hi', 'Hello', 'Hey'][chosen[0]]} team, {['doors open at 9', 'we open at 9'][chosen[1]]}"


def test_the_run_detail_shows_the_wording_each_group_got(make_schedule, make_groups, gateway, api):
    groups = make_groups(20)
    schedule = make_schedule(groups=groups, text="{Hi|Hello|Hey} team, {doors open at 9|we open at 9}",
                             interval_ms=3_600_000, max_occurrences=2)
    runs = []
    for number in (1, 2):
        make_due_now(schedule)
        run = schedule_occurrence_fire(schedule_id=schedule.id)
        for delivery in run.send.deliveries.all():
            assert delivery_attempt(delivery_id=delivery.id) is None
        runs.append(api.get(f"/v2/outbound/schedules/{schedule.id}/runs/{number}").json()["deliveries"])

    sent = httpx.get(f"{gateway.base_url}/_fake/ledger").json()["messages"]
    first = {m["chatId"]: m["text"] for m in sent[:20]}
    second = {m["chatId"]: m["text"] for m in sent[20:]}
    assert set(first.values()) <= set(WORDINGS) and len(set(first.values())) > 1
    for detail, texts in ((runs[0], first), (runs[1], second)):
        assert {d["chat_id"]: _wording(d["text_alternatives"]) for d in detail} == texts
    assert first != second  # the next occurrence words it differently for some groups
