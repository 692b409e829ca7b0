"""The fake WAHA gateway, spoken to over real HTTP on loopback."""

import base64
import hashlib

import httpx
import pytest

from outbound.fake_gateway import start_in_thread

GROUP = "120363040000000001@g.us"
OTHER_GROUP = "120363040000000002@g.us"


@pytest.fixture
def fake_http():
    server, base_url = start_in_thread()
    with httpx.Client(base_url=base_url, timeout=5) as http:
        yield http
    server.stop()


def send_text(http, text="hello", chat_id=GROUP, session="sales", **extra):
    return http.post("/api/sendText", json={"session": session, "chatId": chat_id, "text": text, **extra})


def ledger(http, **params):
    return http.get("/_fake/ledger", params=params).json()


def configure(http, **config):
    response = http.post("/_fake/config", json=config)
    assert response.status_code == 200, response.text
    return response.json()


def test_it_records_an_accepted_send_in_the_ledger(fake_http):
    response = send_text(fake_http, "hello")

    assert response.status_code == 201
    reply = response.json()
    entry = ledger(fake_http)["messages"][0]
    assert entry["seq"] == 1
    assert entry["session"] == "sales"
    assert entry["chatId"] == GROUP
    assert entry["type"] == "text"
    assert entry["text"] == "hello"
    assert entry["file"] is None
    assert entry["id"].startswith("3EB0") and len(entry["id"]) == 24
    assert reply["id"] == entry["serialized"] == f"true_{GROUP}_{entry['id']}"
    # WEBJS's raw message, with its object id, rides along as WAHA's `_data`.
    assert reply["_data"]["id"] == {
        "fromMe": True,
        "remote": GROUP,
        "id": entry["id"],
        "_serialized": entry["serialized"],
    }
    assert reply["body"] == "hello" and reply["to"] == GROUP and reply["fromMe"] is True
    assert reply["from"] == entry["from"] and entry["from"].endswith("@c.us")


def test_it_shows_a_reused_id_as_two_entries(fake_http):
    send_text(fake_http, "first", id="3EB0AAAAAAAAAAAAAAAAAAAA")
    send_text(fake_http, "again", id="3EB0AAAAAAAAAAAAAAAAAAAA")

    body = ledger(fake_http)
    assert body["count"] == 2
    assert [m["id"] for m in body["messages"]] == ["3EB0AAAAAAAAAAAAAAAAAAAA"] * 2
    assert [m["seq"] for m in body["messages"]] == [1, 2]


def test_it_filters_the_ledger(fake_http):
    send_text(fake_http, "a", chat_id=GROUP, session="sales")
    send_text(fake_http, "b", chat_id=OTHER_GROUP, session="sales")
    send_text(fake_http, "c", chat_id=GROUP, session="support")

    assert [m["text"] for m in ledger(fake_http, chat_id=GROUP)["messages"]] == ["a", "c"]
    assert [m["text"] for m in ledger(fake_http, session="sales")["messages"]] == ["a", "b"]
    assert [m["text"] for m in ledger(fake_http, since_seq=1)["messages"]] == ["b", "c"]


def test_it_finds_a_message_by_raw_and_by_serialized_id(fake_http):
    send_text(fake_http, "findable", id="3EB0BBBBBBBBBBBBBBBBBBBB")
    serialized = f"true_{GROUP}_3EB0BBBBBBBBBBBBBBBBBBBB"

    by_raw = fake_http.get(f"/api/sales/chats/{GROUP}/messages/3EB0BBBBBBBBBBBBBBBBBBBB")
    by_serialized = fake_http.get(f"/api/sales/chats/{GROUP}/messages/{serialized}")

    assert by_raw.status_code == 200 and by_serialized.status_code == 200
    assert by_raw.json()["id"] == serialized
    assert by_serialized.json()["body"] == "findable"


def test_it_answers_404_for_a_message_it_does_not_have(fake_http):
    send_text(fake_http, "elsewhere", id="3EB0CCCCCCCCCCCCCCCCCCCC")

    assert fake_http.get(f"/api/sales/chats/{GROUP}/messages/3EB0DDDDDDDDDDDDDDDDDDDD").status_code == 404
    # Same id, other chat or other session: not this message.
    assert fake_http.get(f"/api/sales/chats/{OTHER_GROUP}/messages/3EB0CCCCCCCCCCCCCCCCCCCC").status_code == 404
    assert fake_http.get(f"/api/support/chats/{GROUP}/messages/3EB0CCCCCCCCCCCCCCCCCCCC").status_code == 404


def test_it_refuses_a_send_on_a_stopped_session_with_wahas_422(fake_http):
    configure(fake_http, sessions={"sales": "STOPPED"})

    response = send_text(fake_http)

    assert response.status_code == 422
    assert response.json() == {
        "error": "Session status is not as expected. Try again later or restart the session",
        "session": "sales",
        "status": "STOPPED",
        "expected": ["WORKING"],
    }
    assert ledger(fake_http)["count"] == 0


def test_it_reports_session_status_and_treats_unknown_sessions_as_working(fake_http):
    configure(fake_http, sessions={"sales": "SCAN_QR_CODE"})

    assert fake_http.get("/api/sessions/sales").json()["status"] == "SCAN_QR_CODE"
    fresh = fake_http.get("/api/sessions/never-configured").json()
    assert fresh["name"] == "never-configured" and fresh["status"] == "WORKING"


def test_it_answers_404_for_a_missing_session(fake_http):
    configure(fake_http, sessions={"gone": "MISSING"})

    assert fake_http.get("/api/sessions/gone").status_code == 404
    assert fake_http.get("/api/sessions/gone").json()["message"] == "Session not found"
    assert send_text(fake_http, session="gone").status_code == 404
    assert ledger(fake_http)["count"] == 0


def test_it_requires_the_api_key_when_one_is_set(fake_http):
    configure(fake_http, api_key="s3cret")

    missing = send_text(fake_http)
    wrong = fake_http.get("/api/sessions/sales", headers={"X-Api-Key": "nope"})
    right = fake_http.get("/api/sessions/sales", headers={"X-Api-Key": "s3cret"})

    assert missing.status_code == 401
    assert missing.json() == {"message": "Unauthorized", "statusCode": 401}
    assert wrong.status_code == 401
    assert right.status_code == 200
    # Control endpoints stay open.
    assert fake_http.get("/_fake/health").json() == {"ok": True}


def test_it_fails_every_send_without_recording_at_error_rate_one(fake_http):
    configure(fake_http, error_rate=1.0)

    responses = [send_text(fake_http, f"m{i}") for i in range(3)]

    assert [r.status_code for r in responses] == [500, 500, 500]
    assert ledger(fake_http)["count"] == 0


def test_it_records_then_fails_in_the_accept_then_fail_case(fake_http):
    configure(fake_http, accept_then_fail_rate=1.0)

    response = send_text(fake_http, "ambiguous", id="3EB0EEEEEEEEEEEEEEEEEEEE")

    assert response.status_code == 500
    assert [m["id"] for m in ledger(fake_http)["messages"]] == ["3EB0EEEEEEEEEEEEEEEEEEEE"]
    found = fake_http.get(f"/api/sales/chats/{GROUP}/messages/3EB0EEEEEEEEEEEEEEEEEEEE")
    assert found.status_code == 200


def test_it_hangs_then_answers_504_without_recording_at_timeout_rate_one(fake_http):
    configure(fake_http, timeout_rate=1.0, hang_ms=50)

    assert send_text(fake_http).status_code == 504
    assert ledger(fake_http)["count"] == 0


def test_it_records_an_image_by_url_or_by_data_digest(fake_http):
    data = b"\x89PNG fake bytes"
    fake_http.post(
        "/api/sendImage",
        json={"session": "sales", "chatId": GROUP, "file": {"mimetype": "image/jpeg", "url": "https://x.test/a.jpg"}},
    )
    fake_http.post(
        "/api/sendImage",
        json={
            "session": "sales",
            "chatId": GROUP,
            "caption": "look",
            "file": {"mimetype": "image/png", "data": base64.b64encode(data).decode(), "filename": "a.png"},
        },
    )

    by_url, by_data = ledger(fake_http)["messages"]
    assert by_url["type"] == "image" and by_url["text"] is None
    assert by_url["file"] == {"mimetype": "image/jpeg", "url": "https://x.test/a.jpg", "filename": None}
    assert by_data["text"] == "look"
    assert by_data["file"] == {
        "mimetype": "image/png",
        "data_sha256": hashlib.sha256(data).hexdigest(),
        "filename": "a.png",
    }


def test_it_resets_ledger_sessions_and_faults(fake_http):
    send_text(fake_http, "before")
    configure(fake_http, error_rate=0.5, latency_ms=3, sessions={"sales": "STOPPED"}, api_key="kept")

    config = fake_http.post("/_fake/reset").json()

    assert config["error_rate"] == 0.0 and config["latency_ms"] == 0
    assert config["sessions"] == {}
    assert config["api_key"] == "kept"
    assert ledger(fake_http) == {"count": 0, "messages": []}
    assert fake_http.post("/_fake/reset", json={"api_key": None}).json()["api_key"] is None
    assert send_text(fake_http, "after").status_code == 201
    assert ledger(fake_http)["messages"][0]["seq"] == 1


def test_it_resets_to_the_faults_it_was_started_with():
    server, base_url = start_in_thread(error_rate=1.0)
    try:
        with httpx.Client(base_url=base_url) as http:
            configure(http, error_rate=0.0)
            assert http.post("/_fake/reset").json()["error_rate"] == 1.0
    finally:
        server.stop()


def test_it_round_trips_its_config(fake_http):
    sent = {
        "error_rate": 0.25,
        "accept_then_fail_rate": 0.1,
        "latency_ms": 5,
        "timeout_rate": 0.05,
        "hang_ms": 1000,
        "seed": 42,
        "api_key": "k",
        "sessions": {"sales": "STOPPED"},
        "phones": {"sales": "201234567890"},
        # Port 9 (discard) refuses at once, so the session.status webhook this
        # config triggers fails fast in the background.
        "webhook_url": "http://127.0.0.1:9/hooks",
        "webhook_hmac_key": "hk",
        "ack_delay_ms": 10,
        "acks": [3, 2],
    }
    configure(fake_http, **sent)
    configure(fake_http, sessions={"support": "FAILED"}, phones={"support": "+201000000001"})  # merged, not replaced

    config = fake_http.get("/_fake/config").json()

    assert config == {
        **sent,
        "sessions": {"sales": "STOPPED", "support": "FAILED"},
        "phones": {"sales": "201234567890", "support": "201000000001"},
    }


def test_it_rejects_a_bad_config(fake_http):
    response = fake_http.post("/_fake/config", json={"error_rate": 2})

    assert response.status_code == 400
    assert fake_http.post("/_fake/config", json={"nonsense": 1}).status_code == 400
    # WAHA has no such status, so the fake would answer what no WAHA client accepts.
    assert fake_http.post("/_fake/config", json={"sessions": {"sales": "ASLEEP"}}).status_code == 400
    assert fake_http.post("/_fake/config", json={"phones": {"sales": "call me"}}).status_code == 400


def test_it_rejects_a_chat_id_without_an_at_sign(fake_http):
    response = send_text(fake_http, chat_id="120363040000000001")

    assert response.status_code == 400
    assert response.json()["message"] == "chatId must end with @g.us or @c.us"
    assert ledger(fake_http)["count"] == 0


def test_it_repeats_generated_ids_with_a_seed():
    def ids_for_seed():
        server, base_url = start_in_thread(seed=7)
        try:
            with httpx.Client(base_url=base_url) as http:
                return [send_text(http).json()["id"] for _ in range(3)]
        finally:
            server.stop()

    assert ids_for_seed() == ids_for_seed()
