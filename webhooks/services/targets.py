"""Where webhooks may be sent: http(s) to public addresses, unless a setting allows a private network.

A customer-supplied URL is a way into our network (SSRF): loopback, private,
link-local (cloud metadata at 169.254.169.254), reserved and multicast
addresses are refused. Checked when an endpoint is saved and again before
every send, since DNS may have changed (a check, then the connect, can still
race a DNS change: a small window, stated in docs/webhooks.md).
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from outbound.errors import OutboundError


def _refuse(message: str, code: str = "webhook_target_not_allowed") -> OutboundError:
    return OutboundError(code, message, details={"field": "url"})


def _allowed(ip) -> bool:
    networks = [ipaddress.ip_network(n, strict=False) for n in settings.WEBHOOKS_ALLOWED_PRIVATE_NETWORKS]
    if any(ip in network for network in networks):
        return True
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified)


def webhook_target_check(url: str) -> None:
    """Raise unless `url` is http(s) and every address its host resolves to may be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse("Webhook URLs must be http:// or https:// with a host.", "invalid_url")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise _refuse(f"{parts.hostname} does not resolve.", "webhook_target_unresolvable")
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if getattr(ip, "ipv4_mapped", None):
            ip = ip.ipv4_mapped
        if not _allowed(ip):
            raise _refuse(f"{parts.hostname} resolves to {ip}, a private, loopback or reserved address.")
