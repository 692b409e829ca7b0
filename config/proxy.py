"""The client's own address behind the web tier's proxy (deploy/haproxy.cfg).

Behind HAProxy every connection gunicorn accepts comes from HAProxy, so
REMOTE_ADDR would name the proxy, and django-axes would lock out (and the
access log would show) one address for everyone. HAProxy replaces any
X-Forwarded-For a client sent with the address of the connection it
accepted, and reaches gunicorn over a unix socket that only processes of
this host can open. So exactly one hop is trusted, and only on that socket:
there the header is HAProxy's and REMOTE_ADDR becomes its value; on a TCP
connection (gunicorn serving $PORT itself, without HAProxy) the header is
whatever the client wrote and is ignored.

REMOTE_ADDR is the one place django-axes, DRF and gunicorn's access log read
the address from (request.META is the WSGI environ), so this runs first.
"""

import ipaddress
import socket

from django.conf import settings
from django.http import UnreadablePostError

FORWARDED_FOR = "HTTP_X_FORWARDED_FOR"


class ClientAddressMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if came_through_proxy(request.META):
            if address := forwarded_address(request.META.get(FORWARDED_FOR, "")):
                request.META["REMOTE_ADDR"] = address
        return self.get_response(request)


def came_through_proxy(environ) -> bool:
    """Whether gunicorn accepted this request on its unix socket, where only the proxy connects."""
    sock = environ.get("gunicorn.socket")
    return sock is not None and sock.family == socket.AF_UNIX


def forwarded_address(header: str) -> str:
    """The address the proxy appended (the last entry), if it is one; '' otherwise."""
    candidate = header.rsplit(",", 1)[-1].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return ""


class UnreadBodyDrainMiddleware:
    """Read what is left of a request body nobody read, so the answer reaches the client.

    An answer that needs no body (a 401 for a bad credential, a 404, a 405)
    leaves the body unread. gunicorn's sync worker closes the connection after
    answering, and closing a socket with unread data resets it: HAProxy, still
    forwarding the body, sees the reset and gives the client no answer at all.
    Bodies within half of HAProxy's buffer (WEB_BUFFER_SIZE; the request head
    shares it) are read to the end first: HAProxy holds them
    whole already, so this is a copy, never a wait on the client. A larger
    one (an upload streaming at the client's pace) is left, and its client
    may see the reset, as from any server that stops reading an upload.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if 0 < length <= settings.WEB_BUFFER_SIZE // 2:
            body_rest_drop(request)
        return response


def body_rest_drop(request) -> None:
    """Read what is left of the body and drop it.

    Behind HAProxy this never waits on a client: a body this small reached
    the proxy whole before the request was handed to a worker (deploy/haproxy.cfg).
    """
    try:
        while request.read(64 * 1024):
            pass
    except (OSError, UnreadablePostError):
        pass  # the client went away
