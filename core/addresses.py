"""Which URLs the service may call or hand to the gateway: http(s), to globally routable addresses only.

A URL a customer gives us is a way into our network (SSRF): we POST webhooks
to it, and the gateway downloads media URLs from inside the same network.
One rule for every such URL, checked when it is accepted and again right
before it is used, because what a name resolves to can change in between:

- http or https, with a host, and nothing a second URL parser could read
  differently (userinfo, backslashes, whitespace or control characters);
- every address the host resolves to (all families) is globally routable,
  unless it lies in a network the operator allowed
  (URL_ALLOWED_PRIVATE_NETWORKS, e.g. 10.20.0.0/16 for an internal receiver).

"Globally routable" is `ipaddress`'s is_global, the IANA special-purpose
registries, and not a list of private ranges: a list misses what it does not
name (carrier-grade NAT 100.64.0.0/10, where a cloud's metadata service
answers at 100.100.100.200; 192.0.0.0/24; benchmarking 198.18.0.0/15).
An address that carries an IPv4 address inside (IPv4-mapped, 6to4, NAT64,
Teredo) is judged by that IPv4 address as well, since that is where the
packets end up.
"""

import concurrent.futures
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

# Stable codes: clients and stored failures carry them (invalid_url is older than this module).
URL_INVALID = "invalid_url"
URL_NOT_PUBLIC = "url_not_public"
URL_UNRESOLVABLE = "url_unresolvable"

# Not globally routable, though the is_global of the Python we run on says
# they are (its tables lag the IANA registries: 3.11 calls multicast and the
# local-use NAT64 prefix global).
_NOT_GLOBAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "192.0.0.0/24",  # IETF protocol assignments; some entries are anycast, none is a webhook receiver
        "224.0.0.0/4",  # multicast
        "::/96",  # IPv4-compatible (deprecated): ::127.0.0.1 is loopback by another name
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215): translates into the operator's own network
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Characters browsers, curl and the gateway's HTTP client may each read differently from urlsplit.
_AMBIGUOUS = re.compile(r"[\\\s\x00-\x1f\x7f]")


class UrlRefused(Exception):
    """A URL the rule refuses; `code` is one of URL_INVALID, URL_NOT_PUBLIC, URL_UNRESOLVABLE."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CheckedUrl:
    host: str
    port: int
    addresses: tuple[str, ...]  # what the host resolved to when checked, each allowed


def url_check(url: str) -> CheckedUrl:
    """Raise UrlRefused unless `url` may be called; else what its host resolved to.

    1. The URL's form: http(s), a host, no userinfo, nothing ambiguous.
    2. Resolve the host (getaddrinfo: IPv4 and IPv6, literals too, so
       "2130706433" and "0x7f.1" are judged as the 127.0.0.1 they are).
    3. Every address must be allowed: one private answer among public ones
       is enough for a resolver (or an attacker's DNS) to send us there.
    """
    host, port = _url_parts(url)
    return CheckedUrl(host=host, port=port, addresses=tuple(host_addresses_check(host, port)))


def host_addresses_check(host: str, port: int) -> list[str]:
    """What `host` resolves to, each address allowed; else UrlRefused. For a client that connects to what was checked."""
    addresses = _resolve(host, port)
    networks = allowed_networks()
    for address in addresses:
        if not address_allowed(ipaddress.ip_address(address), networks=networks):
            raise UrlRefused(
                URL_NOT_PUBLIC,
                f"{host} resolves to {address}, which is not a public internet address "
                "(private, loopback, link-local, shared or reserved).",
            )
    return addresses


def address_allowed(ip, *, networks=()) -> bool:
    """True when `ip` is globally routable (and so is any IPv4 address inside it), or in one of `networks`."""
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1 on the wire
    if any(ip in network for network in networks):
        return True
    if not ip.is_global or any(ip in network for network in _NOT_GLOBAL):
        return False
    return all(address_allowed(inner, networks=networks) for inner in embedded_ipv4(ip))


def embedded_ipv4(ip) -> list:
    """IPv4 addresses an IPv6 address carries and delivers to: 6to4, NAT64 (64:ff9b::/96), Teredo (server and client)."""
    if ip.version != 6:
        return []
    inner = []
    if ip.sixtofour is not None:
        inner.append(ip.sixtofour)
    if ip in _NAT64:
        inner.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.teredo is not None:
        inner.extend(ip.teredo)
    return inner


def allowed_networks() -> list:
    """The operator's exceptions (URL_ALLOWED_PRIVATE_NETWORKS), parsed; config/settings/messaging.py has checked them at start."""
    return [ipaddress.ip_network(n, strict=False) for n in settings.URL_ALLOWED_PRIVATE_NETWORKS]


def public_url_validator(value: str) -> None:
    """url_check as a validator: Django forms and DRF serializers name the field and keep the code."""
    try:
        url_check(value)
    except UrlRefused as refusal:
        raise ValidationError(refusal.message, code=refusal.code)


def _url_parts(url: str) -> tuple[str, int]:
    if not isinstance(url, str) or _AMBIGUOUS.search(url):
        raise UrlRefused(URL_INVALID, "URLs must not contain spaces, backslashes or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused(URL_INVALID, "Not a valid URL (check the host and the port).")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UrlRefused(URL_INVALID, "URLs must be http:// or https:// with a host.")
    if "@" in parts.netloc:
        # user:pass@host: a different parser may take the part before @ for the host.
        raise UrlRefused(URL_INVALID, "URLs must not carry a user name or password.")
    return parts.hostname, port or (443 if parts.scheme.lower() == "https" else 80)


# Lookups run here so a caller waits at most URL_RESOLVE_TIMEOUT_SECONDS:
# getaddrinfo has no timeout of its own, and a customer who controls a name's
# DNS server could otherwise hold a web worker for the system resolver's
# retries on every request. A lookup that overruns finishes in its thread and
# is discarded; when every thread is stuck, new lookups time out too (refused,
# never waited for).
_resolvers = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="url-resolve")


def _resolve(host: str, port: int) -> list[str]:
    lookup = _resolvers.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=settings.URL_RESOLVE_TIMEOUT_SECONDS)
    except concurrent.futures.TimeoutError:
        lookup.cancel()
        raise UrlRefused(URL_UNRESOLVABLE, f"{host} did not resolve within {settings.URL_RESOLVE_TIMEOUT_SECONDS:g} s.")
    except UnicodeError:
        raise UrlRefused(URL_INVALID, f"{host} is not a valid host name.")
    except (socket.gaierror, OSError):
        raise UrlRefused(URL_UNRESOLVABLE, f"{host} does not resolve to any address.")
    # An IPv6 scope (fe80::1%eth0) is not part of the address.
    addresses = list(dict.fromkeys(info[4][0].split("%", 1)[0] for info in infos))
    if not addresses:
        raise UrlRefused(URL_UNRESOLVABLE, f"{host} does not resolve to any address.")
    return addresses
