"""A room with a therapist and a young person admitted, both on the board (aiortc)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from media.client import ProtocolPeer
from server.db import utcnow
from tests.conftest import Staff, sign_in
from tests.factories import ready_client, therapist_view


def stroke(sid: str, start: float) -> list[dict[str, object]]:
    """A stroke drawn point by point, as a hand draws."""
    ops: list[dict[str, object]] = [
        {
            "op": "stroke_begin",
            "id": sid,
            "colour": "#204080",
            "width": 6,
            "points": [[start, 100, 0.5]],
        }
    ]
    ops += [
        {"op": "stroke_points", "id": sid, "points": [[start + i, 100 + i, 0.5]]}
        for i in range(1, 20)
    ]
    ops.append({"op": "stroke_end", "id": sid})
    return ops


class Scene:
    def __init__(
        self,
        client: TestClient,
        token: str,
        session: str,
        therapist: ProtocolPeer,
        young: ProtocolPeer,
    ) -> None:
        self.client, self.token, self.session = client, token, session
        self.therapist, self.young = therapist, young


async def enter(
    aiohttp_client, client: TestClient, session: str, token: str
) -> tuple[ProtocolPeer, ProtocolPeer]:  # type: ignore[no-untyped-def]
    therapist = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await therapist.send({"type": "open_room", "session": session})
    await therapist.expect("room_opened")
    outsider = await aiohttp_client(client.server)
    young = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    await young.send({"type": "join", "token": token})
    yid = (await young.expect("joined"))["you"]["id"]
    await therapist.send({"type": "admit", "participant": yid})
    await young.expect("admitted")
    await asyncio.gather(therapist.open_board(), young.open_board())
    return therapist, young


@pytest.fixture
async def scene(app: web.Application, aiohttp_client, client: TestClient, therapist: Staff):  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    resp = await client.post(
        f"/api/clients/{kid.id}/sessions",
        json={"starts_at": (utcnow() + timedelta(minutes=2)).isoformat()},
        headers={"X-CSRF-Token": csrf},
    )
    made = await resp.json()
    token = made["join_links"][0]["url"].rsplit("/join/", 1)[1]
    t, y = await enter(aiohttp_client, client, made["id"], token)
    yield Scene(client, token, made["id"], t, y)
    await asyncio.gather(t.close(), y.close())


@dataclass
class Room:
    session: str
    token: str
    parent_token: str
    therapist: ProtocolPeer


async def join_with(aiohttp_client, client: TestClient, token: str, **checks: str) -> ProtocolPeer:  # type: ignore[no-untyped-def]
    outsider = await aiohttp_client(client.server)  # a fresh browser: no cookies
    peer = ProtocolPeer(await outsider.ws_connect("/ws"))
    await peer.send({"type": "join", "token": token, "checks": checks})
    return peer


@pytest.fixture
async def room(app: web.Application, client: TestClient, therapist: Staff):  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    resp = await client.post(
        f"/api/clients/{kid.id}/sessions",
        json={"starts_at": (utcnow() + timedelta(minutes=2)).isoformat(), "parent_link": True},
        headers={"X-CSRF-Token": csrf},
    )
    made = await resp.json()
    tokens = {link["role"]: link["url"].rsplit("/join/", 1)[1] for link in made["join_links"]}
    peer = ProtocolPeer(await client.ws_connect("/ws"))
    await peer.send({"type": "open_room", "session": made["id"]})
    peer.opened = await peer.expect("room_opened")  # type: ignore[attr-defined]
    yield Room(made["id"], tokens["young_person"], tokens["parent"], peer)
    await peer.close()
