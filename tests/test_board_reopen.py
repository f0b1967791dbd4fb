"""A board opened again, while someone else draws without a pause, comes first as a whole
board (or, for a page that holds it, as the changes it missed and ``caught_up``) on every link
that opens, exactly once, and changes follow it in order: never a change before it, never
the board again after them.

A browser announces the data connection's three channels together, and aiortc can open all
three before the server hears of the first: here each connection's channels reach the
server at once, as they do from a browser."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection

from media.server_peer import CHANNELS, ServerPeer
from server.appkeys import WHITEBOARDS
from server.exceptions import ProtocolError
from tests.conftest import Staff
from tests.scenes import stroke
from tests.test_board_resume import Link, Room, _draw

Received = list[tuple[str, str, int | None]]


@pytest.fixture(autouse=True)
def channels_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each data connection's channels come to the server in one go, all of them open."""
    channel = ServerPeer._channel
    waiting: dict[int, list[Any]] = {}

    def together(self: ServerPeer, opened: Any) -> None:
        held = waiting.setdefault(id(self), [])
        held.append(opened)
        if len(held) == len(CHANNELS):
            for each in waiting.pop(id(self)):
                channel(self, each)

    monkeypatch.setattr(ServerPeer, "_channel", together)


def _opened_once(received: Received, link: str, since: int | None) -> str:
    """What came on ``link``: one opening (the whole board, or ``caught_up`` after the
    changes since ``since``), then changes in order. Returns which opening it was."""
    came = [(kind, seq) for on, kind, seq in received if on == link and kind != "error"]
    assert came, f"nothing came on the {link}"
    assert came[0][0] in ("snapshot_part", "snapshot", "caught_up", "change"), came[0]
    openings = [i for i, (kind, _) in enumerate(came) if kind in ("snapshot", "caught_up")]
    assert len(openings) == 1, f"the board opened {len(openings)} times on the {link}"
    at = openings[0]
    kind, seq = came[at]
    assert seq is not None
    before = [s for k, s in came[:at] if k == "change"]
    if kind == "snapshot":
        assert not before, f"a change came before the board on the {link}"
    else:  # the changes missed, each once, up to where the link is live
        start = seq if since is None else since  # a hand-over: live from its seq
        assert before == list(range(start + 1, seq + 1)), before
    after = [s for k, s in came[at + 1 :] if k == "change"]
    assert after == list(range(seq + 1, seq + 1 + len(after)))
    return kind


@pytest.mark.parametrize("held", [False, True], ids=["whole", "missed"])
@pytest.mark.parametrize("link", ["page", "channel", "socket"])
async def test_a_board_opened_again_while_another_draws_comes_before_any_change(
    app: web.Application, aiohttp_client: Any, client: TestClient, therapist: Staff,
    link: Link, held: bool,
) -> None:  # fmt: skip
    room = Room(app, aiohttp_client, client)
    try:
        await room.enter(therapist, link)
        t = room.therapist
        await _draw(room.young, stroke("y-1", 10))
        await t.wait_for(lambda: t.board.seq == 21)
        await room.drop()
        ops = [op for n in range(8) for op in stroke(f"t-{n}", 60 + 40 * n)]
        target = t.board.seq + len(ops)
        drawing = asyncio.create_task(_draw(t, ops, pause=0.01))
        await t.wait_for(lambda: t.board.seq > 30)
        page = await room._socket(link)
        await page.send({"type": "resume", "token": room.resume})
        await page.expect("resumed")
        since: int | None = None
        if held:
            page.board, page.objects = room.young.board, dict(room.young.objects)
            since = page.board.seq
        room.young = page
        await page.open_board(resume=held)
        assert not drawing.done(), "the board opened after the drawing ended"
        await drawing
        await t.wait_for(lambda: t.board.seq == target)
        await page.wait_for(lambda: page.board.seq == target)

        if link in ("socket", "page"):
            kind = _opened_once(page.received, "socket", since)
            assert kind == ("caught_up" if held else "snapshot")
        if link in ("channel", "page"):
            kind = _opened_once(page.received, "data", None if link == "page" else since)
            assert kind == ("snapshot" if link == "channel" and not held else "caught_up")
        assert page.board.snapshot() == t.board.snapshot()
        board = app[WHITEBOARDS].boards[room.session]
        assert page.board.snapshot()["elements"] == board.board.snapshot()["elements"]
    finally:
        await room.close()


async def test_a_connection_is_ready_once_however_its_channels_open() -> None:
    """The channels opening in one go or one by one: the connection says it is ready once,
    when the last is open."""

    class Channel:
        def __init__(self, label: str, state: str) -> None:
            self.label, self.readyState = label, state
            self.handlers: dict[str, Any] = {}

        def on(self, event: str, handler: Any = None) -> Any:
            if handler is None:
                return lambda f: self.handlers.setdefault(event, f)
            self.handlers[event] = handler
            return handler

    for states in (["open"] * 3, ["connecting"] * 3):
        ready: list[int] = []

        async def on_ready(ready: list[int] = ready) -> None:
            ready.append(1)

        async def nothing(*_: Any) -> None:
            return None

        peer = ServerPeer("p", nothing, on_ready, nothing)
        channels = [Channel(label, state) for label, state in zip(CHANNELS, states, strict=True)]
        for channel in channels:
            peer._channel(channel)  # type: ignore[arg-type]
        for channel in channels:
            if channel.readyState != "open":
                channel.readyState = "open"
                channel.handlers["open"]()
        await asyncio.sleep(0)
        assert ready == [1], states
        await peer.pc.close()


def test_the_probe_of_a_page_is_what_this_checks() -> None:
    """The check itself: a change before the board, or the board twice, is caught."""
    good: Received = [("data", "snapshot_part", None), ("data", "snapshot", 5),
                      ("data", "change", 6)]  # fmt: skip
    assert _opened_once(good, "data", None) == "snapshot"
    with pytest.raises(AssertionError):
        _opened_once([("data", "change", 5), *good], "data", None)
    with pytest.raises(AssertionError):
        _opened_once([("data", "caught_up", 4), ("data", "change", 5), *good], "data", None)
    assert _opened_once([("socket", "change", 3), ("socket", "caught_up", 3)], "socket", 2)


async def test_an_offer_to_a_data_connection_closed_meanwhile_is_answered_peer_closed() -> None:
    """The server stopping (or the socket going) closes a data connection while its offer is
    being answered: the page is told, and nothing fails on the server."""

    async def nothing(*_: Any) -> None:
        return None

    browser = RTCPeerConnection()
    browser.createDataChannel("board")
    await browser.setLocalDescription(await browser.createOffer())
    peer = ServerPeer("p", nothing, nothing, nothing)
    await peer.close()
    with pytest.raises(ProtocolError) as refused:
        await peer.answer(browser.localDescription.sdp)
    assert refused.value.code == "peer_closed"
    await peer.add_candidate(
        "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host", "0", 0
    )  # a late candidate: no answer, no fault
    await browser.close()
