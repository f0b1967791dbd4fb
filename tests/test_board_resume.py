"""A page back after a reconnect gets only what changed on the board while it was away, not
the whole board again (``server/board/history.py``): the changes it missed and
``caught_up``, and only the pictures those changes placed. Too far behind, or back to a
board loaded afresh, it gets the whole board as before. The socket's link hands the board
over to the data connection without the board coming again, and nothing is lost or applied
twice while the other person draws."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any, Literal

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from PIL import Image

from server.appkeys import WHITEBOARDS
from server.board.history import History, placed
from server.edge.board import SocketLink
from server.live.protocol import MAX_MISSING, MAX_SAFE_INTEGER
from tests.client import ProtocolPeer
from tests.conftest import Staff, sign_in
from tests.factories import join_message, ready_client, therapist_view
from tests.scenes import join_token, schedule_session, stroke

Link = Literal["channel", "socket", "page"]


def _png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, "PNG")
    return out.getvalue()


class Room:
    """A therapist on the data connection and a young person admitted, both on the board."""

    def __init__(self, app: web.Application, aiohttp_client: Any, client: TestClient) -> None:
        self.app, self.aiohttp_client, self.client = app, aiohttp_client, client
        self.session = ""
        self.therapist: ProtocolPeer
        self.young: ProtocolPeer
        self.resume = self.young_id = ""

    async def enter(self, therapist: Staff, link: Link, *, young_board: bool = True) -> None:
        csrf = await sign_in(self.client, therapist)
        kid = await ready_client(self.app, await therapist_view(self.app, therapist.username))
        made = await schedule_session(self.client, csrf, kid.id)
        self.session = made["id"]
        self.therapist = ProtocolPeer(await self.client.ws_connect("/ws"), media=False)
        await self.therapist.send({"type": "open_room", "session": self.session})
        await self.therapist.expect("room_opened")
        self.young = await self._socket(link)
        await self.young.send(join_message(join_token(made)))
        joined = await self.young.expect("joined")
        self.resume, self.young_id = joined["resume"], joined["you"]["id"]
        await self.therapist.send({"type": "admit", "participant": joined["you"]["id"]})
        await self.young.expect("admitted")
        await self.therapist.open_board()
        if young_board:
            await self.young.open_board()

    async def _socket(self, link: Link) -> ProtocolPeer:
        outsider = await self.aiohttp_client(self.client.server)
        return ProtocolPeer(await outsider.ws_connect("/ws"), media=False, board=link)

    async def drop(self) -> None:
        """The young person's connection drops: no goodbye."""
        await self.young.close()
        await self.therapist.expect("peer_state", state="interrupted")

    async def back(self, link: Link) -> ProtocolPeer:
        """The young person resumes on a new socket, their page's board kept, and opens it
        saying what it holds."""
        page = await self._socket(link)
        await page.send({"type": "resume", "token": self.resume})
        self.resume = (await page.expect("resumed"))["resume"]
        page.board, page.objects = self.young.board, dict(self.young.objects)
        self.young = page
        await page.open_board(resume=True)
        return page

    def server_board(self) -> dict[str, Any]:
        return self.app[WHITEBOARDS].boards[self.session].board.snapshot()

    async def close(self) -> None:
        await asyncio.gather(self.therapist.close(), self.young.close())


async def _draw(peer: ProtocolPeer, ops: list[dict[str, object]], pause: float = 0.0) -> None:
    """Draw ``ops``; at a hand's pace (``pause`` between them), or at once and until the
    drawer's own board has them all."""
    target = peer.board.seq + len(ops)
    for op in ops:
        peer.draw(op)
        if pause:
            await asyncio.sleep(pause)  # a hand's pace, under the board's 100 a second
    if not pause:
        await peer.wait_for(lambda: peer.board.seq == target)


async def _share(peer: ProtocolPeer, name: str, colour: str) -> str:
    """The therapist shares a picture; returns its object id once it is on the board."""
    before = set(peer.objects)
    await peer.share(name, _png(colour))
    await peer.wait_for(lambda: len(peer.objects) > len(before))
    (object_id,) = set(peer.objects) - before
    await peer.wait_for(
        lambda: any(e["data"].get("object") == object_id for e in peer.board.elements.values())
    )
    return object_id


@pytest.fixture
async def room(app: web.Application, aiohttp_client, client: TestClient):  # type: ignore[no-untyped-def]
    made = Room(app, aiohttp_client, client)
    yield made
    await made.close()


@pytest.mark.parametrize("link", ["socket", "channel"])
async def test_a_page_back_after_a_drop_gets_only_the_changes_it_missed(
    room: Room, therapist: Staff, link: Link
) -> None:
    """Over the socket, or a data connection with no socket link to take over from: exactly
    the changes drawn while the page was away, in order, then ``caught_up``; no snapshot;
    only the picture placed meanwhile; and the same board as the server's."""
    await room.enter(therapist, link)
    t = room.therapist
    await _draw(room.young, stroke("y-1", 10))
    first = await _share(t, "first", "orange")
    await room.young.wait_for(lambda: first in room.young.objects)
    since = room.young.board.seq
    await room.drop()

    await _draw(t, stroke("t-1", 300) + [{"op": "undo"}])
    second = await _share(t, "second", "teal")
    now = t.board.seq
    back = await room.back(link)
    await back.wait_for(lambda: second in back.objects)

    kinds = [(kind, seq) for _, kind, seq in back.received]
    assert kinds == [("change", s) for s in range(since + 1, now + 1)] + [("caught_up", now)]
    assert back.applied == list(range(since + 1, now + 1))
    assert [p for _, p in back.pictures_received] == [second]  # not the first again
    assert back.board.snapshot() == t.board.snapshot()
    assert back.board.snapshot()["elements"] == room.server_board()["elements"]
    assert not back.board_errors


async def test_a_page_missing_a_pictures_bytes_says_so_and_gets_it(
    room: Room, therapist: Staff
) -> None:
    """A picture whose bytes never reached the page (its link dropped on the way) is named in
    ``missing`` and sent with what changed; the ids of pictures not on the board are not."""
    await room.enter(therapist, "socket")
    first = await _share(room.therapist, "first", "orange")
    await room.young.wait_for(lambda: first in room.young.objects)
    await room.drop()
    del room.young.objects[first]
    await _draw(room.therapist, stroke("t-1", 300))
    back = await room.back("socket")
    await back.wait_for(lambda: first in back.objects)
    assert [p for _, p in back.pictures_received] == [first]
    assert not [m for m in back.received if m[1] == "snapshot"]


async def test_a_page_too_far_behind_or_back_to_a_board_loaded_afresh_gets_it_whole(
    room: Room, therapist: Staff
) -> None:
    """Past what the history holds, the whole board comes, and its pictures; so it does from
    a board loaded from storage (a restarted server, another node), whose history starts
    empty, unless nothing changed since the page's ``seq``."""
    await room.enter(therapist, "socket")
    t = room.therapist
    picture = await _share(t, "first", "orange")
    room.app[WHITEBOARDS].boards[room.session].history.limit = 2000  # ~15 of the changes
    await room.drop()
    await _draw(t, stroke("t-1", 300) + stroke("t-2", 500))
    back = await room.back("socket")
    assert [kind for _, kind, _ in back.received][-1] == "snapshot"
    assert "caught_up" not in [kind for _, kind, _ in back.received]
    await back.wait_for(lambda: picture in [p for _, p in back.pictures_received])
    assert back.board.snapshot() == t.board.snapshot()

    await room.drop()
    await _draw(t, stroke("t-3", 700))
    room.app[WHITEBOARDS].forget(room.session)  # loaded afresh from storage when next used
    back = await room.back("socket")
    assert [kind for _, kind, _ in back.received][-1] == "snapshot"
    assert back.board.snapshot()["elements"] == t.board.snapshot()["elements"]

    await room.drop()  # nothing drawn meanwhile: nothing to send but ``caught_up``
    room.app[WHITEBOARDS].forget(room.session)
    back = await room.back("socket")
    assert [kind for _, kind, _ in back.received] == ["caught_up"]
    assert back.board.snapshot()["elements"] == t.board.snapshot()["elements"]


@pytest.mark.hazard("HZ-19")
@pytest.mark.parametrize("resume", [False, True], ids=["admitted", "resumed"])
async def test_the_hand_over_sends_no_snapshot_loses_nothing_and_doubles_nothing(
    room: Room, therapist: Staff, resume: bool
) -> None:
    """A page opens the board on the socket and offers the data connection beside it, as
    pages do, while the therapist draws without a pause: the connection takes the board over
    at the ``seq`` the socket had been sent (``caught_up``, no snapshot), the socket delivers
    all it had been sent, and the page applies every change once, in order, each one having
    come on one link only."""
    await room.enter(therapist, "page", young_board=resume)
    t = room.therapist
    if resume:
        await _draw(room.young, stroke("y-1", 10))
        await t.wait_for(lambda: t.board.seq == 21)
        await room.drop()
    ops = [op for n in range(14) for op in stroke(f"t-{n}", 60 + 40 * n)]  # about 3 s of it
    target = t.board.seq + len(ops)
    drawing = asyncio.create_task(_draw(t, ops, pause=0.012))
    await asyncio.sleep(0.3)
    if resume:
        page = await room.back("page")
    else:
        page = room.young
        await page.open_board()  # just admitted: the board whole on the socket
    assert not drawing.done(), "the hand-over came after the drawing ended"
    await drawing
    await t.wait_for(lambda: t.board.seq == target)
    await page.wait_for(lambda: page.board.seq == t.board.seq)

    data = [(kind, seq) for link, kind, seq in page.received if link == "data"]
    socket = [(kind, seq) for link, kind, seq in page.received if link == "socket"]
    assert data[0][0] == "caught_up" and not [k for k, _ in data if k.startswith("snapshot")]
    handed_at = data[0][1]
    assert handed_at is not None
    on_data = [seq for kind, seq in data if kind == "change"]
    on_socket = [seq for kind, seq in socket if kind == "change"]
    assert on_data and on_data[0] == handed_at + 1  # on from the very next one
    assert not on_socket or max(s for s in on_socket if s is not None) <= handed_at
    assert not set(on_data) & set(on_socket)  # nothing sent twice
    assert page.applied == list(range(page.applied[0], t.board.seq + 1))  # each once, in order
    assert page.board.snapshot() == t.board.snapshot()
    assert page.board.snapshot()["elements"] == room.server_board()["elements"]
    member = room.app[WHITEBOARDS].boards[room.session].members[room.young_id]
    assert type(member.peer).__name__ == "ServerPeer"


async def test_a_bad_since_is_refused_naming_it_and_the_socket_goes_on(
    room: Room, therapist: Staff
) -> None:
    await room.enter(therapist, "socket")
    y = room.young
    bad: list[dict[str, Any]] = [
        {"since": -1},
        {"since": MAX_SAFE_INTEGER + 1},
        {"since": 1.5},
        {"since": "3"},
        {"since": True},
        {"since": 0, "missing": ["not-an-id"]},
        {"since": 0, "missing": ["a" * 32] * (MAX_MISSING + 1)},
    ]
    for n, fields in enumerate(bad):
        await y.send({"type": "board_open", "id": f"b{n}", **fields})
        error = await y.expect("error", id=f"b{n}")
        assert error["code"] == "bad_message", fields
        assert error["message"].startswith(next(iter(fields)) if n < 5 else "missing"), error
    offer = {"type": "offer", "sdp": "v=0 not used"}
    await y.send({"type": "server_signal", "id": "s", "description": offer, "since": -1})
    assert (await y.expect("error", id="s"))["message"].startswith("since")
    await y.send({"type": "ping", "n": 5})
    await y.expect("pong", n=5)  # still up
    seq = y.board.seq
    await y.open_board(resume=True)  # and a good one is taken: not one of those counted
    assert [kind for _, kind, _ in y.received][-1] == "caught_up" and y.board.seq == seq
    await room.therapist.send({"type": "ping", "n": 1})
    await room.therapist.expect("pong", n=1)


# -- the history itself


def test_the_history_has_every_change_after_since_or_says_it_has_not() -> None:
    history = History(seq=4, limit=100)
    assert history.after(4) == [] and history.after(3) is None and history.after(5) is None
    for seq in range(5, 12):
        history.add(seq, "x" * 20, ["p" * 32] if seq == 7 else [])
    assert history.floor == 6 and history.size == 100  # the oldest went past 100 characters
    assert [(r.seq, r.pictures) for r in history.after(6) or []][:2] == [(7, ("p" * 32,)), (8, ())]
    assert [r.seq for r in history.after(8) or []] == [9, 10, 11]
    assert history.after(5) is None and history.after(12) is None
    assert history.after(11) == []
    history.add(14, "y")  # a change missed: nothing before this one is vouched for
    assert history.after(11) is None and [r.seq for r in history.after(13) or []] == [14]
    history.add(15, "z" * 500)  # one change over the bound alone: none kept
    assert history.after(14) is None and history.after(15) == []


def test_a_change_notes_the_pictures_it_placed() -> None:
    element = {"id": "pic-1", "kind": "picture", "data": {"object": "a" * 32}}
    sticker = {"id": "s-1", "kind": "sticker", "data": {"name": "cat"}}
    changes: Any = [{"set": element}, {"set": sticker}, {"visible": "pic-0", "value": True}]
    assert placed(changes) == ["a" * 32]


# -- the socket's link as it hands over


class _Held:
    """A socket that writes only when let: what it wrote, in order."""

    closed = False

    def __init__(self) -> None:
        self.written: list[str] = []
        self.let = asyncio.Event()

    async def send_str(self, data: str) -> None:
        await self.let.wait()
        self.written.append(json.loads(data)["message"]["n"])

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        return True


async def _settle(until: Any) -> None:
    for _ in range(200):
        if until():
            return
        await asyncio.sleep(0)  # the links' writers run beside this
    raise AssertionError("not settled")


async def test_a_link_handing_over_writes_all_it_was_sent_and_the_next_writes_after_it() -> None:
    """A socket link that hands the board over takes nothing more but writes all it holds;
    a link opened after it on the same socket writes only once it is done, so what each was
    sent comes whole and in order. Closing the newer link (its person leaves the room) stops
    the older one too."""
    ws = _Held()
    gone: list[SocketLink] = []
    first = SocketLink(ws, gone.append)
    for n in range(3):
        assert first.send("board", json.dumps({"n": n}))
    first.finish()
    assert first.closed and gone == [first] and not first.send("board", json.dumps({"n": 9}))
    second = SocketLink(ws, gone.append, after=first)
    for n in range(3, 5):
        assert second.send("board", json.dumps({"n": n}))
    ws.let.set()
    await _settle(lambda: len(ws.written) == 5)
    assert ws.written == [0, 1, 2, 3, 4]
    await second.close()

    ws, gone = _Held(), []
    first = SocketLink(ws, gone.append)
    first.send("board", json.dumps({"n": 0}))
    first.finish()
    second = SocketLink(ws, gone.append, after=first)
    second.send("board", json.dumps({"n": 1}))
    await second.close()  # nothing of either is written
    ws.let.set()
    await _settle(lambda: first._writer.done() and second._writer.done())
    assert ws.written == [] and first.backlog.closed
