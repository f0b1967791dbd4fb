"""ICE servers for browsers: STUN, and TURN with short-lived credentials made with coturn's
shared-secret scheme (``use-auth-secret``): the username is ``expiry:id`` and the password
is base64(HMAC-SHA1(secret, username)), so coturn checks them without a database."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from pydantic import SecretStr


def turn_credentials(
    secret: str, participant_id: str, ttl: int, now: float | None = None
) -> tuple[str, str]:
    expiry = int((now if now is not None else time.time()) + ttl)
    username = f"{expiry}:{participant_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def relays(turn_urls: list[str], turn_secret: SecretStr | str | None) -> bool:
    """Whether browsers are given a TURN server to relay through (``ice_config``): a
    relay-only session's media connects through nothing else."""
    secret = turn_secret.get_secret_value() if isinstance(turn_secret, SecretStr) else turn_secret
    return bool(turn_urls and secret)


def ice_config(
    participant_id: str,
    stun_urls: list[str],
    turn_urls: list[str],
    turn_secret: str | None,
    ttl: int,
    relay_only: bool,
) -> dict[str, Any]:
    """The ``RTCConfiguration`` a browser should use: ``iceServers`` and the transport
    policy (``relay`` keeps the young person's address from the other side)."""
    servers: list[dict[str, Any]] = []
    if stun_urls:
        servers.append({"urls": list(stun_urls)})
    if turn_urls and turn_secret:  # as ``relays`` says
        username, credential = turn_credentials(turn_secret, participant_id, ttl)
        servers.append({"urls": list(turn_urls), "username": username, "credential": credential})
    return {"iceServers": servers, "iceTransportPolicy": "relay" if relay_only else "all"}
