"""HTTP plumbing of the fake gateway: a threaded stdlib server speaking JSON.

Lean on purpose: benchmarks push hundreds of sends per second through one
core, so there is no framework, no per-request logging by default, and
connections are kept alive (HTTP/1.1 with an exact Content-Length always).
"""

import json
import signal
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .routes import Request, dispatch
from .state import GatewayState


class FakeGatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # A hung-gateway fault sleeps for tens of seconds; stopping must not wait for it.
    block_on_close = False
    # The stdlib default backlog of 5 drops connections when a pool of workers
    # connects at once, and each drop costs the client a 1 s SYN retry.
    request_queue_size = 128

    def __init__(self, address, state: GatewayState, verbose: bool = False):
        self.state = state
        self.verbose = verbose
        state.webhooks.verbose = verbose
        super().__init__(address, FakeGatewayHandler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"  # the wildcard address is not something a client can dial
        return f"http://{host}:{port}"

    def stop(self):
        # Pending acks are dropped, not flushed: a stopped gateway calls no one.
        self.state.webhooks.stop()
        self.shutdown()
        self.server_close()

    def handle_error(self, request, client_address):
        # Clients that give up (timeouts, closed pools) are routine here, not news.
        if self.verbose or not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class FakeGatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeWAHA/1.0"
    # Headers and body go out as two writes; without this, Nagle plus delayed
    # ACKs hold every keep-alive exchange for the delayed-ACK timeout.
    disable_nagle_algorithm = True
    # Idle keep-alive connections must not pin a thread forever.
    timeout = 120

    def do_GET(self):
        self.handle_request()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def handle_request(self):
        body = self.read_body()
        if body is None:
            return
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            api_key=self.headers.get("X-Api-Key"),
            body=body,
        )
        try:
            status, payload = dispatch(self.server.state, request)
        except Exception as exc:  # a bug in the fake must not look like a hung gateway
            traceback.print_exc()
            status, payload = 500, {"message": f"fake gateway crashed: {exc!r}", "statusCode": 500}
        self.send_json(status, payload)

    def read_body(self):
        length = self.headers.get("Content-Length")
        if length is None:
            if self.headers.get("Transfer-Encoding"):
                # Cannot find the end of a chunked body without parsing it; WAHA
                # clients send Content-Length, so refuse and drop the connection.
                self.close_connection = True
                self.send_json(411, {"message": "Length Required", "statusCode": 411})
                return None
            return b""
        try:
            return self.rfile.read(int(length))
        except ValueError:
            self.close_connection = True
            self.send_json(400, {"message": "bad Content-Length", "statusCode": 400})
            return None

    def send_json(self, status, payload):
        data = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        if self.server.verbose:
            super().log_message(format, *args)


def start_in_thread(host="127.0.0.1", port=0, *, verbose=False, **state_kwargs):
    """Start a fake gateway on a background thread; port 0 picks a free port.

    Returns (server, base_url); call server.stop() when done.
    """
    server = FakeGatewayServer((host, port), GatewayState(**state_kwargs), verbose=verbose)
    # A short poll keeps stop() quick in tests.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-gateway", daemon=True
    )
    thread.start()
    return server, server.base_url


def serve_forever(host="127.0.0.1", port=3000, *, verbose=False, announce=print, **state_kwargs):
    """Serve until SIGINT or SIGTERM, then stop cleanly. Main thread only (signals)."""
    stop = threading.Event()
    # shutdown() from a signal handler running inside serve_forever() would
    # deadlock, so the server runs on its own thread and the main one waits.
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    server, base_url = start_in_thread(host, port, verbose=verbose, **state_kwargs)
    try:
        announce(f"Fake WAHA gateway listening on {base_url}")
        while not stop.wait(0.5):  # a timeout keeps the wait responsive to signals
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
