"""TURN credentials in coturn's shared-secret scheme, the ICE configuration, and a
relay-only room: it opens only with a TURN server to relay through."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac

from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from media.turn import ice_config, turn_credentials
from server.app import create_app
from server.appkeys import DATABASE
from server.settings import Settings
from server.storage.models import Appointment
from tests.client import ProtocolPeer
from tests.conftest import Staff, csrf_from, make_staff, sign_in
from tests.factories import join_message, ready_client, therapist_view
from tests.scenes import join_token, schedule_session

NO_RELAY = (
    "This session is set to relay all media through a TURN server, and none is configured. "
    "Ask your administrator, or schedule it without relay-only."
)


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


async def _relay_only_session(app: web.Application, client: TestClient, staff: Staff) -> dict:  # type: ignore[type-arg]
    csrf = await sign_in(client, staff)
    kid = await ready_client(app, await therapist_view(app, staff.username))
    return await schedule_session(client, csrf, kid.id, relay_only=True)


async def test_a_relay_only_room_without_turn_refuses_to_open_and_says_why(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    """No TURN server configured: a relay-only room would never connect, so it does not
    open, on the socket or the API, and the session page says why (no camera starts)."""
    made = await _relay_only_session(app, client, therapist)
    peer = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await peer.send({"type": "open_room", "session": made["id"], "id": "open"})
    refused = await peer.expect("error", id="open")
    assert (refused["code"], refused["message"]) == ("no_relay", NO_RELAY)
    await peer.close()

    page = await client.get(f"/sessions/{made['id']}")
    html = await page.text()
    assert NO_RELAY in html and "The room cannot open" in html
    assert "Go to the room" not in html
    room = await client.get(f"/sessions/{made['id']}/room", allow_redirects=False)
    assert room.status == 303 and room.headers["Location"] == f"/sessions/{made['id']}"
    csrf = csrf_from(html)
    api = await client.post(f"/api/sessions/{made['id']}/open", headers={"X-CSRF-Token": csrf})
    assert api.status == 409
    assert (await api.json())["error"]["code"] == "no_relay"
    async with app[DATABASE].read() as db:
        assert (await db.get(Appointment, made["id"])).status == "scheduled"  # type: ignore[union-attr]


async def test_a_relay_only_room_with_turn_opens_and_relays_the_young_person(
    aiohttp_client, settings: Settings
) -> None:  # type: ignore[no-untyped-def]
    turned = settings.model_copy(
        update={"turn_urls": ["turn:127.0.0.1:3478"], "turn_secret": SecretStr("s3cret")}
    )
    app = create_app(turned)
    client = await aiohttp_client(app)
    staff = await make_staff(app, "therapist.two")
    made = await _relay_only_session(app, client, staff)
    assert "Go to the room" in await (await client.get(f"/sessions/{made['id']}")).text()
    peer = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await peer.send({"type": "open_room", "session": made["id"]})
    opened = await peer.expect("room_opened")
    assert opened["ice"]["iceServers"][0]["urls"] == ["turn:127.0.0.1:3478"]
    young = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"))
    await young.send(join_message(join_token(made)))
    joined = await young.expect("joined")
    assert joined["ice"]["iceTransportPolicy"] == "relay"  # the young person's address hidden
    (server,) = joined["ice"]["iceServers"]
    assert server["username"].endswith(":" + joined["you"]["id"]) and server["credential"]
    await asyncio.gather(peer.close(), young.close())
