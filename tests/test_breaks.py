"""Breaks over the socket: the therapist starts one of the length they choose, both sides are
told when it ends, a page that comes back is told the same, the therapist ends it (or the
clock does), the young person says "I'm back"; and what is refused, with its code."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import SESSION_LOG
from server.audit.sessionlog import session_stream
from server.edge import breaks
from tests.client import ProtocolPeer
from tests.factories import join_message
from tests.scenes import Room


async def _young_in(
    aiohttp_client: Any, client: TestClient, room: Room
) -> tuple[ProtocolPeer, dict[str, Any]]:
    outsider = await aiohttp_client(client.server)  # a fresh browser: no cookies
    young = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    await young.send(join_message(room.token))
    joined = await young.expect("joined")
    await room.therapist.send({"type": "admit", "participant": joined["you"]["id"]})
    await young.expect("admitted")
    return young, joined


async def _break_kinds(app: web.Application, session: str) -> list[tuple[str, dict[str, Any]]]:
    entries = await app[SESSION_LOG].entries(session_stream(session))
    return [(e.kind, e.details) for e in entries if "break" in e.kind]


async def test_a_break_both_sides_see_survives_a_reconnect_and_ends_early(
    app: web.Application, aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    therapist = room.therapist
    young, joined = await _young_in(aiohttp_client, client, room)
    yid = joined["you"]["id"]

    # the young person asks; only the therapist starts one, of 1 to 15 minutes
    await young.send({"type": "flag", "kind": "break"})
    assert (await therapist.expect("flag"))["kind"] == "break"
    await young.send({"type": "start_break", "minutes": 5, "id": "y1"})
    assert (await young.expect("error", id="y1"))["code"] == "refused"
    for i, minutes in enumerate((0, 16, "5", 5.5, True)):
        await therapist.send({"type": "start_break", "minutes": minutes, "id": f"b{i}"})
        assert (await therapist.expect("error", id=f"b{i}"))["code"] == "bad_message"
    await therapist.send({"type": "end_break", "id": "e0"})
    assert (await therapist.expect("error", id="e0"))["code"] == "no_break"
    await young.send({"type": "back_from_break", "id": "k0"})
    assert (await young.expect("error", id="k0"))["code"] == "no_break"
    await young.send({"type": "break_status", "id": "s0"})
    assert await young.expect("break", id="s0") == {
        "v": 1,
        "id": "s0",
        "type": "break",
        "on": False,
    }

    await therapist.send({"type": "start_break", "minutes": 5, "id": "go"})
    started = await therapist.expect("break", id="go")
    assert started["on"] is True and started["minutes"] == 5
    assert 298 <= started["seconds_left"] <= 300
    seen = await young.expect("break", on=True)
    assert seen["ends_at"] == started["ends_at"] and "id" not in seen
    await therapist.send({"type": "start_break", "minutes": 2, "id": "again"})
    assert (await therapist.expect("error", id="again"))["code"] == "break_running"

    # the young person drops and comes back: the same break, the same end
    await young.close()
    await therapist.expect("peer_state", participant=yid, state="interrupted")
    back = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"), media=False)
    await back.send({"type": "resume", "token": joined["resume"]})
    await back.expect("resumed")
    again = await back.expect("break", on=True)
    assert again["ends_at"] == started["ends_at"] and again["seconds_left"] <= 300

    # "I'm back": the therapist is told and ends it; the young person is told it is over
    await back.send({"type": "back_from_break", "id": "k1"})
    await back.expect("done", id="k1")
    assert (await therapist.expect("break_back"))["participant"] == yid
    await back.send({"type": "end_break", "id": "y2"})
    assert (await back.expect("error", id="y2"))["code"] == "refused"
    await therapist.send({"type": "end_break", "id": "end"})
    assert (await therapist.expect("break", id="end"))["cause"] == "ended"
    ended = await back.expect("break", on=False)
    assert ended["cause"] == "ended"
    await therapist.send({"type": "break_status", "id": "s1"})
    assert (await therapist.expect("break", id="s1"))["on"] is False

    logged = await _break_kinds(app, room.session)
    assert [kind for kind, _ in logged] == ["break.started", "break.ended"]
    assert logged[0][1] == {"minutes": 5}
    assert set(logged[1][1]) == {"minutes", "cause"} and logged[1][1]["cause"] == "ended"
    assert logged[1][1]["minutes"] < 1
    await back.close()


async def test_the_clock_ends_a_break_for_everyone(
    app: web.Application,
    aiohttp_client: Any,
    client: TestClient,
    room: Room,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(breaks, "MINUTE", 0.5)  # a minute's break of half a second
    therapist = room.therapist
    young, _ = await _young_in(aiohttp_client, client, room)
    await therapist.send({"type": "start_break", "minutes": 1, "id": "go"})
    assert (await therapist.expect("break", id="go"))["seconds_left"] == 1
    await young.expect("break", on=True)
    over = await asyncio.gather(
        therapist.expect("break", on=False, within=5), young.expect("break", on=False, within=5)
    )
    assert [m["cause"] for m in over] == ["time_up", "time_up"]
    logged = await _break_kinds(app, room.session)
    assert logged == [
        ("break.started", {"minutes": 1}),
        ("break.ended", {"minutes": 1, "cause": "time_up"}),
    ]
    await young.close()


async def test_someone_waiting_cannot_use_breaks(
    aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    outsider = await aiohttp_client(client.server)
    young = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    await young.send(join_message(room.token))
    await young.expect("joined")
    await young.send({"type": "break_status", "id": "w"})
    assert (await young.expect("error", id="w"))["code"] == "not_in_room"
    await young.close()
