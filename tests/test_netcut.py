"""A real network cut (silence, not a closed socket) is detected within the heartbeat bound,
and the young person comes back with their resume token once the network returns."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.settings import Settings
from tests.client import ProtocolPeer
from tests.factories import join_message
from tests.netcut import CuttableProxy
from tests.scenes import Room

HEARTBEAT = 2.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # no media in these tests, so the shared event loop answers pings in time
    return settings.model_copy(
        update={"heartbeat_seconds": HEARTBEAT, "reconnect_grace_seconds": 20}
    )


async def _through_proxy(aiohttp_client, client: TestClient, room: Room):  # type: ignore[no-untyped-def]
    """The young person joins through the proxy and is admitted."""
    proxy = CuttableProxy(client.server.port)  # type: ignore[arg-type]
    await proxy.start()
    outsider = await aiohttp_client(client.server)
    url = f"ws://127.0.0.1:{proxy.port}/ws"
    young = ProtocolPeer(await outsider.session.ws_connect(url), media=False)
    await young.send(join_message(room.token))
    joined = await young.expect("joined")
    await room.therapist.send({"type": "admit", "participant": joined["you"]["id"]})
    await young.expect("admitted")
    return proxy, outsider, url, young, joined


@pytest.mark.hazard("HZ-01")
async def test_a_silent_cut_is_detected_and_the_young_person_resumes(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    proxy, outsider, url, young, joined = await _through_proxy(aiohttp_client, client, room)
    yid = joined["you"]["id"]

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
    resumed = await back.expect("resumed")
    assert resumed["you"]["id"] == yid and resumed["present"]
    assert (await therapist.expect("peer_state", participant=yid))["state"] == "reconnected"
    await back.close()
    await proxy.close()


async def test_a_blocked_port_drops_at_once_and_the_young_person_comes_back(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    proxy, outsider, url, young, joined = await _through_proxy(aiohttp_client, client, room)
    yid = joined["you"]["id"]

    await proxy.block()
    await therapist.expect("peer_state", participant=yid, state="interrupted", within=3)
    with pytest.raises(aiohttp.ClientConnectionError):  # refused while the port is blocked
        await outsider.session.ws_connect(url)
    await proxy.unblock()
    back = ProtocolPeer(await outsider.session.ws_connect(url), media=False)
    await back.send({"type": "resume", "token": joined["resume"]})
    assert (await back.expect("resumed"))["present"]
    await therapist.expect("peer_state", participant=yid, state="reconnected")
    await asyncio.gather(young.close(), back.close())
    await proxy.close()
