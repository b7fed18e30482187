"""The address policy: which URLs, hosts and IP addresses news-monitor may connect to.

A host is judged as the connection will use it: as yarl (aiohttp's URL parser) normalises it, IDNA and
Unicode digits included (`①②⑦.0.0.1` and `１２７．０．０．１` are 127.0.0.1 to it), and as the C resolver
reads legacy numbers (`2130706433`, `0x7f.1`, `0177.0.0.1`). Pure: fetch.py applies it to every
connection it opens; this module opens none.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from urllib.parse import urlsplit

import yarl

from monitor.errors import BlockedAddressError

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_V4_COMPAT = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible form, ::a.b.c.d
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
# inet_aton's parts: 0x-prefixed hex, 0-prefixed octal or decimal; getaddrinfo reads a host made only
# of these as an address without asking DNS, so the policy has to read it the same way
_HEX, _DIGITS, _OCTAL = re.compile(r"0x[0-9a-f]*", re.IGNORECASE), re.compile(r"[0-9]+"), re.compile(r"[0-7]+")


def refused_reason(ip: IP) -> str | None:
    """Why this address may not be fetched by default, or None when it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and not (ip.is_loopback or ip.is_unspecified):
        embedded = ip.ipv4_mapped or ip.sixtofour or (
            ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 or ip in _V4_COMPAT else None)
        if embedded is not None:
            inner = refused_reason(embedded)
            return f"embeds {embedded}, which {inner}" if inner else None
        if ip in _NAT64_LOCAL:
            return "is a local-use NAT64 address"
    if ip.is_loopback:
        return "is loopback"
    if ip.is_link_local:
        return "is link-local"
    if ip.is_multicast:
        return "is multicast"
    if ip.is_unspecified:
        return "is unspecified"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "is carrier-grade NAT (100.64/10)"
    if ip.is_private or not ip.is_global:
        return "is a private or reserved address"
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _GLOBAL_UNICAST:
        return "is outside global unicast (2000::/3)"  # site-local fec0::/10 and others Python calls global
    return None


def blocked_reason(ip: IP, allow_private: bool, allow_networks: Networks = ()) -> str | None:
    """Why the policy refuses this address, or None when it may be fetched."""
    if allow_private:
        return None
    reason = refused_reason(ip)
    if reason and any(ip.version == net.version and ip in net for net in allow_networks):
        return None
    return reason


# Verdicts are pure functions of (host or address, policy): kept for the hosts and addresses of a cycle, so
# 10,000 feeds on a few thousand hosts parse and classify each host once, not once per request and hop.
_VERDICTS_KEPT = 16_384


@lru_cache(maxsize=_VERDICTS_KEPT)
def address_verdict(address: str, allow_private: bool, allow_networks: Networks = ()) -> str | None:
    """blocked_reason of an address as a socket or the resolver gives it ("93.184.216.34", "::1")."""
    return blocked_reason(ipaddress.ip_address(address), allow_private, allow_networks)


@lru_cache(maxsize=_VERDICTS_KEPT)
def _host_verdict(host: str, allow_private: bool, allow_networks: Networks) -> tuple[IP | None, str | None]:
    """(the address a host names without DNS or None, why the policy refuses it or None)."""
    ip = host_address(host)
    return ip, blocked_reason(ip, allow_private, allow_networks) if ip is not None else None


def connect_host(url: str | yarl.URL) -> str:
    """The host aiohttp will resolve or connect to for this URL: yarl's normalised host (NFKC, IDNA,
    IPv6 compressed), lower-case. Raises ValueError for a host yarl cannot encode."""
    return (yarl.URL(url).raw_host or "").lower()


def host_address(host: str) -> IP | None:
    """The address a host names without DNS, or None for a name to resolve: an IP literal, a legacy
    numeric form the C resolver accepts (one to four parts, each decimal, 0-octal or 0x-hex), or a
    `localhost` name, which RFC 6761 reserves for loopback."""
    bare = host.rstrip(".")  # a trailing dot changes nothing about the address
    if bare == "localhost" or bare.endswith(".localhost") or bare == "localhost.localdomain":
        return _LOOPBACK
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        return _legacy_ipv4(bare)


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """inet_aton's reading: a, a.b (b fills 24 bits), a.b.c (c fills 16 bits) or a.b.c.d."""
    parts = host.split(".")
    numbers = [_inet_number(p) for p in parts]
    if not 1 <= len(parts) <= 4 or None in numbers:
        return None
    *head, last = numbers
    last_bits = 8 * (5 - len(parts))
    if any(n > 255 for n in head) or last >= 1 << last_bits:
        return None  # the resolver would not read it as an address either
    value = 0
    for n in head:
        value = value << 8 | n
    return ipaddress.IPv4Address(value << last_bits | last)


def _inet_number(part: str) -> int | None:
    if _HEX.fullmatch(part):
        return int(part[2:] or "0", 16)
    if not _DIGITS.fullmatch(part):
        return None
    if part[0] == "0" and len(part) > 1:
        return int(part, 8) if _OCTAL.fullmatch(part) else None
    return int(part)


def check_url(url: str, allow_private: bool, allow_networks: Networks = ()) -> yarl.URL:
    """Refuse URLs we never fetch: other schemes, user-info, backslashes, hosts that name a refused
    address however they are written. Returns the URL as aiohttp will use it, to be fetched as is."""
    if "\\" in url:
        raise BlockedAddressError("backslashes are not allowed in URLs", url=url)
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise BlockedAddressError(f"scheme {parts.scheme or '(none)'!r} is not http or https", url=url)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise BlockedAddressError("URLs with user-info are refused", url=url)
    try:
        target = yarl.URL(url)
        host = connect_host(target)
    except (ValueError, UnicodeError) as exc:
        raise BlockedAddressError(f"the host is not a valid name or address ({exc})", url=url) from None
    if not host:
        raise BlockedAddressError("URL has no host", url=url)
    ip, reason = _host_verdict(host, allow_private, allow_networks)
    if reason:
        written = (parts.hostname or host).rstrip(".")
        shown = written if _same_address(written, ip) else f"{written} means {ip}, which"
        raise BlockedAddressError(f"{shown} {reason} (set fetch.allow_private_networks to allow it)", url=url)
    return target


def _same_address(written: str, ip: IP) -> bool:
    """Whether the host as written is already this address (an IP literal), so needs no translation."""
    try:
        return ipaddress.ip_address(written) == ip
    except ValueError:
        return False
