"""core/addresses.py: the one rule for every URL the service calls or hands to the gateway."""

import ipaddress
import socket
import threading
import time

import pytest

from core.addresses import URL_INVALID, URL_NOT_PUBLIC, URL_UNRESOLVABLE, UrlRefused, address_allowed, url_check

NOT_PUBLIC = [
    "0.0.0.0", "0.1.2.3",  # 0.0.0.0/8
    "10.0.0.1", "10.255.255.255",  # 10/8
    "100.64.0.1", "100.100.100.200", "100.127.255.254",  # shared address space; a cloud's metadata address
    "127.0.0.1", "127.8.9.10",  # loopback
    "169.254.0.1", "169.254.169.254",  # link-local; the usual metadata address
    "172.16.0.1", "172.31.255.254",  # 172.16/12
    "192.0.0.1", "192.0.0.9", "192.0.0.170",  # IETF protocol assignments, the whole /24
    "192.0.2.1",  # TEST-NET-1
    "192.168.0.1", "192.168.255.254",  # 192.168/16
    "198.18.0.1", "198.19.255.254",  # benchmarking
    "198.51.100.1", "203.0.113.1",  # TEST-NET-2, -3
    "224.0.0.1", "239.255.255.250",  # multicast
    "240.0.0.1", "255.255.255.254",  # reserved
    "255.255.255.255",  # broadcast
    "::", "::1",  # unspecified, loopback
    "::127.0.0.1", "::8.8.8.8",  # IPv4-compatible (deprecated)
    "fc00::1", "fd12:3456::1",  # unique local
    "fe80::1", "fe80::1%eth0",  # link-local
    "fec0::1",  # site-local (deprecated)
    "ff02::1", "ff0e::1",  # multicast
    "2001:db8::1",  # documentation
    "100::1",  # discard-only
    "::ffff:10.0.0.1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:100.100.100.200",  # IPv4-mapped
    "2002:a00:1::", "2002:7f00:1::1", "2002:a9fe:a9fe::",  # 6to4 of 10.0.0.1, 127.0.0.1, 169.254.169.254
    "64:ff9b::a00:1", "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::6464:64c8",  # NAT64 of private ones
    "64:ff9b:1::1", "64:ff9b:1::808:808",  # local-use NAT64
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
]

PUBLIC = [
    "8.8.8.8", "1.1.1.1", "93.184.215.14", "100.63.255.255", "100.128.0.1", "172.32.0.1", "192.0.1.1",
    "2606:4700::1111", "2001:4860:4860::8888",
    "::ffff:8.8.8.8",  # IPv4-mapped public: it is 8.8.8.8
    "2002:808:808::1",  # 6to4 of 8.8.8.8
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_it_refuses_every_address_that_is_not_globally_routable(address):
    assert not address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", PUBLIC)
def test_it_allows_public_addresses(address):
    assert address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_a_url_with_a_non_public_literal_is_refused(settings, address):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(UrlRefused) as refused:
        url_check(f"http://{host}:8080/x")
    assert refused.value.code in (URL_NOT_PUBLIC, URL_INVALID)  # a scoped IPv6 literal is not even a URL host


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "017700000001", "127.1"])
def test_other_spellings_of_loopback_are_judged_as_what_they_resolve_to(settings, host):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    with pytest.raises(UrlRefused) as refused:
        url_check(f"http://{host}/x")
    assert refused.value.code == URL_NOT_PUBLIC


def test_localhost_is_refused(settings):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    with pytest.raises(UrlRefused) as refused:
        url_check("http://localhost:8000/a.png")
    assert refused.value.code == URL_NOT_PUBLIC and "127.0.0.1" in refused.value.message


def test_a_public_name_is_allowed(settings, public_dns):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    checked = url_check("https://cdn.example.com/a.png")
    assert checked.host == "cdn.example.com" and checked.port == 443
    assert checked.addresses == tuple(public_dns["cdn.example.com"])


def test_a_name_with_one_private_address_among_public_ones_is_refused(settings, public_dns):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    public_dns["mixed.example.com"] = ["93.184.215.14", "2606:4700::1111", "10.0.0.7"]
    with pytest.raises(UrlRefused) as refused:
        url_check("https://mixed.example.com/hook")
    assert refused.value.code == URL_NOT_PUBLIC and "10.0.0.7" in refused.value.message


def test_a_name_whose_ipv6_answer_is_private_is_refused(settings, public_dns):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = []
    public_dns["v6.example.com"] = ["93.184.215.14", "64:ff9b::a9fe:a9fe"]
    with pytest.raises(UrlRefused) as refused:
        url_check("https://v6.example.com/hook")
    assert refused.value.code == URL_NOT_PUBLIC


def test_a_name_that_does_not_resolve_has_its_own_code(settings):
    with pytest.raises(UrlRefused) as refused:
        url_check("https://no-such-host.invalid/a.png")
    assert refused.value.code == URL_UNRESOLVABLE


@pytest.mark.parametrize(
    "url",
    [
        "ftp://cdn.example.com/a.png",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
        "http:///no-host",
        "https://user:pass@cdn.example.com/a.png",
        "https://cdn.example.com@127.0.0.1/a.png",
        "https://cdn.example.com\\@127.0.0.1/a.png",
        "https://cdn.example.com /a.png",
        "https://cdn.example.com/a.png\n",
        "https://cdn.example.com:99999/a.png",
        "https://cdn.example.com:port/a.png",
    ],
)
def test_a_url_of_another_scheme_or_a_misleading_form_is_invalid(settings, public_dns, url):
    with pytest.raises(UrlRefused) as refused:
        url_check(url)
    assert refused.value.code == URL_INVALID


def test_an_allowed_network_lets_its_addresses_through(settings, public_dns):
    settings.URL_ALLOWED_PRIVATE_NETWORKS = ["10.20.0.0/16", "fd00::/8"]
    public_dns["internal.example.com"] = ["10.20.3.4", "fd00::4"]
    assert url_check("http://internal.example.com/hook").addresses == ("10.20.3.4", "fd00::4")
    assert url_check("http://[::ffff:10.20.3.4]/hook")  # the same address, IPv4-mapped
    with pytest.raises(UrlRefused):
        url_check("http://10.21.0.1/hook")  # the next network is not allowed
    with pytest.raises(UrlRefused):
        url_check("http://169.254.169.254/latest/meta-data")


def test_a_name_whose_lookup_hangs_is_refused_within_the_timeout(settings, monkeypatch):
    """A customer's slow DNS server must not hold a web worker for the resolver's own retries."""
    settings.URL_RESOLVE_TIMEOUT_SECONDS = 0.2
    release = threading.Event()

    def hanging_getaddrinfo(*args, **kwargs):
        release.wait(10)
        raise socket.gaierror("gave up")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_getaddrinfo)
    started = time.monotonic()
    try:
        with pytest.raises(UrlRefused) as refused:
            url_check("https://slow.example.com/hook")
        waited = time.monotonic() - started
    finally:
        release.set()
    assert refused.value.code == "url_unresolvable"
    assert waited < 5  # the lookup itself would have taken 10 s
