"""Requests that come through a reverse proxy (Caddy, nginx): the address of the person
behind it, and the origins this service's pages are served from.

Only a proxy named in ``PLAYROOM_TRUSTED_PROXIES`` is believed: its ``X-Forwarded-For`` is
read from the right, and the first address that is not itself a trusted proxy is the
person's. Anyone else's header is ignored, so nobody can choose the address that their
sign-in attempts are counted against."""

from __future__ import annotations

import ipaddress
from functools import cache
from urllib.parse import urlsplit

from aiohttp import web

from server.appkeys import SETTINGS

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(request: web.Request) -> str:
    """The address of the person making the request."""
    remote = request.remote or "-"
    networks = _networks(tuple(request.app[SETTINGS].trusted_proxies))
    if not networks or not _trusted(remote, networks):
        return remote
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return remote


def own_origins(request: web.Request) -> set[str]:
    """Origins whose pages may open this service's WebSocket: the public address, and the
    address the request reached the server at."""
    origins = {f"{request.scheme}://{request.host}"}
    public = request.app[SETTINGS].public_url
    if public:
        parts = urlsplit(public)
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return origins
