"""The signalling socket's edge, as ``docs/protocol.md`` states it: a frame of the largest
size is taken and one byte more closes the socket with 1009; past 200 frames a second frames
are dropped unread, told once; every frame read counts against the limit of messages,
malformed or of an unknown type too; every answer and refusal carries the frame's ``id``,
and nothing pushed does; a fault of the server's own closes the socket with 1011; a socket
busy with a slow frame is told ``working`` meanwhile.

The rate limiters run on a stopped clock here, so that what is dropped does not depend on
how fast the test runs."""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSCloseCode, WSMsgType, web
from aiohttp.test_utils import TestClient

from server.access.ratelimit import RateLimiter
from server.appkeys import BUSY
from server.edge import connection, dispatch, websocket, working
from server.live.protocol import MAX_MESSAGE_BYTES, Leave, Ping
from tests.scenes import Room, join_with


def padded(size: int, frame_id: str) -> str:
    """A ping of exactly ``size`` bytes (JSON allows trailing white space)."""
    text = json.dumps({"v": 1, "type": "ping", "n": 1, "id": frame_id})
    return text + " " * (size - len(text))


async def answers_until_closed(ws: ClientWebSocketResponse) -> list[dict[str, Any]]:
    answers = []
    async for frame in ws:
        if frame.type is WSMsgType.TEXT:
            answers.append(json.loads(frame.data))
    return answers


@pytest.fixture
def stopped_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every limiter of a socket opened from now on counts on a clock that does not move."""
    stopped = functools.partial(RateLimiter, clock=lambda: 0.0)
    monkeypatch.setattr(websocket, "RateLimiter", stopped)
    monkeypatch.setattr(connection, "RateLimiter", stopped)


@pytest.mark.parametrize("compress", [0, 15], ids=["plain", "compressed"])
async def test_the_largest_frame_is_taken_and_one_byte_more_closes_with_1009(
    client: TestClient, compress: int
) -> None:
    for _ in range(3):  # every time
        async with client.ws_connect("/ws", compress=compress) as ws:
            await ws.send_str(padded(MAX_MESSAGE_BYTES, "largest"))
            answer = await ws.receive_json()
            assert (answer["type"], answer["id"]) == ("pong", "largest")
            for size in (MAX_MESSAGE_BYTES - 1, MAX_MESSAGE_BYTES):
                await ws.send_str(padded(size, f"s{size}"))
                assert (await ws.receive_json())["id"] == f"s{size}"
        for size in (MAX_MESSAGE_BYTES + 1, websocket.READ_LIMIT - 1):  # read whole: 1009
            async with client.ws_connect("/ws", compress=compress) as ws:
                await ws.send_str(padded(size, "over"))
                closing = await ws.receive()
                assert closing.type is WSMsgType.CLOSE, closing
                assert ws.close_code == WSCloseCode.MESSAGE_TOO_BIG


async def test_a_flood_is_dropped_unread_and_told_once(
    client: TestClient, stopped_clock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection, "MESSAGES_PER_SECOND", 1000)  # only the frames' limit
    async with client.ws_connect("/ws") as ws:
        for n in range(250):
            await ws.send_str(json.dumps({"v": 1, "type": "ping", "n": n, "id": f"f{n}"}))
        # over the frame limit: closes the socket, after every frame before it
        await ws.send_str(padded(MAX_MESSAGE_BYTES + 1, "over"))
        answers = await answers_until_closed(ws)
    pongs = [a["id"] for a in answers if a["type"] == "pong"]
    assert pongs == [f"f{n}" for n in range(websocket.FRAMES_PER_SECOND)]
    (notice,) = [a for a in answers if a["type"] == "error"]
    assert notice["code"] == "rate_limited" and "id" not in notice
    assert answers[-1] is notice  # after the last frame read, for the first dropped


async def test_malformed_frames_and_unknown_types_count_against_the_limit(
    client: TestClient, stopped_clock: None
) -> None:
    async with client.ws_connect("/ws") as ws:
        frames = [
            *(json.dumps({"v": 1, "type": "dance", "id": f"u{n}"}) for n in range(20)),
            *(
                json.dumps({"v": 1, "type": "lock", "locked": "yes", "id": f"m{n}"})
                for n in range(20)
            ),
            *("{not json" for _ in range(10)),
        ]
        for frame in frames:
            await ws.send_str(frame)
        codes = [(a["code"], a.get("id")) for a in [await ws.receive_json() for _ in frames]]
        assert codes == [
            *(("unknown_type", f"u{n}") for n in range(20)),
            *(("bad_message", f"m{n}") for n in range(20)),
            *(("bad_json", None) for _ in range(10)),
        ]
        # the limit of 50 is reached: each frame now is answered rate_limited, with its id
        for frame, frame_id in [
            (json.dumps({"v": 1, "type": "ping", "id": "late"}), "late"),
            (json.dumps({"v": 1, "type": "dance", "id": "later"}), "later"),
            ("{not json", None),
        ]:
            await ws.send_str(frame)
            answer = await ws.receive_json()
            assert (answer["code"], answer.get("id")) == ("rate_limited", frame_id)
        # the board's own frames are the board's to limit: this one reaches its handler
        await ws.send_str(json.dumps({"v": 1, "type": "board", "op": {}, "id": "b"}))
        answer = await ws.receive_json()
        assert (answer["code"], answer["id"]) == ("not_joined", "b")


async def test_every_frame_is_answered_with_its_id_and_pushes_carry_none(
    aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    async with client.ws_connect("/ws") as stranger:
        # a goodbye from someone who never came in is refused, not ignored
        await stranger.send_str(json.dumps({"v": 1, "type": "leave", "id": "bye"}))
        await stranger.send_str(json.dumps({"v": 1, "type": "ping", "n": 2, "id": "p"}))
        refusal, pong = await stranger.receive_json(), await stranger.receive_json()
        assert (refusal["code"], refusal["id"]) == ("not_joined", "bye")
        assert (pong["type"], pong["n"], pong["id"]) == ("pong", 2, "p")

    therapist.inbox.clear()
    await therapist.send({"type": "lock", "locked": True, "id": "lock-1"})
    await therapist.expect("done", id="lock-1")
    assert (await therapist.expect("lobby"))["locked"] is True
    await therapist.send({"type": "lock", "locked": False, "id": "lock-2"})
    await therapist.expect("done", id="lock-2")

    young = await join_with(aiohttp_client, client, room.token)  # its join has no id
    joined = await young.expect("joined")
    assert "id" not in joined and "id" not in await young.expect("waiting")
    yid = joined["you"]["id"]
    await therapist.send({"type": "admit", "participant": yid, "id": "in"})
    await therapist.expect("done", id="in")
    assert "id" not in await young.expect("admitted")  # pushed to the young person
    await young.send({"type": "rating", "score": "3", "id": "r"})  # never taken for 3
    refused = await young.expect("error", id="r")
    assert (refused["code"], refused["message"].split(":")[0]) == ("bad_message", "score")
    await young.send({"type": "flag", "kind": "break", "id": "f"})
    await young.expect("done", id="f")
    assert "id" not in await therapist.expect("flag")
    await young.send({"type": "leave", "id": "going"})
    await young.expect("done", id="going")
    assert "id" not in await therapist.expect("peer_left", participant=yid)
    await young.close()

    await therapist.send({"type": "end_room", "id": "end"})
    await therapist.expect("room_ended", id="end")
    await therapist.wait_for(lambda: therapist.ws.closed)
    assert therapist.ws.close_code == WSCloseCode.OK
    assert not [m for m in therapist.inbox if "id" in m]  # what was pushed carries none


async def test_a_fault_of_the_server_closes_the_socket_with_1011(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(conn: object, message: object) -> None:
        raise RuntimeError("a fault of the server's own")

    monkeypatch.setitem(dispatch.HANDLERS, Ping, broken)
    async with client.ws_connect("/ws") as ws:
        await ws.send_str(json.dumps({"v": 1, "type": "ping"}))
        closing = await ws.receive()
        assert closing.type is WSMsgType.CLOSE
        assert ws.close_code == WSCloseCode.INTERNAL_ERROR


@pytest.mark.hazard("HZ-10")
async def test_a_socket_busy_with_a_slow_frame_is_told_it_is_working(
    app: web.Application, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ping waiting behind a slow frame (a resume while the rooms are rebuilt after a
    restart) would go unanswered past the page's patience: the socket hears ``working``
    meanwhile, the ``pong`` still comes after the slow frame, and a quick frame causes none."""
    app[BUSY].after = 0.1
    release = asyncio.Event()

    async def slow(conn: object, message: object) -> None:
        await release.wait()

    monkeypatch.setitem(dispatch.HANDLERS, Leave, slow)
    async with client.ws_connect("/ws") as ws:
        await ws.send_str(json.dumps({"v": 1, "type": "ping", "n": 1, "id": "quick"}))
        assert (await ws.receive_json())["id"] == "quick"
        await ws.send_str(json.dumps({"v": 1, "type": "leave", "id": "slow"}))
        await ws.send_str(json.dumps({"v": 1, "type": "ping", "n": 2, "id": "behind"}))
        told = [await ws.receive_json(timeout=10) for _ in range(2)]  # and again, while slow
        assert told == [{"v": 1, "type": "working"}] * 2
        release.set()
        after = await ws.receive_json(timeout=10)
        while after["type"] == "working":  # one may have gone just as it was released
            after = await ws.receive_json(timeout=10)
        assert (after["type"], after["id"]) == ("pong", "behind")
        await ws.send_str(json.dumps({"v": 1, "type": "ping", "n": 3, "id": "again"}))
        assert await ws.receive_json() == {"v": 1, "type": "pong", "n": 3, "id": "again"}


async def test_working_never_follows_the_answer_nor_the_word_of_a_restart() -> None:
    """``working`` is sent a loop's turn after it is decided: not at all if the frame was
    answered in between, and never once the server is shutting down (its sockets' last word
    is when to come back)."""

    class Socket:
        closed = False

        def __init__(self) -> None:
            self.sent: list[str] = []

        async def send_str(self, data: str) -> None:
            self.sent.append(data)

    busy, socket = working.Busy(after=0), Socket()
    with busy.handling(socket):
        await busy.tell()
    await asyncio.sleep(0)  # the sending task runs: the frame was answered already
    assert socket.sent == []
    with busy.handling(socket):
        await busy.tell()
        await asyncio.sleep(0)
        assert socket.sent == [working.WORKING]
        busy.stopped = True
        await busy.tell()
        await asyncio.sleep(0)
    assert socket.sent == [working.WORKING]
