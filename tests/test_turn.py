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
