"""Live movement through the server, for pages with no peer channel between them: a ``live``
frame reaches those it names who are in the room (never its sender, an observer or someone
waiting), is never stored or logged, is refused from anyone not in the room or observing,
and a flood of them is coalesced to at most 20 frames a second per sender, the newest of
each moving thing kept, without using up the socket's limit of messages."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, DATABASE, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.edge import live, websocket
from server.exceptions import ProtocolError
from server.live.protocol import (
    MAX_LIVE_UPDATES,
    LiveEnd,
    LiveMove,
    LivePoints,
    _parse_stepwise,
    parse_message,
)
from server.storage.models import Role
from server.storage.session_models import BoardOp
from tests.client import ProtocolPeer
from tests.conftest import Staff, make_staff, sign_in
from tests.factories import join_message, ready_client, therapist_view
from tests.scenes import join_token, schedule_session

DOG = {"op": "sticker", "id": "dog", "name": "dog", "x": 100, "y": 100}


def move(x: float, y: float = 300, item: str = "dog") -> dict[str, Any]:
    return {"kind": "move", "id": item, "x": x, "y": y, "rotation": 0, "scale": 1}


def points(*xs: float, stroke: str = "s-live") -> dict[str, Any]:
    return {
        "kind": "points",
        "id": stroke,
        "points": [[x, 100, 0.5] for x in xs],
        "colour": "#204080",
        "width": 6,
    }


@dataclass
class People:
    app: web.Application
    client: TestClient
    session: str
    therapist: ProtocolPeer
    young: ProtocolPeer
    parent: ProtocolPeer

    def id(self, peer: ProtocolPeer) -> str:
        assert peer.me is not None
        return str(peer.me["id"])


async def _joined(aiohttp_client, client: TestClient, token: str) -> ProtocolPeer:  # type: ignore[no-untyped-def]
    browser = await aiohttp_client(client.server)  # a fresh browser: no cookies
    peer = ProtocolPeer(await browser.ws_connect("/ws"), media=False, board="socket")
    await peer.send(join_message(token))
    await peer.expect("joined")
    await peer.expect("waiting")
    return peer


async def _admitted(people: People, peer: ProtocolPeer) -> None:
    await people.therapist.send({"type": "admit", "participant": people.id(peer)})
    await peer.expect("admitted")


@pytest.fixture
async def people(
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> AsyncIterator[People]:  # type: ignore[no-untyped-def]
    """The therapist and a young person in the room, both boards open over the socket (no
    media: live frames need none); a parent waiting."""
    csrf = await sign_in(client, therapist)
    kid = await ready_client(app, await therapist_view(app, therapist.username))
    made = await schedule_session(client, csrf, kid.id, parent_link=True)
    ther = ProtocolPeer(await client.ws_connect("/ws"), media=False, board="socket")
    await ther.send({"type": "open_room", "session": made["id"]})
    await ther.expect("room_opened")
    young = await _joined(aiohttp_client, client, join_token(made))
    parent = await _joined(aiohttp_client, client, join_token(made, "parent"))
    found = People(app, client, made["id"], ther, young, parent)
    await _admitted(found, young)
    await asyncio.gather(ther.open_board(), young.open_board())
    for peer in (ther, young, parent):
        await quiet(peer)
    yield found
    await asyncio.gather(ther.close(), young.close(), parent.close())


async def quiet(peer: ProtocolPeer) -> list[dict[str, Any]]:
    """The live frames, answers and refusals ``peer`` got until a ping's pong (everything it
    sent before has been handled by then); its inbox is empty after."""
    await peer.send({"type": "ping", "n": 7, "id": "quiet"})
    await peer.expect("pong", id="quiet")
    got = [m for m in peer.inbox if m["type"] in ("live", "error", "done")]
    peer.inbox.clear()
    return got


async def stored_ops(app: web.Application, session: str) -> int:
    async with app[DATABASE].session() as db:
        count = await db.scalar(
            sa.select(sa.func.count()).select_from(BoardOp).where(BoardOp.appointment_id == session)
        )
    return int(count or 0)


def relayed(peer: ProtocolPeer) -> list[dict[str, Any]]:
    return [m for m in peer.inbox if m["type"] == "live"]


async def test_a_live_frame_reaches_those_it_names_and_is_never_stored_or_logged(
    people: People, caplog: pytest.LogCaptureFixture
) -> None:
    app, t, y = people.app, people.therapist, people.young
    t.draw(DOG)
    await y.wait_for(lambda: "dog" in y.board.elements)
    ops = await stored_ops(app, people.session)
    log = await app[SESSION_LOG].entries(session_stream(people.session))
    board = json.dumps(y.board.elements, sort_keys=True)
    await quiet(t)
    await quiet(y)

    caplog.set_level(logging.DEBUG)
    updates = [move(321.5), points(10, 11, stroke="s-secret-stroke")]
    await y.send({"type": "live", "id": "l-1", "to": [people.id(t)], "messages": updates})
    got = await t.expect("live")
    assert got == {"v": 1, "type": "live", "from": people.id(y), "messages": updates}
    assert "id" not in got  # pushed to another: no frame id
    assert await quiet(y) == []  # never back to the sender, and no answer when taken
    assert await quiet(people.parent) == []  # waiting: nothing of the room's board

    assert await stored_ops(app, people.session) == ops
    assert await app[SESSION_LOG].entries(session_stream(people.session)) == log
    assert json.dumps(t.board.elements, sort_keys=True) == board
    assert not [r for r in caplog.records if "s-secret-stroke" in str(r.__dict__)]


async def test_only_those_named_who_are_in_the_room_get_it(people: People) -> None:
    """Named or not, someone waiting never gets a live frame; in the room, only those the
    sender names (those it has no open peer channel with) do."""
    t, y, parent = people.therapist, people.young, people.parent
    named = [people.id(t), people.id(parent), people.id(y)]  # the sender too: never to itself
    await y.send({"type": "live", "to": named, "messages": [move(200)]})
    assert (await t.expect("live"))["messages"] == [move(200)]
    assert await quiet(parent) == [] and await quiet(y) == []

    await _admitted(people, parent)
    await quiet(t)
    await y.send({"type": "live", "to": [people.id(parent)], "messages": [move(250)]})
    assert (await parent.expect("live"))["from"] == people.id(y)
    assert await quiet(t) == []  # not named: its peer channel carries it


async def _observer(people: People, aiohttp_client) -> ProtocolPeer:  # type: ignore[no-untyped-def]
    staff = await make_staff(people.app, "sup", Role.SUPERVISOR)
    await people.app[ACCOUNTS].supervise("sup", "therapist.one")
    browser = await aiohttp_client(people.client.server)
    await sign_in(browser, staff)
    peer = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await peer.send({"type": "observe", "session": people.session})
    await peer.expect("admitted")
    return peer


@pytest.mark.hazard("HZ-18")
async def test_a_live_frame_is_refused_from_anyone_not_in_the_room_and_never_reaches_an_observer(
    people: People, aiohttp_client
) -> None:  # type: ignore[no-untyped-def]
    t, y, parent = people.therapist, people.young, people.parent
    frame = {"type": "live", "to": [people.id(t)], "messages": [move(400)]}
    await parent.send({**frame, "id": "from-waiting"})
    assert (await parent.expect("error", id="from-waiting"))["code"] == "not_in_room"
    sup = await _observer(people, aiohttp_client)
    await sup.send({**frame, "id": "from-observer"})
    assert (await sup.expect("error", id="from-observer"))["code"] == "observer"
    stranger = ProtocolPeer(await people.client.ws_connect("/ws"), media=False)
    await stranger.send({**frame, "id": "from-stranger"})
    assert (await stranger.expect("error", id="from-stranger"))["code"] == "not_joined"
    assert await quiet(t) == []

    await y.send({"type": "live", "to": [people.id(sup)], "messages": [move(420)]})
    await y.send({"type": "live", "to": [people.id(t)], "messages": [move(440)]})
    assert (await t.expect("live"))["messages"] == [move(440)]
    assert relayed(sup) == []  # named, but an observer: no hand of the board reaches them
    await asyncio.gather(sup.close(), stranger.close())


@pytest.fixture
def frames_unbounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sockets opened from now on read every frame: the socket's own bound on frames (200 a
    second) is lifted, so that what bounds a flood of live frames here is the coalescing."""
    monkeypatch.setattr(websocket, "FRAMES_PER_SECOND", 1_000_000)


@pytest.mark.hazard("HZ-18")
async def test_a_flood_is_coalesced_to_twenty_frames_a_second_the_newest_kept(
    frames_unbounded: None, people: People
) -> None:
    """1,000 frames as fast as the socket takes them, all read and none answered (they do
    not count against the socket's 50 messages a second): the therapist gets at most one
    frame per 50 ms, and the last has the last place and the stroke's newest points."""
    t, y = people.therapist, people.young
    await quiet(t)
    to = [people.id(t)]
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(1000):
        messages = [move(1 + i), points(i, stroke="s-flood")]
        await y.send({"type": "live", "id": f"f{i}", "to": to, "messages": messages})
    await y.send({"type": "ping", "n": 1, "id": "after"})
    await y.expect("pong", id="after")  # every frame handled by now
    took = loop.time() - started
    await asyncio.sleep(live.INTERVAL * 2)  # the last frame, due by then
    frames = relayed(t)
    assert [m for m in y.inbox if m["type"] == "error"] == []  # none refused: not rate limited
    assert 1 <= len(frames) <= took / live.INTERVAL + 2, (len(frames), took)
    last = frames[-1]["messages"]
    assert last[0] == move(1000)
    assert last[1]["points"][-1] == [999, 100, 0.5]
    assert all(len(m["messages"]) <= MAX_LIVE_UPDATES for m in frames)
    assert all(len(u["points"]) <= 200 for m in frames for u in m["messages"] if "points" in u)


async def test_the_window_is_the_modules_so_a_shorter_one_sends_more_often(
    people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window is read as each frame is due: shortened here, frames go more often, each
    with the newest place of what moved during it."""
    monkeypatch.setattr(live, "INTERVAL", 0.5)
    t, y = people.therapist, people.young
    to = [people.id(t)]
    started = asyncio.get_running_loop().time()
    for i in range(30):
        await y.send({"type": "live", "to": to, "messages": [move(10 + i)]})
    await quiet(y)
    took = asyncio.get_running_loop().time() - started
    await t.wait_for(lambda: any(m["messages"] == [move(39)] for m in relayed(t)), within=2)
    sent = [m["messages"] for m in relayed(t)]
    assert sent[0] == [move(10)] and sent[-1] == [move(39)]  # the first at once, then the newest
    assert len(sent) <= took / 0.5 + 2


# a frame near a good one, and the field its refusal names
MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({"messages": [move(1601)]}, "messages"),  # off the board
    ({"messages": [{**move(10), "scale": 40}]}, "messages"),  # too large
    ({"messages": [{**move(10), "x": "10"}]}, "messages"),  # never converted
    ({"messages": [{**move(10), "rotation": True}]}, "messages"),
    ({"messages": [{**move(10), "owner": "me"}]}, "messages"),
    ({"messages": [{"kind": "teleport", "id": "dog"}]}, "messages"),  # not an unknown type
    ({"messages": [{**points(1), "points": [[1, 2, 0.5]] * 201}]}, "messages"),
    ({"messages": [{**points(1), "points": [[1, 2]]}]}, "messages"),
    ({"messages": [{**points(1), "colour": "red"}]}, "messages"),
    ({"messages": [{"kind": "end", "id": "a b"}]}, "messages"),
    ({"messages": []}, "messages"),
    ({"messages": [move(10)] * (MAX_LIVE_UPDATES + 1)}, "messages"),
    ({"messages": None}, "messages"),
    ({"to": []}, "to"),
    ({"to": ["NOT-HEX"]}, "to"),
    ({"to": ["ab"] * 6}, "to"),
    ({"from": "ab"}, "from"),
]


@pytest.mark.hazard("HZ-18")
async def test_a_malformed_live_frame_is_refused_naming_its_field(people: People) -> None:
    t, y = people.therapist, people.young
    frame = {"v": 1, "type": "live", "id": "bad", "to": [people.id(t)], "messages": [move(5)]}
    for change, field in MALFORMED:
        raw = json.dumps({**frame, **change})
        refusals = []
        for parse in (parse_message, _parse_stepwise):  # one pass refuses as the long way does
            with pytest.raises(ProtocolError) as refused:
                parse(raw)
            refusals.append((refused.value.code, str(refused.value)))
        assert refusals[0] == refusals[1], raw
        await y.ws.send_str(raw)
        error = await y.expect("error", id="bad")
        assert error["code"] == "bad_message", (raw, error)
        assert error["message"].split(".")[0].split(":")[0] == field, (raw, error)
    assert await quiet(t) == []


def test_an_outbox_keeps_the_newest_of_each_moving_thing() -> None:
    outbox = live.Outbox()
    outbox.put([LiveMove.model_validate(move(1)), LivePoints.model_validate(points(1, 2))], ["aa"])
    outbox.put([LiveMove.model_validate(move(2)), LivePoints.model_validate(points(3))], ["bb"])
    updates, to = outbox.take()
    assert to == {"aa", "bb"}
    dumped = [json.loads(u.model_dump_json(exclude_none=True)) for u in updates]
    assert dumped == [move(2), points(1, 2, 3)]
    assert outbox.take() == ([], set())

    # a stroke's points join, the newest 200 kept; at most MAX_LIVE_UPDATES things wait
    for i in range(300):
        outbox.put([LivePoints.model_validate(points(i))], ["aa"])
    for i in range(MAX_LIVE_UPDATES + 3):
        outbox.put([LiveEnd(kind="end", id=f"item{i}")], ["aa"])
    updates, _ = outbox.take()
    stroke, *ends = updates
    assert isinstance(stroke, LivePoints)
    assert [p[0] for p in stroke.points] == list(range(100, 300))
    assert len(updates) == MAX_LIVE_UPDATES and len(ends) == MAX_LIVE_UPDATES - 1
