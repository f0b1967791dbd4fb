"""A real network cut (silence, not a closed socket) is detected within the heartbeat bound,
and the young person comes back with their resume token once the network returns."""

from __future__ import annotations

import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from media.client import ProtocolPeer
from server.settings import Settings
from tests.netcut import CuttableProxy
from tests.scenes import Room

HEARTBEAT = 2.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # no media in these tests, so the shared event loop answers pings in time
    return settings.model_copy(
        update={"heartbeat_seconds": HEARTBEAT, "reconnect_grace_seconds": 20}
    )


async def test_a_silent_cut_is_detected_and_the_young_person_resumes(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    proxy = CuttableProxy(client.server.port)  # type: ignore[arg-type]
    await proxy.start()
    outsider = await aiohttp_client(client.server)
    url = f"ws://127.0.0.1:{proxy.port}/ws"
    young = ProtocolPeer(await outsider.session.ws_connect(url, autoping=True), media=False)
    await young.send({"type": "join", "token": room.token})
    joined = await young.expect("joined")
    yid = joined["you"]["id"]
    await therapist.send({"type": "admit", "participant": yid})
    await young.expect("admitted")

    proxy.cut = True
    cut_at = time.monotonic()
    await therapist.expect("peer_state", participant=yid, state="interrupted", within=10)
    detected = time.monotonic() - cut_at
    print(f"cut detected after {detected:.2f} s")
    assert detected <= HEARTBEAT * 1.5 + 1.0  # the configured bound, with scheduling slack

    proxy.cut = False  # the network is back: a new connection, the same place
    await young.close()
    back = ProtocolPeer(await outsider.session.ws_connect(url), media=False)
    await back.send({"type": "resume", "token": joined["resume"]})
    assert (await back.expect("resumed"))["you"]["id"] == yid
    await back.expect("admitted")
    assert (await therapist.expect("peer_state", participant=yid))["state"] == "reconnected"
    await back.close()
    await proxy.close()
