"""core/http.py: an httpx client that connects only to addresses the URL rule allows, checked at connect."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from core.addresses import UrlRefused
from core.http import PublicOnlyTransport


@pytest.fixture
def server():
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            reply = json.dumps({"host": self.headers["Host"], "got": body.decode()}).encode()
            self.send_response(201)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()


def test_it_calls_an_allowed_address_with_the_url_host(settings, server, public_dns):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    public_dns["inside.example.com"] = ["127.0.0.1"]
    with httpx.Client(transport=PublicOnlyTransport()) as client:
        response = client.post(f"http://inside.example.com:{server}/x", content=b"hi")
    assert response.status_code == 201
    assert response.json() == {"host": f"inside.example.com:{server}", "got": "hi"}


def test_it_refuses_to_connect_where_the_rule_refuses(settings, server):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    with httpx.Client(transport=PublicOnlyTransport()) as client, pytest.raises(UrlRefused) as refused:
        client.post(f"http://127.0.0.1:{server}/x", content=b"hi")
    assert refused.value.code == "url_not_public"


def test_a_refused_connection_is_an_httpx_error(settings):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    with httpx.Client(transport=PublicOnlyTransport()) as client, pytest.raises(httpx.ConnectError):
        client.post("http://127.0.0.1:9/x", content=b"hi")  # discard port: nothing listens


def test_it_keeps_only_the_start_of_a_huge_reply(settings):
    """A receiver answering with an endless body must not fill the worker's memory: the rest is never read."""

    class Endless(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Length", str(1 << 40))
            self.end_headers()
            try:
                while True:
                    self.wfile.write(b"x" * 65536)
            except OSError:
                pass  # the client stopped reading and closed

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    settings.URL_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    try:
        with httpx.Client(transport=PublicOnlyTransport(max_body=100_000), timeout=5) as client:
            response = client.post(f"http://127.0.0.1:{httpd.server_address[1]}/x", content=b"hi")
        assert response.status_code == 200
        assert response.content == b"x" * 100_000
    finally:
        httpd.shutdown()
