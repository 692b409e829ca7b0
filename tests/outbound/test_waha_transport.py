"""WahaClient against the fake gateway (and, for other engines' shapes, a tiny stub), over real HTTP."""

import base64
import json
import os
import pickle
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from outbound.fake_gateway import start_in_thread
from outbound.transports import SentMessage, SessionInfo, TransportError, WahaClient, get_client

GROUP = "120363040000000001@g.us"
MESSAGE_ID = "3EB0" + "0123456789ABCDEF0123"


@pytest.fixture
def fake():
    server, base_url = start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def client(fake):
    client = WahaClient(fake.base_url, timeout=5)
    yield client
    client.close()


def ledger(fake):
    return fake.state.ledger()


@pytest.fixture
def stub():
    """A gateway that answers every request with one canned reply and remembers the bodies."""
    servers = []

    def start(status, payload):
        received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.reply()

            def do_GET(self):
                self.reply()

            def reply(self):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return WahaClient(f"http://127.0.0.1:{server.server_port}", timeout=5), received

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def error_from(call):
    with pytest.raises(TransportError) as caught:
        call()
    return caught.value


# -- sending ----------------------------------------------------------------------


def test_it_sends_text_and_reads_the_serialized_id(client, fake):
    sent = client.send_text(session="sales", chat_id=GROUP, text="hello")

    entry = ledger(fake)[0]
    assert isinstance(sent, SentMessage)
    assert sent.message_id == f"true_{GROUP}_{entry['id']}"
    assert sent.raw["body"] == "hello"
    assert (entry["session"], entry["chatId"], entry["text"]) == ("sales", GROUP, "hello")


def test_it_passes_the_message_id_through_to_the_gateway(client, fake):
    sent = client.send_text(session="sales", chat_id=GROUP, text="hello", message_id=MESSAGE_ID)

    assert ledger(fake)[0]["id"] == MESSAGE_ID
    assert sent.message_id == f"true_{GROUP}_{MESSAGE_ID}"


def test_it_puts_id_in_the_body_only_when_given(stub):
    client, received = stub(201, {"id": "true_x@g.us_1"})

    client.send_text(session="s", chat_id=GROUP, text="a")
    client.send_text(session="s", chat_id=GROUP, text="b", message_id=MESSAGE_ID)

    assert "id" not in received[0]
    assert received[1] == {"session": "s", "chatId": GROUP, "text": "b", "id": MESSAGE_ID}


def test_it_reads_the_provider_id_from_the_string_form(stub):
    client, _ = stub(201, {"id": f"true_{GROUP}_{MESSAGE_ID}", "timestamp": 1})

    sent = client.send_text(session="s", chat_id=GROUP, text="hi")

    assert sent.message_id == f"true_{GROUP}_{MESSAGE_ID}"


def test_it_reads_the_serialized_id_from_webjs_object_form(stub):
    # WEBJS answers a send with its raw message, whose id is an object.
    serialized = f"true_{GROUP}_{MESSAGE_ID}"
    client, _ = stub(201, {"id": {"fromMe": True, "remote": GROUP, "id": MESSAGE_ID, "_serialized": serialized}})

    assert client.send_text(session="s", chat_id=GROUP, text="hi").message_id == serialized


def test_it_reads_the_provider_id_from_an_object_without_serialized(stub):
    client, _ = stub(200, {"id": {"fromMe": True, "remote": GROUP, "id": MESSAGE_ID}})

    assert client.send_text(session="s", chat_id=GROUP, text="hi").message_id == MESSAGE_ID


def test_it_reads_the_provider_id_from_a_noweb_key(stub):
    client, _ = stub(201, {"key": {"remoteJid": GROUP, "fromMe": True, "id": MESSAGE_ID}})

    assert client.send_text(session="s", chat_id=GROUP, text="hi").message_id == f"true_{GROUP}_{MESSAGE_ID}"


def test_it_falls_back_to_its_own_id_when_the_reply_has_none(stub):
    client, _ = stub(201, {"sent": True})

    assert client.send_text(session="s", chat_id=GROUP, text="hi", message_id=MESSAGE_ID).message_id == MESSAGE_ID
    error = error_from(lambda: client.send_text(session="s", chat_id=GROUP, text="hi"))
    assert (error.code, error.permanent) == ("gateway_error", False)


def test_it_sends_an_image_by_url(client, fake):
    file = {"mimetype": "image/jpeg", "url": "https://cdn.test/a.jpg"}

    sent = client.send_image(session="sales", chat_id=GROUP, file=file, caption="look", message_id=MESSAGE_ID)

    entry = ledger(fake)[0]
    assert sent.message_id == f"true_{GROUP}_{MESSAGE_ID}"
    assert (entry["type"], entry["text"]) == ("image", "look")
    assert entry["file"]["url"] == "https://cdn.test/a.jpg"


def test_it_sends_an_image_as_base64_data(client, fake):
    data = base64.b64encode(b"\xff\xd8 jpeg bytes").decode()
    file = {"mimetype": "image/jpeg", "data": data, "filename": "a.jpg"}

    client.send_image(session="sales", chat_id=GROUP, file=file)

    entry = ledger(fake)[0]
    assert entry["text"] is None
    assert entry["file"]["filename"] == "a.jpg" and "data_sha256" in entry["file"]


# -- looking up --------------------------------------------------------------------------


def test_it_finds_a_sent_message_by_raw_or_serialized_id(client):
    sent = client.send_text(session="sales", chat_id=GROUP, text="hello", message_id=MESSAGE_ID)

    by_raw = client.get_message(session="sales", chat_id=GROUP, message_id=MESSAGE_ID)
    by_provider_id = client.get_message(session="sales", chat_id=GROUP, message_id=sent.message_id)

    assert by_raw["body"] == "hello"
    assert by_provider_id["id"] == sent.message_id


def test_it_returns_none_for_a_message_the_gateway_lacks(client):
    assert client.get_message(session="sales", chat_id=GROUP, message_id=MESSAGE_ID) is None


def test_it_raises_on_a_lookup_the_gateway_fails(stub):
    client, _ = stub(500, {"statusCode": 500, "exception": {"message": "boom"}})

    error = error_from(lambda: client.get_message(session="s", chat_id=GROUP, message_id=MESSAGE_ID))

    assert (error.code, error.permanent, error.status_code, error.message) == ("gateway_error", False, 500, "boom")


def test_it_reads_a_session_status(client, fake):
    fake.state.configure({"sessions": {"sales": "SCAN_QR_CODE"}})

    assert client.get_session_status(session="sales") == "SCAN_QR_CODE"
    assert client.get_session_status(session="unconfigured") == "WORKING"


def test_it_reads_a_working_sessions_phone_number_from_me(client, fake):
    fake.state.configure({"sessions": {"sales": "WORKING"}, "phones": {"sales": "201234567890"}})

    assert client.get_session(session="sales") == SessionInfo(status="WORKING", phone_number="+201234567890")


def test_it_reads_no_phone_number_before_an_account_is_linked(client, fake):
    fake.state.configure({"sessions": {"sales": "SCAN_QR_CODE"}, "phones": {"sales": "201234567890"}})

    assert client.get_session(session="sales") == SessionInfo(status="SCAN_QR_CODE", phone_number=None)


@pytest.mark.parametrize(
    ("me", "phone_number"),
    [
        ({"id": "201234567890@c.us", "pushName": "Sales"}, "+201234567890"),
        # NOWEB in older WAHA releases: the JID with a device number.
        ({"id": "201234567890:17@s.whatsapp.net", "pushName": "Sales"}, "+201234567890"),
        # A LID names an account, not a phone.
        ({"id": "123456789012345@lid", "pushName": "Sales"}, None),
        ({"pushName": "Sales"}, None),
        ("201234567890@c.us", None),
        (None, None),
    ],
)
def test_it_reads_only_a_phone_number_jid_as_the_phone_number(stub, me, phone_number):
    client, _ = stub(200, {"name": "s", "status": "WORKING", "me": me})

    assert client.get_session(session="s") == SessionInfo(status="WORKING", phone_number=phone_number)


def test_it_maps_a_missing_session_status_to_session_not_found(client, fake):
    fake.state.configure({"sessions": {"gone": "MISSING"}})

    error = error_from(lambda: client.get_session_status(session="gone"))

    assert (error.code, error.permanent, error.status_code) == ("session_not_found", True, 404)


# -- error mapping -------------------------------------------------------------------------


def test_it_maps_422_to_session_not_working_with_wahas_reason(client, fake):
    fake.state.configure({"sessions": {"sales": "STOPPED"}})

    error = error_from(lambda: client.send_text(session="sales", chat_id=GROUP, text="x"))

    assert (error.code, error.permanent, error.status_code) == ("session_not_working", True, 422)
    assert "Session status is not as expected" in error.message
    assert "STOPPED" in error.message


def test_it_maps_a_422_about_something_else_to_gateway_rejected(stub):
    plus_only = "The feature is available only in Plus version for 'WEBJS' engine"
    client, _ = stub(422, {"statusCode": 422, "message": plus_only})

    error = error_from(lambda: client.send_text(session="s", chat_id=GROUP, text="x"))

    assert (error.code, error.permanent, error.message) == ("gateway_rejected", True, plus_only)


def test_it_maps_404_on_send_to_session_not_found(client, fake):
    fake.state.configure({"sessions": {"gone": "MISSING"}})

    error = error_from(lambda: client.send_text(session="gone", chat_id=GROUP, text="x"))

    assert (error.code, error.permanent, error.status_code) == ("session_not_found", True, 404)


def test_it_maps_401_to_gateway_unauthorized(fake):
    fake.state.configure({"api_key": "right"})
    wrong = WahaClient(fake.base_url, api_key="wrong")
    right = WahaClient(fake.base_url, api_key="right")

    error = error_from(lambda: wrong.send_text(session="sales", chat_id=GROUP, text="x"))

    assert (error.code, error.permanent, error.status_code) == ("gateway_unauthorized", True, 401)
    assert error.message == "Unauthorized"
    assert right.send_text(session="sales", chat_id=GROUP, text="x").message_id
    wrong.close()
    right.close()


def test_it_maps_403_to_gateway_unauthorized(stub):
    client, _ = stub(403, {"message": "Forbidden", "statusCode": 403})

    error = error_from(lambda: client.get_session_status(session="s"))

    assert (error.code, error.permanent) == ("gateway_unauthorized", True)


def test_it_maps_other_4xx_to_gateway_rejected(client):
    error = error_from(lambda: client.send_text(session="sales", chat_id="120363040000000001", text="x"))

    assert (error.code, error.permanent, error.status_code) == ("gateway_rejected", True, 400)
    assert error.message == "chatId must end with @g.us or @c.us"


def test_it_maps_5xx_to_a_transient_gateway_error(client, fake):
    fake.state.configure({"error_rate": 1.0})

    error = error_from(lambda: client.send_text(session="sales", chat_id=GROUP, text="x"))

    assert (error.code, error.permanent, error.status_code) == ("gateway_error", False, 500)
    assert ledger(fake) == []


def test_it_maps_a_slow_gateway_to_a_transient_timeout(fake):
    fake.state.configure({"latency_ms": 500})
    impatient = WahaClient(fake.base_url, timeout=0.05)

    error = error_from(lambda: impatient.send_text(session="sales", chat_id=GROUP, text="x"))

    assert (error.code, error.permanent, error.status_code) == ("gateway_timeout", False, None)
    impatient.close()


def test_it_maps_a_refused_connection_to_a_transient_unreachable(fake):
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = WahaClient(f"http://127.0.0.1:{port}", timeout=2)

    error = error_from(lambda: client.send_text(session="sales", chat_id=GROUP, text="x"))

    assert (error.code, error.permanent, error.status_code) == ("gateway_unreachable", False, None)
    client.close()


def test_it_keeps_transport_errors_picklable_for_celery():
    error = TransportError("gateway_error", "boom", False, 502)

    copy = pickle.loads(pickle.dumps(error))

    assert (copy.code, copy.message, copy.permanent, copy.status_code) == ("gateway_error", "boom", False, 502)


# -- one client per process ----------------------------------------------------------------


def test_it_reuses_one_client_per_process_until_settings_change(settings, fake):
    settings.WAHA_BASE_URL, settings.WAHA_API_KEY, settings.WAHA_TIMEOUT_SECONDS = fake.base_url, "", 5.0

    first = get_client()

    assert get_client() is first
    assert get_client().get_session_status(session="sales") == "WORKING"
    settings.WAHA_TIMEOUT_SECONDS = 6.0
    assert get_client() is not first


def test_it_builds_a_fresh_client_after_a_fork(settings, fake):
    settings.WAHA_BASE_URL = fake.base_url
    parent_client = get_client()
    read_end, write_end = os.pipe()

    pid = os.fork()
    if pid == 0:  # child: report and leave without running pytest's teardown
        try:
            child_client = get_client()
            ok = child_client is not parent_client and child_client is get_client()
            os.write(write_end, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 1)
    os.waitpid(pid, 0)
    os.close(read_end)

    assert answer == b"1"
