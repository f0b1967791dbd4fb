"""The board over the signalling socket (``server/edge/board.py``): the fallback for a network
where the data connection to the server cannot be made. The same board, the same rules."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from PIL import Image
from sqlalchemy.exc import OperationalError

from media.pacing import LOW_WATER, send_paced
from media.transfer import CHUNK
from server.appkeys import WHITEBOARDS
from server.edge import board as boardsocket
from server.edge.board import SocketLink
from server.live.protocol import TOO_SLOW, dump_message
from server.live.replies import BoardFrame, ObjectsReply
from tests.client import ProtocolPeer
from tests.conftest import Staff, sign_in
from tests.factories import join_message, ready_client, therapist_view
from tests.scenes import join_token, schedule_session, stroke
from tests.test_images import _jpeg_with_gps


async def _room(  # type: ignore[no-untyped-def]
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> tuple[str, ProtocolPeer, ProtocolPeer]:
    """A room whose therapist is in it (no board yet), and a young person waiting."""
    csrf = await sign_in(client, therapist)
    kid = await ready_client(app, await therapist_view(app, therapist.username))
    made = await schedule_session(client, csrf, kid.id)
    t = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await t.send({"type": "open_room", "session": made["id"]})
    await t.expect("room_opened")
    outsider = await aiohttp_client(client.server)
    y = ProtocolPeer(await outsider.ws_connect("/ws"), media=False, board="socket")
    await y.send(join_message(join_token(made)))
    await y.expect("waiting")
    return made["id"], t, y


async def _admit(t: ProtocolPeer, y: ProtocolPeer) -> None:
    lobby = await t.expect("lobby", within=5)
    while not lobby["waiting"]:
        lobby = await t.expect("lobby", within=5)
    await t.send({"type": "admit", "participant": lobby["waiting"][0]["id"]})
    await y.expect("admitted")


async def test_a_socket_member_and_a_data_channel_member_converge(  # type: ignore[no-untyped-def]
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> None:
    session, t, y = await _room(app, aiohttp_client, client, therapist)
    try:
        await _admit(t, y)
        await t.open_board()  # the data connection
        for op in stroke("t-0", 50):
            t.draw(op)
        await t.wait_for(lambda: t.board.seq == 21)
        await y.open_board()  # over the socket: the snapshot has what was drawn before
        assert y.board.seq == 21 and y.board.snapshot() == t.board.snapshot()
        assert y.data_pc is None
        for a, b in zip(stroke("t-1", 100), stroke("y-1", 600), strict=True):
            t.draw(a)
            y.draw(b)
        y.draw({"op": "undo"})  # the young person's own stroke, as on the data channel
        await t.wait_for(lambda: t.board.seq == 64)
        await y.wait_for(lambda: y.board.seq == 64)
        assert t.board.snapshot() == y.board.snapshot()
        server_board = app[WHITEBOARDS].boards[session].board
        assert y.board.snapshot()["elements"] == server_board.snapshot()["elements"]
        elements = {e["id"]: e for e in y.board.snapshot()["elements"]}
        assert elements["t-1"]["visible"] and not elements["y-1"]["visible"]
        assert not t.board_errors and not y.board_errors

        # sealed and stored before anyone saw it: a fresh board rebuilt from storage agrees
        from server.board.whiteboards import Whiteboards

        fresh = Whiteboards(app[WHITEBOARDS].db, app[WHITEBOARDS].ring)
        reloaded = await fresh.get(session, app[WHITEBOARDS].boards[session].client_id)
        assert reloaded.board.snapshot() == server_board.snapshot()
    finally:
        await t.close()
        await y.close()


async def test_the_waiting_room_has_no_board(  # type: ignore[no-untyped-def]
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> None:
    session, t, y = await _room(app, aiohttp_client, client, therapist)
    try:
        await y.send({"type": "board_open"})
        assert (await y.expect("error"))["code"] == "not_in_room"
        await y.send({"type": "board", "op": {"op": "stroke_end", "id": "x"}})
        assert (await y.expect("error"))["code"] == "not_in_room"
        assert (
            session not in app[WHITEBOARDS].boards or not app[WHITEBOARDS].boards[session].members
        )

        await _admit(t, y)
        await y.send({"type": "board", "op": {"op": "stroke_end", "id": "x"}})
        assert (await y.expect("error"))["code"] == "board_closed"  # open it first
        await y.open_board()
        await t.open_board()
        yid = y.me["id"] if y.me else ""
        await t.send({"type": "to_waiting", "participant": yid})
        await y.expect("waiting")
        assert yid not in app[WHITEBOARDS].boards[session].members  # off the board at once
        y.draw(stroke("y-1", 10)[0])
        assert (await y.expect("error"))["code"] == "not_in_room"
        for op in stroke("t-1", 100):
            t.draw(op)
        await t.wait_for(lambda: t.board.seq == 21)
        await t.send({"type": "ping", "n": 7})
        await t.expect("pong", n=7)
        assert y.board.seq == 0  # nothing reached the waiting room
    finally:
        await t.close()
        await y.close()


async def test_bad_input_gets_an_error_and_the_socket_stays_up(  # type: ignore[no-untyped-def]
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> None:
    session, t, y = await _room(app, aiohttp_client, client, therapist)
    try:
        await _admit(t, y)
        await y.open_board()
        y.draw({"op": "laser"})
        y.draw({"op": "text", "id": "x", "x": 1e12, "y": 1, "text": "hi", "colour": "#000000"})
        y.draw({"op": "clear"})  # not allowed for the young person
        await y.wait_for(lambda: len(y.board_errors) == 3)
        assert [e["code"] for e in y.board_errors] == ["unknown_op", "bad_op", "not_allowed"]
        await y.ws.send_str(json.dumps({"v": 1, "type": "board", "op": "stroke_end"}))
        assert (await y.expect("error"))["code"] == "bad_message"  # not an object
        await y.ws.send_str('{"v": 1, "type": "board", "op": {"op": "text", "x": NaN}}')
        await y.wait_for(lambda: len(y.board_errors) == 4)
        assert y.board_errors[-1]["code"] == "bad_op"

        await y.send({"type": "ping", "n": 1})
        await y.expect("pong", n=1)  # still up
        for op in stroke("y-1", 300):
            y.draw(op)
        await y.wait_for(lambda: y.board.seq == 21)
        assert len(y.board.elements["y-1"]["points"]) == 20 and len(y.board_errors) == 4
    finally:
        await t.close()
        await y.close()


async def test_an_operation_is_read_once_from_its_frame_and_a_long_one_is_refused(  # type: ignore[no-untyped-def]
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff, monkeypatch
) -> None:
    """An operation in a frame no longer than the board's channel carries one is checked as
    the frame parsed it, not written out and parsed again; one in a longer frame is measured
    as that channel would carry it, and refused past its 32 KiB as there."""
    from server.board import messages

    given: list[type] = []

    def parse_op(data):  # type: ignore[no-untyped-def]
        given.append(type(data))
        return real(data)

    real = messages.parse_op
    monkeypatch.setattr(messages, "parse_op", parse_op)
    session, t, y = await _room(app, aiohttp_client, client, therapist)
    try:
        await _admit(t, y)
        await y.open_board()
        line = {"op": "stroke", "colour": "#204080", "width": 4}
        y.draw({**line, "id": "y-short", "points": [[100.25, 200.5, 0.5]] * 1000})  # 23 KiB
        await y.wait_for(lambda: "y-short" in y.board.elements)
        y.draw({**line, "id": "y-long", "points": [[100.25, 200.5, 0.5]] * 2000})  # 46 KiB
        await y.wait_for(lambda: len(y.board_errors) == 1)
        assert y.board_errors[0]["code"] == "bad_op" and "y-long" not in y.board.elements
        assert given == [dict]  # the long one never reached the parser
        assert len(y.board.elements["y-short"]["points"]) == 1000
    finally:
        await t.close()
        await y.close()


async def test_the_socket_link_writes_the_reply_models() -> None:
    """Each board message and each picture's message or chunk goes out as the reply models
    (``BoardFrame``, ``ObjectsReply``) say, in the order the board sent them."""
    written: list[str] = []

    class Recording:
        closed = False

        async def send_str(self, data: str) -> None:
            written.append(data)

        async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
            return True

    link = SocketLink(Recording(), lambda _: None)
    change = {"type": "change", "seq": 3, "author": "a", "changes": [{"finished": "s-1"}]}
    ready = {"type": "ready", "id": "p-1", "received": 0}
    assert link.send("board", json.dumps(change, separators=(",", ":")))
    assert link.send("objects", json.dumps(ready))
    assert link.send("objects", b"\x89PNG")
    assert not link.send("control", "{}")  # no control channel on the socket
    for _ in range(100):
        if len(written) == 3:
            break
        await asyncio.sleep(0)  # the link's writer runs beside the board
    expected = [
        BoardFrame(message=change),
        ObjectsReply(message=ready),
        ObjectsReply(chunk="iVBORw=="),
    ]
    assert [json.loads(w) for w in written] == [json.loads(dump_message(m)) for m in expected]
    await link.close()


@pytest.mark.hazard("HZ-06")
async def test_pictures_travel_over_the_socket_cleaned_like_any_other(  # type: ignore[no-untyped-def]
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> None:
    """A young person whose board is on the socket shares a photo: it reaches the therapist
    (on the data connection) re-encoded without its location, as any picture does; the
    therapist's picture reaches them; a board opened again brings the pictures back; bad
    frames are answered and the socket stays up."""
    _, t, y = await _room(app, aiohttp_client, client, therapist)
    try:
        await _admit(t, y)
        await t.open_board()
        await y.open_board()
        await y.share("photo", _jpeg_with_gps())
        await t.wait_for(lambda: len(t.objects) == 1)
        (data,) = t.objects.values()
        assert dict(Image.open(io.BytesIO(data)).getexif()) == {} and b"Acacia" not in data
        await y.wait_for(lambda: len(y.objects) == 1)
        assert y.objects == t.objects
        drawing = io.BytesIO()
        Image.new("RGB", (300, 200), "orange").save(drawing, "PNG")
        await t.share("drawing", drawing.getvalue())
        await y.wait_for(lambda: len(y.objects) == 2)
        await t.wait_for(lambda: len(t.objects) == 2)
        assert y.objects == t.objects

        def pictures() -> int:
            return [e["kind"] for e in y.board.snapshot()["elements"]].count("picture")

        await y.wait_for(lambda: pictures() == 2)  # placed on the board too

        for bad, code in (
            ({"type": "objects", "chunk": "not base64!"}, "bad_message"),
            ({"type": "objects"}, "bad_message"),
            ({"type": "objects", "message": {"type": "begin"}, "chunk": "AAAA"}, "bad_message"),
        ):
            await y.send(bad)
            assert (await y.expect("error"))["code"] == code, bad
        await y.send({"type": "objects", "message": {"type": "begin", "id": "x", "size": 1 << 30}})
        await y.wait_for(lambda: any(m.get("code") == "too_large" for m in y.object_messages))

        y.objects.clear()
        await y.open_board()  # again, as after a reconnect: the pictures come with the board
        await y.wait_for(lambda: len(y.objects) == 2)
        assert y.objects == t.objects
    finally:
        await t.close()
        await y.close()


async def test_a_bad_begin_is_answered_and_pictures_and_reopens_are_bounded(  # type: ignore[no-untyped-def]
    app: web.Application,
    aiohttp_client,
    client: TestClient,
    therapist: Staff,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ``begin`` whose size is not a number is answered, not a dropped socket; a person
    starts at most 6 pictures a minute (a resumed one does not count again); the board is
    opened again on one socket at most 3 times at once, since each sends all of it."""
    monkeypatch.setattr(boardsocket, "REOPEN_SECONDS", 3600.0)  # none come back meanwhile
    _, t, y = await _room(app, aiohttp_client, client, therapist)
    try:
        await _admit(t, y)
        await y.open_board()

        def refusals(code: str) -> int:
            return sum(m.get("code") == code for m in y.object_messages)

        for size in (None, [], "12", 1.5, True):
            begin = {"type": "begin", "id": "x", "size": size}
            await y.send({"type": "objects", "message": begin})
        await y.wait_for(lambda: refusals("bad_message") == 5)
        await y.send({"type": "ping", "n": 1})
        await y.expect("pong", n=1)  # still up

        def begin(transfer_id: str) -> dict[str, object]:
            return {"type": "objects", "message": {"type": "begin", "id": transfer_id, "size": 9}}

        big = {"type": "begin", "id": "big", "size": 1 << 30}
        await y.send({"type": "objects", "message": big})  # refused, and not counted
        await y.wait_for(lambda: refusals("too_large") == 1)
        for n in range(6):
            await y.send(begin(f"p{n}"))
        await y.send(begin("p5"))  # resumed: not a new picture
        await y.wait_for(lambda: sum(m["type"] == "ready" for m in y.object_messages) == 7)
        await y.send(begin("p6"))
        await y.wait_for(lambda: refusals("rate_limited") == 1)

        await y.open_board()
        await y.open_board()  # the first open, and these two: the burst
        await y.send({"type": "board_open"})
        assert (await y.expect("error"))["code"] == "rate_limited"
        await y.send({"type": "ping", "n": 2})
        await y.expect("pong", n=2)
    finally:
        await t.close()
        await y.close()


async def test_a_board_link_that_is_not_read_closes_its_socket_to_resume(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What waits for a socket that does not read is bounded: past the bound the board link
    leaves the board and the socket is closed with 1013, so the page resumes and opens the
    board afresh instead of sitting before a board that no longer moves."""
    monkeypatch.setattr(boardsocket, "MAX_BACKLOG_BYTES", 1000)
    stuck = asyncio.Event()

    class Unread:
        closed_with: int | None = None

        async def send_str(self, data: str) -> None:
            await stuck.wait()  # a browser that never reads

        async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
            self.closed_with = code
            return True

        @property
        def closed(self) -> bool:
            return self.closed_with is not None

    gone: list[SocketLink] = []
    ws = Unread()
    link = SocketLink(ws, gone.append)
    sent = [link.send("board", json.dumps({"type": "change", "n": n})) for n in range(40)]
    assert sent.count(False) > 0 and gone == [link] and link.closed
    await asyncio.wait_for(link._closing, 5)  # type: ignore[arg-type]
    assert ws.closed_with == TOO_SLOW
    assert link.send("board", "{}") is False  # nothing more is queued


async def test_a_storage_failure_with_pictures_is_answered_and_the_socket_stays_up(  # type: ignore[no-untyped-def]
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> None:
    """A picture that cannot be stored, or pictures that cannot be read when the board opens,
    are answered ``not_saved``; the signalling socket, which carries the whole call, stays."""
    session, t, y = await _room(app, aiohttp_client, client, therapist)
    try:
        await _admit(t, y)
        await y.open_board()
        await y.share("first", _jpeg_with_gps())  # stored: on the board
        await y.wait_for(lambda: len(y.objects) == 1)
        board = app[WHITEBOARDS].boards[session]

        class Failing:
            def session(self) -> object:
                raise OperationalError("INSERT", {}, Exception("disk I/O error"))

            read = session

        board.db = board.images.db = Failing()  # type: ignore[assignment]
        await y.share("photo", _jpeg_with_gps())
        await y.wait_for(lambda: any(m.get("code") == "not_saved" for m in y.object_messages))
        await y.send({"type": "ping", "n": 1})
        await y.expect("pong", n=1)
        y.object_messages.clear()
        await y.open_board()  # the board comes; its pictures cannot be read
        await y.wait_for(lambda: any(m.get("code") == "not_saved" for m in y.object_messages))
        await y.send({"type": "ping", "n": 2})
        await y.expect("pong", n=2)
    finally:
        await t.close()
        await y.close()


async def test_a_board_full_of_pictures_opens_on_a_slow_socket_without_closing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """48 pictures of 1 MiB to a socket that may hold 8 MiB and carries 64 KiB a turn of the
    event loop: paced (``media/pacing.py``), it holds at most the low-water mark and one
    picture, and stays open (sent at once, 48 MiB would be far past the bound)."""
    monkeypatch.setattr(boardsocket, "MAX_BACKLOG_BYTES", 8 * 1024 * 1024)
    carried = asyncio.Event()

    class Slow:
        closed = False
        allowance = 0

        async def send_str(self, data: str) -> None:
            while self.allowance <= 0:
                carried.clear()
                await carried.wait()
            self.allowance -= len(data)

        async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
            return True

    ws = Slow()
    link = SocketLink(ws, lambda _: None)
    most = 0

    async def send(number: int) -> bool:
        nonlocal most
        picture = bytes([number]) * 1024 * 1024
        link.send("objects", json.dumps({"type": "object", "object": str(number)}))
        for at in range(0, len(picture), CHUNK):
            link.send("objects", picture[at : at + CHUNK])
        most = max(most, link.backlog.size)
        return link.send("objects", json.dumps({"type": "object_end", "object": str(number)}))

    pacing = asyncio.ensure_future(send_paced(link, "objects", range(48), send))
    while not pacing.done():
        ws.allowance += 64 * 1024
        carried.set()
        await asyncio.sleep(0)
    assert pacing.result() == 48 and not link.closed
    assert most <= LOW_WATER + 4 * 1024 * 1024 // 3 + 64 * 1024  # a picture in base64
    await link.close()


@pytest.mark.hazard("HZ-19")
async def test_the_socket_hands_the_board_over_to_the_data_connection_losing_nothing(  # type: ignore[no-untyped-def]
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> None:
    """A page opens the board on its socket at once (it works on any network within a round
    trip) and offers the data connection beside it; when the connection's channels open it
    takes the board over, without the board coming again. Operations sent over the socket
    while that happens are all kept, each once, and the board on the data connection has
    them."""
    session, t, y = await _room(app, aiohttp_client, client, therapist)
    try:
        await _admit(t, y)
        await t.open_board()
        await y.open_board()  # on the socket
        first, second = stroke("y-1", 10), stroke("y-2", 200)
        for op in first:
            y.draw(op)
        await t.wait_for(lambda: t.board.seq == len(first))
        y.board_over = "page"  # the data connection is offered, as a page does ...
        opening = asyncio.create_task(y.open_board(resume=True))
        for op in second:  # ... while the hand goes on over the socket
            await y.send({"type": "board", "op": op})
        await opening
        total = len(first) + len(second)
        await t.wait_for(lambda: t.board.seq == total)
        await y.wait_for(lambda: y.board.seq == total)
        assert [kind for link, kind, _ in y.received if link == "data"][0] == "caught_up"
        assert not [m for m in y.received if m[1].startswith("snapshot") and m[0] == "data"]
        assert y.applied == list(range(1, total + 1))  # each once, in order
        assert y.board.elements.keys() == t.board.elements.keys() == {"y-1", "y-2"}
        assert len(y.board.elements["y-2"]["points"]) == 20
        member = app[WHITEBOARDS].boards[session].members[y.me["id"] if y.me else ""]
        assert member.peer is not None and type(member.peer).__name__ == "ServerPeer"
        assert not y.board_errors and not [m for m in y.inbox if m["type"] == "error"]
        y.draw({"op": "roll", "id": "d-1", "count": 1})  # and the board goes on over the channel
        await t.wait_for(lambda: t.board.seq == total + 1)
    finally:
        await t.close()
        await y.close()


def test_a_boards_message_goes_into_a_socket_frame_as_it_was_encoded() -> None:
    """The board encodes each message once for every member; a socket's frame wraps that
    text as it is, the same frame as one built from the message read back."""
    for message in (
        {"type": "change", "seq": 7, "author": "t", "changes": [{"points": [[1.5, 2, 0.5]]}]},
        {"type": "error", "code": "bad_op", "message": 'Ünïcode "quoted" \\ and </script>'},
        {"type": "shared", "object": "o-1", "mime": "image/webp", "nested": {"a": [None, True]}},
    ):
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        for label, model in (("board", BoardFrame), ("objects", ObjectsReply)):
            head = boardsocket.BOARD_FRAME if label == "board" else boardsocket.OBJECTS_FRAME
            frame = boardsocket._wrapped(head, text)
            assert json.loads(frame) == json.loads(dump_message(model(message=message)))
            assert model.model_validate_json(frame).message == message
