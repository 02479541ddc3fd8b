"""Who a request comes from: the socket's peer, or the client a trusted proxy names.

Pure code over an ASGI scope. `X-Forwarded-For` and `Forwarded` (RFC 7239)
are read only when the peer is a configured proxy (`ASGI_MMO_TRUSTED_PROXIES`):
from the right, every hop that is a trusted proxy is skipped, and the first
one that is not is the client (what comes left of it the client may have
written itself). IPv6 clients are counted per /64, what one host usually gets,
so a host cannot take a fresh address for every request.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: a peer the scope does not name (a test transport, a unix socket)
UNKNOWN = "unknown"
IPV6_PREFIX = 64


def trusted_networks(proxies: Iterable[str]) -> tuple[Network, ...]:
    """`ASGI_MMO_TRUSTED_PROXIES` as networks (settings.py has checked each)."""
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def client_address(scope: Mapping[str, Any], trusted: tuple[Network, ...]) -> str:
    """The key a client's shares are counted under: an IPv4 address, an IPv6 /64, or a
    proxy's own word for it (`unknown`, an obfuscated name) when that is all it gives."""
    client = scope.get("client")
    peer = str(client[0]) if client else UNKNOWN
    if trusted and _is_trusted(_parse(peer), trusted):
        hops = _forwarded_hops(scope.get("headers") or ())
        for hop in reversed(hops):
            address = _parse(hop)
            if not _is_trusted(address, trusted):
                return _key(address, hop)
        if hops:  # every hop is a proxy of ours: the leftmost is as near the client as they tell
            return _key(_parse(hops[0]), hops[0])
    return _key(_parse(peer), peer)


def _forwarded_hops(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """The hops the proxies listed, nearest the client first: `Forwarded`'s `for=` if the
    request has that header, else `X-Forwarded-For`."""
    forwarded: list[str] = []
    x_forwarded: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"forwarded":
            for element in value.decode("latin-1").split(","):
                for pair in element.split(";"):
                    key, _, found = pair.strip().partition("=")
                    if key.strip().lower() == "for":
                        forwarded.append(found.strip())
        elif lowered == b"x-forwarded-for":
            x_forwarded.extend(part.strip() for part in value.decode("latin-1").split(","))
    return [hop for hop in (forwarded or x_forwarded) if hop]


def _parse(hop: str) -> Address | None:
    """An address out of `1.2.3.4`, `1.2.3.4:80`, `"[2001:db8::1]:4711"` or `2001:db8::1`; None otherwise."""
    text = hop.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: Address | None, trusted: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in trusted)


def _key(address: Address | None, raw: str) -> str:
    if address is None:
        return raw.strip().strip('"')[:64] or UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)
