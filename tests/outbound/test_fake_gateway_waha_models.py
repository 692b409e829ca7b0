"""The fake gateway's answers, read by a typed WAHA client.

waha-py's models are generated from WAHA's OpenAPI spec: if one refuses an
answer, a client written against the spec would refuse the fake (and the
fake would be hiding what a real WAHA sends). Every answer the project reads
is checked here: sessions (each status, the list, a missing one), sends,
message lookups and the webhooks the fake calls back with.
"""

import time
from typing import Literal

import httpx
import pytest
from waha import WahaClient as TypedWahaClient
from waha.generated import models

from outbound.fake_gateway import start_in_thread

from .test_fake_gateway_callbacks import Receiver

GROUP = "120363040000000001@g.us"
RAW_ID = "3EB0" + "0123456789ABCDEF0123"
EVERY_WAHA_STATUS = [status.value for status in models.Status]


# waha-py's generator turned each webhook's `event` (a constant string in the
# spec) into an object, so its own models refuse every real WAHA webhook; the
# rest of each model is taken as it is.
class MessageAckWebhook(models.WAHAWebhookMessageAck):
    event: Literal["message.ack"]


class SessionStatusWebhook(models.WAHAWebhookSessionStatus):
    event: Literal["session.status"]


@pytest.fixture
def fake():
    server, _ = start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def waha(fake):
    client = TypedWahaClient(fake.base_url, timeout=5)
    yield client
    client.close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


def configure(fake, **config):
    httpx.post(f"{fake.base_url}/_fake/config", json=config).raise_for_status()


def send_text(waha, **extra):
    request = models.MessageTextRequest(session="sales", chatId=GROUP, text="hello", **extra)
    return waha.chatting.send_text(request)


# -- sessions -----------------------------------------------------------------------


@pytest.mark.parametrize("status", EVERY_WAHA_STATUS)
def test_it_answers_a_complete_session_in_every_status(fake, waha, status):
    configure(fake, sessions={"sales": status})

    answer = waha.sessions.get("sales")

    info = models.SessionInfo.model_validate(answer)
    assert (info.name, info.status.value) == ("sales", status)
    assert info.timestamps.activity > 0
    # WAHA's GET adds the engine it runs; the spec's Engine names the ones there are.
    assert models.Engine(answer["engine"]["engine"])
    # An account is linked (and WAHA names it) only once WORKING.
    assert (info.me is not None) == (status == "WORKING")


def test_it_answers_a_working_session_with_the_phone_number_set_for_it(fake, waha):
    configure(fake, phones={"sales": "+201234567890"})

    info = models.SessionInfo.model_validate(waha.sessions.get("sales"))

    assert (info.me.id, info.me.pushName) == ("201234567890@c.us", "sales")


def test_it_gives_every_session_a_phone_number_of_its_own(fake, waha):
    sales = models.SessionInfo.model_validate(waha.sessions.get("sales"))
    support = models.SessionInfo.model_validate(waha.sessions.get("support"))

    assert sales.me.id.endswith("@c.us") and sales.me.id.removesuffix("@c.us").isdigit()
    assert sales.me.id != support.me.id
    assert models.SessionInfo.model_validate(waha.sessions.get("sales")).me == sales.me


def test_it_reports_a_send_as_the_sessions_last_activity(fake, waha):
    before = models.SessionInfo.model_validate(waha.sessions.get("sales")).timestamps.activity
    time.sleep(0.01)

    send_text(waha)

    after = models.SessionInfo.model_validate(waha.sessions.get("sales")).timestamps.activity
    assert after > before


def test_it_lists_complete_sessions(fake, waha):
    configure(fake, sessions={"a": "WORKING", "b": "STOPPED", "c": "SCAN_QR_CODE", "gone": "MISSING"})

    every = [models.SessionInfo.model_validate(item) for item in waha.sessions.list(params={"all": "true"})]
    running = [models.SessionInfo.model_validate(item) for item in waha.sessions.list()]

    assert [(info.name, info.status.value) for info in every] == [
        ("a", "WORKING"),
        ("b", "STOPPED"),
        ("c", "SCAN_QR_CODE"),
    ]
    # Like WAHA, STOPPED sessions are listed only when all are asked for.
    assert [info.name for info in running] == ["a", "c"]


def test_it_answers_wahas_404_for_a_missing_session(fake, waha):
    configure(fake, sessions={"gone": "MISSING"})

    with pytest.raises(httpx.HTTPStatusError) as caught:
        waha.sessions.get("gone")

    # The spec has no model for errors: this is NestJS's NotFoundException body.
    answer = caught.value.response
    assert answer.status_code == 404
    assert {key: answer.json()[key] for key in ("message", "error", "statusCode")} == {
        "message": "Session not found",
        "error": "Not Found",
        "statusCode": 404,
    }


# -- sends and lookups -----------------------------------------------------------------


def test_it_answers_a_text_send_with_wahas_message(fake, waha):
    me = waha.sessions.get("sales")["me"]

    message = models.WAMessage.model_validate(send_text(waha, id=RAW_ID))

    assert message.id == f"true_{GROUP}_{RAW_ID}"
    assert (message.from_, message.to, message.fromMe, message.body) == (me["id"], GROUP, True, "hello")
    assert message.hasMedia is False


@pytest.mark.parametrize(
    "file",
    [
        models.RemoteFile(mimetype="image/jpeg", url="https://cdn.test/a.jpg"),
        models.BinaryFile(mimetype="image/png", data="iVBORw0KGgo=", filename="a.png"),
    ],
)
def test_it_answers_an_image_send_with_wahas_message(fake, waha, file):
    request = models.MessageImageRequest(session="sales", chatId=GROUP, file=file, caption="look")

    message = models.WAMessage.model_validate(waha.chatting.send_image(request))

    assert (message.body, message.hasMedia, message.media.mimetype) == ("look", True, file.mimetype)


def test_it_answers_a_message_lookup_with_wahas_message(fake, waha):
    sent = models.WAMessage.model_validate(send_text(waha, id=RAW_ID))

    by_raw = models.WAMessage.model_validate(waha.chats.get_chat_message("sales", GROUP, RAW_ID))
    by_serialized = models.WAMessage.model_validate(waha.chats.get_chat_message("sales", GROUP, sent.id))

    assert by_raw.id == by_serialized.id == sent.id


# -- webhooks ---------------------------------------------------------------------------


def test_it_calls_back_with_wahas_message_ack_webhooks(fake, waha, receiver):
    configure(fake, webhook_url=receiver.url, ack_delay_ms=0, acks=[1, 2, 3])

    sent = models.WAMessage.model_validate(send_text(waha))

    acks = [MessageAckWebhook.model_validate(body) for body in bodies(receiver, 3)]
    assert [(ack.payload.id, ack.payload.ackName) for ack in acks] == [
        (sent.id, "SERVER"),
        (sent.id, "DEVICE"),
        (sent.id, "READ"),
    ]


def test_it_calls_back_with_wahas_session_status_webhooks(fake, waha, receiver):
    configure(fake, webhook_url=receiver.url)

    configure(fake, sessions={"sales": "SCAN_QR_CODE"})
    receiver.wait_for(1)
    configure(fake, sessions={"sales": "WORKING"})

    changes = [SessionStatusWebhook.model_validate(body) for body in bodies(receiver, 2)]
    assert [change.payload.status.value for change in changes] == ["SCAN_QR_CODE", "WORKING"]
    assert [point.status.value for point in changes[-1].payload.statuses] == ["SCAN_QR_CODE", "WORKING"]


def test_it_emits_wahas_webhooks_on_request(fake, waha, receiver):
    configure(fake, webhook_url=receiver.url, acks=[])
    send_text(waha, id=RAW_ID)

    httpx.post(f"{fake.base_url}/_fake/emit", json={"event": "message.ack", "message_id": RAW_ID, "ack": 3})
    httpx.post(f"{fake.base_url}/_fake/emit", json={"event": "session.status", "session": "sales", "status": "FAILED"})

    ack, status = bodies(receiver, 2)
    assert MessageAckWebhook.model_validate(ack).payload.ackName == "READ"
    assert SessionStatusWebhook.model_validate(status).payload.status.value == "FAILED"


def bodies(receiver, count):
    receiver.wait_for(count)
    return receiver.bodies()[:count]


# -- seen and typing (human-like sends) ----------------------------------------------------


def test_it_takes_seen_and_typing_as_wahas_models_send_them_and_records_them(fake, waha):
    """The typed client builds each body from WAHA's own request models (SendSeenRequest, ChatRequest)."""
    seen = waha.chatting.send_seen(models.SendSeenRequest(session="sales", chatId=GROUP))
    models.ReadChatMessagesResponse.model_validate(seen)  # WAHA's answer to a seen without message ids
    assert waha.chatting.start_typing(models.ChatRequest(session="sales", chatId=GROUP)) == {"result": True}
    send_text(waha)
    assert waha.chatting.stop_typing(models.ChatRequest(session="sales", chatId=GROUP)) == {"result": True}
    actions = httpx.get(f"{fake.base_url}/_fake/chat_actions").json()["actions"]
    assert [(a["kind"], a["session"], a["chatId"], a["messages_before"]) for a in actions] == [
        ("seen", "sales", GROUP, 0), ("typing_start", "sales", GROUP, 0), ("typing_stop", "sales", GROUP, 1),
    ]
    assert actions[0]["at_ms"] <= actions[1]["at_ms"] <= actions[2]["at_ms"]


@pytest.mark.parametrize("path", ["sendSeen", "startTyping", "stopTyping"])
def test_it_refuses_seen_and_typing_as_waha_does(fake, path):
    configure(fake, sessions={"sales": "STOPPED"})
    stopped = httpx.post(f"{fake.base_url}/api/{path}", json={"session": "sales", "chatId": GROUP})
    assert stopped.status_code == 422 and stopped.json()["expected"] == ["WORKING"]
    no_chat = httpx.post(f"{fake.base_url}/api/{path}", json={"session": "sales"})
    assert no_chat.status_code == 400
    assert httpx.get(f"{fake.base_url}/_fake/chat_actions").json()["count"] == 0
