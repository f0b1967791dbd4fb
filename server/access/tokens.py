"""Capability tokens for people without accounts: signed (Ed25519), expiring, revocable.

A token is ``base64url(payload) "." base64url(signature)``; the payload is compact JSON
naming the purpose (``kind``), the link row (``lid``), the role and the validity window.
The signature proves the server made it; the ``links`` row decides whether it still works
(revocation, appointment end), so a token can be withdrawn without changing any key.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from server.crypto.keys import KeyRing
from server.exceptions import TokenError
from server.i18n import N_

PREFIX = "pr1"


@dataclass(frozen=True)
class Claims:
    kind: str
    link_id: str
    role: str
    not_before: datetime
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Decode, accepting only the one spelling ``_b64`` gives: the decoder alone skips
    characters outside the alphabet, takes ``+/`` for ``-_`` and ignores the spare bits of
    the last character, so many strings would be the same token."""
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:
        raise ValueError("not the canonical encoding")
    return data


def issue(ring: KeyRing, claims: Claims) -> str:
    payload = json.dumps(
        {
            "v": PREFIX,
            "k": claims.kind,
            "lid": claims.link_id,
            "r": claims.role,
            "nbf": int(claims.not_before.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    return f"{_b64(payload)}.{_b64(ring.sign(PREFIX.encode() + b'.' + payload))}"


def verify(ring: KeyRing, token: str, kind: str, now: datetime | None = None) -> Claims:
    """Check signature, purpose and time window. Revocation is the caller's (the link row)."""
    now = now or datetime.now(UTC)
    if len(token) > 1024 or token.count(".") != 1:
        raise TokenError(N_("This link is not valid. Please ask for a new one."))
    body, signature = token.split(".")
    try:
        payload = _unb64(body)
        if not ring.verify(PREFIX.encode() + b"." + payload, _unb64(signature)):
            raise ValueError("not signed by this server")
        doc = json.loads(payload)
        claims = Claims(
            kind=str(doc["k"]),
            link_id=str(doc["lid"]),
            role=str(doc["r"]),
            not_before=datetime.fromtimestamp(int(doc["nbf"]), UTC),
            expires_at=datetime.fromtimestamp(int(doc["exp"]), UTC),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise TokenError(N_("This link is not valid. Please ask for a new one.")) from exc
    if doc.get("v") != PREFIX or claims.kind != kind:
        raise TokenError(N_("This link is for something else."))
    if now >= claims.expires_at:
        raise TokenError(N_("This link has expired. Please ask for a new one."))
    return claims
