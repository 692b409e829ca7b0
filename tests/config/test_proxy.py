"""config/proxy.py: X-Forwarded-For counts only on the proxy's unix socket, and only its own (last) entry."""

import socket

import pytest
from django.test import RequestFactory

from config.proxy import ClientAddressMiddleware


def client_address(**environ) -> str:
    request = RequestFactory().get("/healthz", **environ)
    return ClientAddressMiddleware(lambda request: request.META["REMOTE_ADDR"])(request)


@pytest.fixture
def unix_socket():
    with socket.socket(socket.AF_UNIX) as sock:
        yield sock


@pytest.fixture
def tcp_socket():
    with socket.socket(socket.AF_INET) as sock:
        yield sock


def test_it_takes_the_address_the_proxy_appended_on_its_socket(unix_socket):
    environ = {"REMOTE_ADDR": "", "HTTP_X_FORWARDED_FOR": "203.0.113.9, 198.51.100.4", "gunicorn.socket": unix_socket}
    assert client_address(**environ) == "198.51.100.4"


def test_it_ignores_the_header_on_a_tcp_connection(tcp_socket):
    environ = {"REMOTE_ADDR": "192.0.2.7", "HTTP_X_FORWARDED_FOR": "203.0.113.9", "gunicorn.socket": tcp_socket}
    assert client_address(**environ) == "192.0.2.7"


def test_it_ignores_the_header_outside_gunicorn():
    assert client_address(REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="203.0.113.9") == "192.0.2.7"


def test_it_keeps_the_peer_when_the_header_is_not_an_address(unix_socket):
    environ = {"REMOTE_ADDR": "", "HTTP_X_FORWARDED_FOR": "<script>", "gunicorn.socket": unix_socket}
    assert client_address(**environ) == ""
