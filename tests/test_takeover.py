"""A resume takes a place over from a socket the server still holds (the network came back
before the server noticed the old socket go): the person is never shown as gone, the old
socket lets go of them at once and is closed, its token and anything it still says are
refused, and nothing they send is lost or doubled."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import HUB, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.live.hub import TAKEN_OVER
from server.live.rooms import State
from tests.client import ProtocolPeer
from tests.scenes import Room, admitted


async def _settled(peer: ProtocolPeer, n: int) -> None:
    """Everything the server sent ``peer`` before now has arrived (a ping's answer follows)."""
    await peer.send({"type": "ping", "n": n})
    await peer.expect("pong", n=n)


@pytest.mark.hazard("HZ-01")
async def test_a_resume_takes_over_a_socket_still_held_and_nobody_sees_them_go(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    old, joined = await admitted(aiohttp_client, client, room)
    yid = joined["you"]["id"]

    # both sockets alive: a new one resumes while the old one is still open
    browser = await aiohttp_client(client.server)
    new = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await new.send({"type": "resume", "token": joined["resume"]})
    resumed = await new.expect("resumed")
    assert resumed["you"]["id"] == yid and resumed["resume"] != joined["resume"]
    assert [p["id"] for p in resumed["present"]] == [therapist.me["id"]]  # type: ignore[index]
    # the old socket is closed by the server, saying why
    await old.wait_for(lambda: old.ws.closed)
    assert old.ws.close_code == TAKEN_OVER
    # the therapist sees them back (their page sends a key frame), never gone
    assert (await therapist.expect("peer_state", participant=yid))["state"] == "reconnected"
    await _settled(therapist, 1)
    assert not [m for m in therapist.inbox if m["type"] == "peer_state"]
    hub_room = app[HUB].rooms.get(room.session)
    assert hub_room is not None
    me = hub_room.get(yid)
    assert me.state is not State.INTERRUPTED and me.state is not State.LOST
    assert yid not in app[HUB].grace  # no grace window running: they never left

    # the new socket speaks for them: a flag reaches the therapist once
    await new.send({"type": "flag", "kind": "not_private"})
    await new.expect("done")
    await therapist.expect("flag", **{"from": yid})
    await _settled(therapist, 2)
    assert not [m for m in therapist.inbox if m["type"] == "flag"]

    # the old token is spent, whoever replays it
    stale = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"))
    await stale.send({"type": "resume", "token": joined["resume"]})
    assert (await stale.expect("error"))["code"] == "bad_resume"

    kinds = [
        (e.kind, e.details.get("cause"))
        for e in await app[SESSION_LOG].entries(session_stream(room.session))
        if e.details.get("participant") == yid
    ]
    assert ("participant.interrupted", "connection dropped") not in kinds
    assert (
        "participant.reconnected",
        "resumed on a new connection before the old one closed",
    ) in kinds
    await asyncio.gather(new.close(), stale.close())


async def test_the_old_connection_lets_go_even_before_its_socket_closes(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    """A stale socket that wakes after the take-over (its close still on its way over a slow
    network) speaks for nobody: what it sends is refused, and its end is no drop."""
    old, joined = await admitted(aiohttp_client, client, room)
    yid = joined["you"]["id"]
    hub = app[HUB]
    held = hub.sockets[yid]
    # as if the closing handshake were still crossing a dead network: the old socket is
    # not closed by the take-over here, only let go of
    closes: list[int] = []

    async def slow_close(*, code: int = 1000, message: bytes = b"") -> bool:
        closes.append(code)
        return True

    held.close = slow_close  # type: ignore[method-assign]
    new = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"), media=False)
    await new.send({"type": "resume", "token": joined["resume"]})
    await new.expect("resumed")
    assert closes == [TAKEN_OVER]
    # the old page wakes and speaks: refused as from nobody, the new socket unaffected
    await old.send({"id": "stale", "type": "flag", "kind": "break"})
    refused = await old.expect("error", id="stale")
    assert refused["code"] == "not_joined"
    await old.send({"type": "leave"})
    assert (await old.expect("error"))["code"] == "not_joined"
    assert hub.sockets[yid] is not held
    # and when its socket does end, nobody is shown as gone
    await old.ws.close()
    await _settled(room.therapist, 1)
    assert not [
        m for m in room.therapist.inbox if m["type"] == "peer_state" and m["state"] != "reconnected"
    ]
    room_now = hub.rooms.get(room.session)
    assert room_now is not None and room_now.get(yid).state is not State.INTERRUPTED
    await new.close()


async def test_no_resume_for_someone_who_left_or_a_session_that_ended(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    young, joined = await admitted(aiohttp_client, client, room)
    await young.send({"type": "leave"})
    await young.expect("done")
    again = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"))
    await again.send({"type": "resume", "token": joined["resume"]})
    assert (await again.expect("error"))["code"] == "bad_resume"

    parent, parent_joined = await admitted(aiohttp_client, client, room, room.parent_token)
    await room.therapist.send({"type": "end_room"})
    await parent.wait_for(lambda: parent.ws.closed)
    late = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"))
    await late.send({"type": "resume", "token": parent_joined["resume"]})
    assert (await late.expect("error"))["code"] == "bad_resume"
    await asyncio.gather(again.close(), late.close())


async def test_a_key_frame_is_asked_for_over_the_socket(
    aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    """After a reconnect a page asks someone whose video it cannot decode yet for a key frame
    over the socket: it reaches them alone, named by who asks; a stranger is refused."""
    young, joined = await admitted(aiohttp_client, client, room)
    tid = room.therapist.me["id"]  # type: ignore[index]
    await room.therapist.send({"type": "key_frame", "to": joined["you"]["id"]})
    asked = await young.expect("key_frame")
    assert asked == {"v": 1, "type": "key_frame", "from": tid}
    await young.send({"type": "key_frame", "to": "f" * 16})
    assert (await young.expect("error"))["code"] == "unknown_peer"
    await young.close()
