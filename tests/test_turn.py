"""TURN credentials in coturn's shared-secret scheme, and the ICE configuration."""

from __future__ import annotations

import base64
import hashlib
import hmac

from media.turn import ice_config, turn_credentials


def test_credentials_follow_coturns_rest_scheme() -> None:
    username, password = turn_credentials("s3cret", "abc123", ttl=3600, now=1_700_000_000)
    assert username == "1700003600:abc123"
    expected = base64.b64encode(
        hmac.new(b"s3cret", username.encode(), hashlib.sha1).digest()
    ).decode()
    assert password == expected


def test_relay_only_and_servers() -> None:
    config = ice_config("p1", ["stun:turn.example.org"], ["turn:turn.example.org"], "x", 60, True)
    assert config["iceTransportPolicy"] == "relay"
    stun, turn = config["iceServers"]
    assert stun == {"urls": ["stun:turn.example.org"]}
    assert turn["username"].endswith(":p1") and turn["credential"]
    assert ice_config("p1", [], [], None, 60, False) == {
        "iceServers": [],
        "iceTransportPolicy": "all",
    }


def _coturn_accepts(secret: str, username: str, password: str, now: float) -> bool:
    """What coturn's ``use-auth-secret`` checks: the expiry ahead, the HMAC of the name."""
    expiry, _, _ = username.partition(":")
    if not expiry.isdigit() or int(expiry) <= now:
        return False
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return hmac.compare_digest(base64.b64encode(digest).decode(), password)


def test_turn_credentials_forged_expired_or_moved_to_another_participant_fail() -> None:
    now = 1_700_000_000
    username, password = turn_credentials("s3cret", "abc123", ttl=3600, now=now)
    assert _coturn_accepts("s3cret", username, password, now)
    _, other_password = turn_credentials("s3cret", "def456", ttl=3600, now=now)
    changed = password[:-3] + ("A" if password[-3] != "A" else "B") + password[-2:]
    refused = [
        (username, turn_credentials("guess", "abc123", ttl=3600, now=now)[1], now),  # forged
        (username, changed, now),  # one character changed
        (username, password, now + 3600),  # expired
        ("1700003600:def456", password, now),  # another participant's name, this password
        (username, other_password, now),  # this name, another participant's password
        ("1800000000:abc123", password, now),  # the expiry pushed out
    ]
    for name, secret_password, at in refused:
        assert not _coturn_accepts("s3cret", name, secret_password, at), name
