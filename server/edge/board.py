"""A member's link to the room's board, and the handlers that make it.

Two links carry the board's channels (``board``, ``objects``, ``control``) between a page and
the room's board (``board/service.py``): the data connection to the server (``server_signal``:
an aiortc peer, the usual way), or, as a fallback for a network where that connection cannot
be made, the signalling socket itself (``board_open``). Over the socket each ``board`` frame
carries one operation in, and each ``board`` frame out carries one message of the board as
the data channel would; pictures travel the same way in ``objects`` frames, each one message
of the ``objects`` channel: a small JSON message, or a chunk of a picture's bytes in base64
(a text socket, relayed between nodes as text, carries no bytes). Either way the board's rules
are the same: the same checks, rate limit, numbering, sealed persistence before fan-out, and
snapshot on joining.

A page opens the board on the socket as soon as it is in the room, so the board is there
within a round trip on any network, and offers the data connection at the same time. A page
that holds the board already (after a reconnect) says the ``seq`` it holds (``since``), and
gets only the changes it missed when the board's history still has them. One board link per
person: opening the board on the socket closes their data connection to the server; a data
connection takes the board over from the socket once its three channels are open. The
socket's link then takes nothing more but still writes everything it was sent, so the data
connection is live from the board's ``seq`` at that moment: it is sent ``caught_up`` and the
pictures the socket had yet to send, never the board again; the page applies the changes of
both links in ``seq`` order. An operation or picture already on its way over the socket when
that happens is still taken, and answered on the channels: nothing sent in the hand-over is
lost or applied twice."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Callable, Iterable

from media.pacing import Backlog
from media.server_peer import ServerPeer
from server.access.ratelimit import RateLimiter
from server.appkeys import WHITEBOARDS
from server.board.members import Member
from server.board.messages import MAX_OP_CHARS
from server.board.service import RoomBoard
from server.edge.connection import Connection, Handlers
from server.edge.continuity import control_heard
from server.exceptions import ProtocolError
from server.live.hub import Socket
from server.live.protocol import (
    MAX_BACKLOG_BYTES,
    TOO_SLOW,
    BoardOpen,
    BoardOperation,
    Description,
    ObjectsFrame,
    ServerSignal,
    dump_message,
)
from server.live.replies import BoardFrame, ObjectsReply, ServerAnswer
from server.live.rooms import Role
from server.live.sdp import check_sdp

log = logging.getLogger(__name__)
CLOSE_SECONDS = 2.0  # to close a socket as too slow (protocol.MAX_BACKLOG_BYTES)
# opening the board sends all of it again, pictures too: on one socket, at most 3 times at
# once and then once every 2 s
REOPENS_BURST, REOPEN_SECONDS = 3, 2.0


async def server_signal(conn: Connection, message: ServerSignal) -> None:
    """The data connection to the server (board, objects, control): the browser offers, the
    server answers; candidates follow. The connection takes the board over when its
    channels are open (``_take_over``)."""
    room, me = conn.on_board()
    if message.description is None and message.candidate is None:
        raise ProtocolError("bad_message", "A signal carries a description or a candidate.")
    if message.description is not None:
        if message.description.type != "offer":
            raise ProtocolError("bad_message", "The browser offers; the server answers.")
        check_sdp(message.description.sdp)
        await conn.close_server_peer()  # an earlier data connection; the socket's link stays
        whiteboards = conn.app[WHITEBOARDS]
        board = await whiteboards.get(room.session_id, room.client_id)
        pid = me.id

        async def on_message(label: str, data: str | bytes) -> None:
            if conn.server_peer is not peer:
                return
            if label == "control":
                control_heard(conn)
            member = board.members.get(pid)
            if member is not None and member.peer is peer:
                await board.message(pid, label, data)

        since, missing = message.since, message.missing

        async def on_ready() -> None:
            await _take_over(conn, board, peer, since, missing)

        async def on_gone(peer: ServerPeer) -> None:
            board.leave(pid, peer)
            whiteboards.peers.discard(peer)

        if not me.in_room:  # sent to the waiting room while this was being set up
            raise ProtocolError("not_in_room", "You are not in the room.")
        peer = ServerPeer(pid, on_message, on_ready, on_gone)
        whiteboards.peers.add(peer)
        conn.server_peer = peer
        answer = await peer.answer(message.description.sdp)
        await conn.reply(ServerAnswer(description=Description(type="answer", sdp=answer)))
    elif message.candidate is not None and conn.server_peer is not None:
        # a candidate for a connection already closed (the page offered again) has no answer
        c = message.candidate
        await conn.server_peer.add_candidate(c.candidate, c.sdpMid, c.sdpMLineIndex)


async def _take_over(
    conn: Connection, board: RoomBoard, peer: ServerPeer, since: int | None, missing: Iterable[str]
) -> None:
    """The data connection's channels are all open: it becomes the person's board link in
    place of the socket's. When the socket's link has the board, it has been sent every
    change so far and goes on writing them: the data connection is live from now (``caught_up``)
    and sends the pictures the socket had yet to send. Otherwise it brings the page up to date
    from the ``since`` of its offer, as ``board_open`` does."""
    if conn.server_peer is not peer:
        return  # closed, or replaced by a newer offer, while its channels opened
    try:
        _room, me = conn.on_board()
    except ProtocolError:
        await conn.close_server_peer()  # no longer in the room: no board
        return
    current = board.members.get(me.id)
    if current is not None and current.peer is peer:
        return  # it has the board already: opening it again would send it again
    member = Member(conn.board_author(me), me.role is Role.THERAPIST, peer, me.may_draw)
    link, conn.board_link = conn.board_link, None
    if link is not None and current is not None and current.peer is link and not link.closed:
        # nothing is awaited from here until the socket's link has let go: no change falls
        # between what it was sent and what comes on the data connection
        board.open(me.id, member, taking_over=True)
        link.finish()
        conn.board_handed = link
    else:
        if link is not None:
            await link.close()
        board.open(me.id, member, since, missing)
    conn.spawn(board.send_pictures(me.id))


# a frame of the socket, up to where the board's message goes in (``_wrapped``)
BOARD_FRAME = dump_message(BoardFrame(message={})).removesuffix("{}}")
OBJECTS_FRAME = dump_message(ObjectsReply(message={})).removesuffix("{}}")


def _wrapped(head: str, message: str) -> str:
    """The board's message, a JSON object its channel encoded (once for every member), in a
    socket's frame as it is. Read back only to be written again, it cost a fifth of the
    server's processor with 250 rooms drawing over their sockets (``docs/performance.md``)."""
    return f"{head}{message}}}"


class SocketLink:
    """A member's board on their signalling socket, in the order the board sends; after
    ``after``, an earlier link on the same socket still writing what it was sent."""

    def __init__(
        self,
        ws: Socket,
        on_gone: Callable[[SocketLink], None],
        after: SocketLink | None = None,
    ) -> None:
        self.ws = ws
        self.closed = False  # takes nothing more (what it holds may still be written)
        self._on_gone = on_gone
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()  # None: the last
        self.backlog = Backlog()  # characters waiting
        self._closing: asyncio.Future[None] | None = None  # the socket, closed as too slow
        self._after = after
        self._writer = asyncio.create_task(self._write())

    def send(self, label: str, data: str | bytes) -> bool:
        if self.closed:
            return False
        if label == "objects" and isinstance(data, bytes):
            frame = dump_message(ObjectsReply(chunk=base64.b64encode(data).decode()))
        elif label in ("board", "objects") and isinstance(data, str):
            frame = _wrapped(BOARD_FRAME if label == "board" else OBJECTS_FRAME, data)
        else:
            return False  # the board and its pictures are carried here; no control channel
        if self.backlog.size + len(frame) > MAX_BACKLOG_BYTES:
            log.info("board link too slow: closed", extra={"event": "board_too_slow"})
            self._shut()
            self._closing = asyncio.ensure_future(self._close_socket())
            return False
        self.backlog.add(len(frame))
        self._queue.put_nowait(frame)
        return True

    async def drained(self, label: str, low: int) -> None:
        """Once at most ``low`` characters wait, on any channel: they share the socket."""
        await self.backlog.drained(low)

    async def _close_socket(self) -> None:
        """Close the socket as too slow, and give up after 2 s: a peer that is gone rather
        than slow would hold the closing handshake until TCP gives up (minutes), and the
        socket's end, which tells the room, would wait as long."""
        try:
            await asyncio.wait_for(
                self.ws.close(code=TOO_SLOW, message=b"too slow to keep up"), CLOSE_SECONDS
            )
        except (TimeoutError, ConnectionError, RuntimeError):
            log.info("too slow socket closed hard", extra={"event": "board_too_slow_closed"})

    def send_json(self, label: str, doc: object) -> bool:
        return self.send(label, json.dumps(doc, separators=(",", ":")))

    async def _write(self) -> None:
        if self._after is not None:  # its frames first: a snapshot is never cut by another's
            await asyncio.wait([self._after._writer])
            self._after = None
        while True:
            frame = await self._queue.get()
            if frame is None:
                break  # finished: everything it was sent is written
            self.backlog.take(len(frame))
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                break  # the socket is gone; its own handler tells the room
        self._shut()

    def finish(self) -> None:
        """Take nothing more, write what was sent (the page still reads it: another link
        takes the board over from here), then stop."""
        if self.closed:
            return
        self.closed = True
        self._queue.put_nowait(None)
        self._on_gone(self)

    def _shut(self) -> None:
        """Take nothing more and write nothing more, nor does a link this one waits for."""
        if self._after is not None:
            self._after._shut()
            self._after = None
        self.backlog.close()  # whoever waits for it to drain stops waiting
        if asyncio.current_task() is not self._writer:
            self._writer.cancel()
        if self.closed:
            return
        self.closed = True
        self._on_gone(self)

    async def close(self) -> None:
        self._shut()


async def board_open(conn: Connection, message: BoardOpen) -> None:
    """Make this socket the member's link to the board: the board (only what changed since
    ``since``, when the page holds it and the history has it all; else the snapshot) and the
    pictures the page lacks follow, then every change."""
    room, me = conn.on_board()
    if conn.board_reopens is None:
        conn.board_reopens = RateLimiter(1, REOPEN_SECONDS, burst=REOPENS_BURST, max_keys=1)
    if not conn.board_reopens.allow("open"):
        raise ProtocolError("rate_limited", "The board was opened a moment ago.")
    # an earlier link on this socket writes what it was sent before this one writes anything
    # (closed at once, as this one, if the person leaves the room)
    before = conn.board_link or conn.board_handed
    conn.board_link, conn.board_handed = None, before
    if before is not None:
        before.finish()
    await conn.close_server_peer()
    board = await conn.app[WHITEBOARDS].get(room.session_id, room.client_id)
    if not me.in_room:  # sent to the waiting room while the board was loading
        raise ProtocolError("not_in_room", "You are not in the room.")
    pid = me.id

    link = SocketLink(conn.ws, lambda gone: board.leave(pid, gone), after=before)
    conn.board_link = link
    member = Member(conn.board_author(me), me.role is Role.THERAPIST, link, me.may_draw)
    board.open(pid, member, message.since, message.missing)  # before any change
    # the pictures, paced as the socket carries them: beside this socket's loop, which goes
    # on reading the person's frames meanwhile
    conn.spawn(board.send_pictures(pid))


def _my_board(conn: Connection) -> tuple[RoomBoard, str]:
    """The room's board and this participant's id, if their board is open on this socket."""
    room, me = conn.on_board()
    board = conn.app[WHITEBOARDS].boards.get(room.session_id)
    member = board.members.get(me.id) if board is not None else None
    # the socket's link, or the data connection that took the board over from it (a frame
    # sent over the socket during the hand-over is still this person's, answered on it)
    mine = member is not None and member.peer in (conn.board_link, conn.server_peer)
    if board is None or member is None or not mine:
        raise ProtocolError("board_closed", "Open the board on this connection first.")
    return board, me.id


async def board_operation(conn: Connection, message: BoardOperation) -> None:
    board, pid = _my_board(conn)
    # a frame no longer than an operation may be holds an operation no longer than that: it
    # is checked as the frame parsed it, not written out and parsed again (46 of 55 us for a
    # stroke of 60 points); a longer one is measured as the board's channel would carry it
    # in the order the socket read them: the next frame waits until this one is stored
    if conn.frame_chars is not None and conn.frame_chars <= MAX_OP_CHARS:
        await board.operation(pid, message.op)
    else:
        await board.message(pid, "board", json.dumps(message.op))


async def board_objects(conn: Connection, message: ObjectsFrame) -> None:
    """Sharing a picture: the ``objects`` channel's messages, its chunks in base64."""
    board, pid = _my_board(conn)
    if (message.message is None) == (message.chunk is None):
        raise ProtocolError("bad_message", "An objects frame carries a message or a chunk.")
    if message.chunk is not None:
        try:
            data: str | bytes = base64.b64decode(message.chunk, validate=True)
        except binascii.Error as exc:
            raise ProtocolError("bad_message", "A chunk is base64.") from exc
    else:
        data = json.dumps(message.message)
    await board.message(pid, "objects", data)


HANDLERS: Handlers = {
    ServerSignal: server_signal,
    BoardOpen: board_open,
    BoardOperation: board_operation,
    ObjectsFrame: board_objects,
}
