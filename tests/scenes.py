"""A room with a therapist and a young person admitted, both on the board (aiortc)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.storage.db import utcnow
from tests.client import ProtocolPeer
from tests.conftest import Staff, sign_in
from tests.factories import join_message, ready_client, therapist_view


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
    await young.send(join_message(token))
    yid = (await young.expect("joined"))["you"]["id"]
    await therapist.send({"type": "admit", "participant": yid})
    await young.expect("admitted")
    await asyncio.gather(therapist.open_board(), young.open_board())
    return therapist, young


async def schedule_session(
    client: TestClient,
    csrf: str,
    client_id: str,
    start_in: timedelta = timedelta(minutes=2),
    **extra: object,
) -> dict:  # type: ignore[type-arg]
    """Schedule a session through the JSON API, as the therapist's page does."""
    body = {"starts_at": (utcnow() + start_in).isoformat(), **extra}
    resp = await client.post(
        f"/api/clients/{client_id}/sessions", json=body, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


def join_token(made: dict, role: str = "young_person") -> str:  # type: ignore[type-arg]
    """The token of a scheduled session's join link for ``role``."""
    url = next(link["url"] for link in made["join_links"] if link["role"] == role)
    return str(url.rsplit("/join/", 1)[1])


@pytest.fixture
async def scene(app: web.Application, aiohttp_client, client: TestClient, therapist: Staff):  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    made = await schedule_session(client, csrf, kid.id)
    token = join_token(made)
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
    """Join from a fresh browser, answering the checks (``checks`` changes some answers)."""
    outsider = await aiohttp_client(client.server)  # a fresh browser: no cookies
    peer = ProtocolPeer(await outsider.ws_connect("/ws"))
    message = join_message(token)
    await peer.send({**message, "checks": {**message["checks"], **checks}})
    return peer


async def admitted(
    aiohttp_client, client: TestClient, room: Room, token: str | None = None
) -> tuple[ProtocolPeer, dict]:  # type: ignore[no-untyped-def, type-arg]
    """Someone joins from a fresh browser with ``token`` (the young person's link unless
    another is given) and the therapist admits them."""
    young = await join_with(aiohttp_client, client, token or room.token)
    joined = await young.expect("joined")
    await room.therapist.send({"type": "admit", "participant": joined["you"]["id"]})
    await young.expect("admitted")
    return young, joined


@pytest.fixture
async def room(app: web.Application, client: TestClient, therapist: Staff):  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    made = await schedule_session(client, csrf, kid.id, parent_link=True)
    tokens = {role: join_token(made, role) for role in ("young_person", "parent")}
    peer = ProtocolPeer(await client.ws_connect("/ws"))
    await peer.send({"type": "open_room", "session": made["id"]})
    peer.opened = await peer.expect("room_opened")  # type: ignore[attr-defined]
    yield Room(made["id"], tokens["young_person"], tokens["parent"], peer)
    await peer.close()
