"""What each page sends on a poor connection (``server/edge/modes.py``): a page says it
sends less video, or sound only, and why; the others in the room are told once a change,
anyone let in later is told too; going to sound only and back is logged, the steps in
between are not; an observer sends nothing, and a mode that is not one is refused."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import SESSION_LOG
from server.audit.sessionlog import session_stream
from tests.client import ProtocolPeer
from tests.factories import join_message
from tests.scenes import Room


async def _in(aiohttp_client: Any, client: TestClient, room: Room, token: str) -> ProtocolPeer:
    browser = await aiohttp_client(client.server)  # a fresh browser: no cookies
    peer = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await peer.send(join_message(token))
    pid = (await peer.expect("joined"))["you"]["id"]
    await room.therapist.send({"type": "admit", "participant": pid})
    await peer.expect("admitted")
    return peer


@pytest.mark.hazard("HZ-28")
async def test_the_others_are_told_what_a_page_sends_and_why(
    app: web.Application, aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    therapist = room.therapist
    young = await _in(aiohttp_client, client, room, room.token)
    yid = young.me["id"]  # type: ignore[index]
    await young.send({"type": "media_mode", "mode": "lower", "why": "connection"})
    await therapist.expect("media_mode", participant=yid, mode="lower", why="connection")
    await young.send({"type": "media_mode", "mode": "audio", "why": "connection"})
    await therapist.expect("media_mode", participant=yid, mode="audio")
    await young.send({"type": "media_mode", "mode": "audio", "why": "connection"})  # no change
    # someone let in now is told at once
    parent = await _in(aiohttp_client, client, room, room.parent_token)
    await parent.expect("media_mode", participant=yid, mode="audio", why="connection")
    await young.send({"type": "media_mode", "mode": "full", "why": "connection"})
    await parent.expect("media_mode", participant=yid, mode="full")
    # the therapist's next word of it is "full": the repeated "audio" was not passed on
    assert (await therapist.expect("media_mode", participant=yid))["mode"] == "full"
    entries = await app[SESSION_LOG].entries(session_stream(room.session))
    kinds = [e.kind for e in entries if e.kind.startswith("media.")]
    assert kinds == ["media.sound_only", "media.video_back"]
    await young.close()
    await parent.close()


async def test_a_mode_that_is_not_one_is_refused_and_the_room_goes_on(
    aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    young = await _in(aiohttp_client, client, room, room.token)
    for bad in (
        {"type": "media_mode", "mode": "video_off", "why": "connection", "id": "b1"},
        {"type": "media_mode", "mode": "audio", "why": "because", "id": "b2"},
        {"type": "media_mode", "mode": "audio", "why": "chosen", "extra": 1, "id": "b3"},
    ):
        await young.send(bad)
        assert (await young.expect("error", id=bad["id"]))["code"] == "bad_message"
    await young.send({"type": "ping", "n": 1, "id": "p"})
    await young.expect("pong", id="p")
    await young.close()
