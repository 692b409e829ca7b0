"""Per-group variation: {a|b} alternatives chosen per (occurrence, group), the same on every retry, within the limits."""

import uuid

import httpx

from outbound.alternatives import text_longest_length, text_vary, variation_seed
from outbound.limits import MAX_TEXT
from outbound.models import Delivery, Send
from outbound.services.deliveries import delivery_attempt
from outbound.services.events import delivery_content, delivery_event_data
from outbound.variants import text_render


def ledger(gateway):
    return httpx.get(f"{gateway.base_url}/_fake/ledger").json()["messages"]


def seeds(n):
    return [f"occurrence:{uuid.uuid4()}" for _ in range(n)]


def test_it_picks_one_alternative_per_group_and_keeps_the_rest_of_the_text():
    texts = {text_vary("{Hi|Hello|Hey} team, {see you|bye}!", seed=seed)[0] for seed in seeds(200)}
    assert texts == {f"{a} team, {b}!" for a in ("Hi", "Hello", "Hey") for b in ("see you", "bye")}


def test_the_same_seed_always_gets_the_same_text_and_says_which():
    seed = variation_seed(send_id=uuid.uuid4(), schedule_id=None, occurrence_number=None, group_id=uuid.uuid4())
    first = text_vary("{Hi|Hello|Hey} {a|b}", seed=seed)
    assert all(text_vary("{Hi|Hello|Hey} {a|b}", seed=seed) == first for _ in range(20))
    text, chosen = first
    assert text == f"{['Hi', 'Hello', 'Hey'][chosen[0]]} {['a', 'b'][chosen[1]]}"


def test_a_schedule_occurrence_is_the_seed_not_its_send():
    """A replay or a re-fired occurrence makes a new send: the group still gets the same text."""
    schedule, group = uuid.uuid4(), uuid.uuid4()
    texts = {
        text_vary("{1|2|3|4|5|6|7|8|9}", seed=variation_seed(send_id=uuid.uuid4(), schedule_id=schedule, occurrence_number=7, group_id=group))[0]
        for _ in range(10)
    }
    assert len(texts) == 1
    others = {
        text_vary("{1|2|3|4|5|6|7|8|9}", seed=variation_seed(send_id=None, schedule_id=schedule, occurrence_number=n, group_id=group))[0]
        for n in range(1, 40)
    }
    assert len(others) > 1  # the next occurrences vary for the same group


def test_braces_without_a_bar_and_double_braces_are_literal():
    for text in ["{note}", "{{not a placeholder}}", "{{a|b}}", "a | b", "{|", "x}"]:
        assert text_vary(text, seed="s") == (text, [])


def test_escapes_make_braces_and_bars_literal():
    assert text_vary(r"\{Hi|Hello\} and {x\|y|x\|y}", seed="s") == ("{Hi|Hello} and x|y", [text_vary("{a|b}", seed="s")[1][0]])
    assert text_vary(r"C:\path \n", seed="s") == (r"C:\path \n", [])


def test_a_placeholder_value_stays_literal_even_with_braces():
    rendered = text_render("{Hi|Hello} {{name}}", {"name": "{Ann|Bob}"})
    texts = {text_vary(rendered, seed=seed)[0] for seed in seeds(50)}
    assert texts == {"Hi {Ann|Bob}", "Hello {Ann|Bob}"}


def test_a_placeholder_may_sit_inside_an_alternative():
    rendered = text_render("{Hi {{name}}|Hello}!", {"name": "Ann"})
    assert {text_vary(rendered, seed=seed)[0] for seed in seeds(50)} == {"Hi Ann!", "Hello!"}


def test_the_longest_length_counts_the_longest_alternative_with_its_placeholders():
    template, values = r"{Hi {{name}}|Hello}, \{x\} {a|bcd}", {"name": "Annabelle{|}"}
    rendered = text_render(template, values)
    longest = max(len(text_vary(rendered, seed=seed)[0]) for seed in seeds(200))
    assert text_longest_length(template, values) == longest == len("Hi Annabelle{|}, {x} bcd")


def _variant(text, values=None):
    return {"variant_name": "A", "text": text, "values": values or {}, "percent_audience": 100}


def test_a_variant_whose_longest_alternatives_pass_the_limit_is_refused(api, send_base):
    fits = _variant("{" + "a" * 4000 + "|b} {{x}}", {"x": "c" * (MAX_TEXT - 4001)})
    over = _variant("{" + "a" * 4000 + "|b} {{x}}", {"x": "c" * (MAX_TEXT - 4000)})
    assert api.post("/v2/outbound/sends", send_base(variants=[fits]), format="json").status_code == 202
    response = api.post("/v2/outbound/sends", send_base(variants=[over]), format="json")
    assert response.status_code == 400
    fields = response.json()["error"]["details"]["fields"]
    assert [e["code"] for e in fields["variants.0.text"]] == ["text_too_long"]
    assert Send.objects.count() == 1


def test_each_group_gets_its_own_text_the_same_on_every_look(api, session, make_groups, gateway):
    groups = make_groups(12)
    body = {
        "session_id": str(session.id),
        "group_ids": [str(g.id) for g in groups],
        "idempotency_key": f"key-{uuid.uuid4()}",
        "text": "{Hi|Hello|Hey} team",
    }
    response = api.post("/v2/outbound/sends", body, format="json")
    assert response.status_code == 202, response.json()
    send = Send.objects.get()
    for delivery in send.deliveries.all():
        assert delivery_attempt(delivery_id=delivery.id) is None
    sent = {entry["chatId"]: entry["text"] for entry in ledger(gateway)}
    assert len(sent) == 12 and set(sent.values()) <= {"Hi team", "Hello team", "Hey team"}
    assert len(set(sent.values())) > 1  # twelve groups do not all draw the same of three
    detail = api.get(f"/v2/outbound/sends/{send.id}").json()
    for result in detail["results"]:
        delivery = Delivery.objects.select_related("send__session").get(pk=result["recipient_send_id"])
        text = ["Hi team", "Hello team", "Hey team"][result["text_alternatives"][0]]
        # What the gateway got, the run detail, the webhook and a later attempt all agree.
        assert sent[result["chat_id"]] == text == delivery_content(delivery.send, delivery)[0]
        assert result["text_length"] == len(text)
        data = delivery_event_data(delivery, delivery.send)
        assert (data["content"], data["text_alternatives"]) == (text, result["text_alternatives"])
