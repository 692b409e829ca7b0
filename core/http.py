"""An httpx transport that connects only to addresses core/addresses.py allows: the check and the connect are one.

Checking a URL and then handing it to a client leaves a window: the client
resolves the name again, and a name that answered with a public address for
the check can answer with a private one for the connect ("DNS rebinding").
Here the connect itself resolves, checks every answer and connects to one
of the answers it checked. The connection pool is keyed by the URL's host,
and TLS verifies the certificate against that host, as with any httpx client.

httpx takes any transport; the network backend is httpcore's public hook
for how connections are opened. Exceptions are mapped to httpx's so callers
catch what they would catch from httpx.HTTPTransport; a refused address
raises core.addresses.UrlRefused.
"""

import httpcore
import httpx

from .addresses import host_addresses_check


class _CheckedBackend(httpcore.NetworkBackend):
    def __init__(self):
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        address = host_addresses_check(host, port)[0]
        return self._tcp.connect_tcp(address, port, timeout=timeout, local_address=local_address, socket_options=socket_options)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("Unix sockets are not a public address.")

    def sleep(self, seconds):
        self._tcp.sleep(seconds)


# httpcore's errors and the httpx errors HTTPTransport raises for them.
_ERRORS = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


class PublicOnlyTransport(httpx.BaseTransport):
    """For httpx.Client(transport=...): requests reach only addresses the URL rule allows, checked at connect."""

    def __init__(
        self,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
        max_body: int = 64 * 1024,
    ):
        # Only the start of a reply is kept (a webhook attempt records an excerpt):
        # a receiver that answers with gigabytes must not fill a worker's memory.
        self._max_body = max_body
        # httpx.HTTPTransport's defaults; keep-alive expiry keeps a reused connection's check recent.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            network_backend=_CheckedBackend(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port, target=request.url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,  # httpx's timeouts ride here
        )
        try:
            response = self._pool.handle_request(core_request)
            try:
                content = _body_head(response, self._max_body)
            finally:
                response.close()  # a body left unread closes the connection instead of returning it to the pool
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as error:
            raise _mapped(error, request) from error
        return httpx.Response(status_code=response.status, headers=response.headers, content=content, request=request)

    def close(self) -> None:
        self._pool.close()


def _body_head(response: httpcore.Response, limit: int) -> bytes:
    """At most `limit` bytes of the body; the rest is never read."""
    chunks, size = [], 0
    for chunk in response.iter_stream():
        chunks.append(chunk[: limit - size])
        size += len(chunks[-1])
        if size >= limit:
            break
    return b"".join(chunks)


def _mapped(error: Exception, request: httpx.Request) -> httpx.TransportError:
    for core_type, httpx_type in _ERRORS:
        if isinstance(error, core_type):
            return httpx_type(str(error), request=request)
    return httpx.TransportError(str(error), request=request)
