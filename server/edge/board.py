"""The board over the signalling socket: a fallback for a network where the data connection
to the server cannot be made. ``board_open`` makes the socket the member's link to the room's
board (``whiteboard.py``, unchanged: the same checks, rate limit, numbering, sealed
persistence before fan-out, and snapshot on joining); each ``board`` frame carries one
operation in, and each ``board`` frame out carries one message of the board as the data
channel would. Pictures travel the same way in ``objects`` frames, each one message of the
``objects`` channel: a small JSON message, or a chunk of a picture's bytes in base64 (a text
socket, relayed between nodes as text, carries no bytes).

One board link per person: opening the board here closes their data connection to the
server, and offering a data connection closes this one."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Callable

from server.access.ratelimit import RateLimiter
from server.appkeys import WHITEBOARDS
from server.board.service import Member, RoomBoard
from server.edge.connection import ConnectionBase
from server.live.hub import Socket
from server.live.protocol import (
    MAX_BACKLOG_BYTES,
    TOO_SLOW,
    BoardOpen,
    BoardOperation,
    ObjectsFrame,
    ProtocolError,
)
from server.live.rooms import Participant, Role, Room

log = logging.getLogger(__name__)
CLOSE_SECONDS = 2.0  # to close a socket as too slow (protocol.MAX_BACKLOG_BYTES)
# opening the board sends all of it again, pictures too: on one socket, at most 3 times at
# once and then once every 2 s
REOPENS_BURST, REOPEN_SECONDS = 3, 2.0


def board_frame(message: str) -> str:
    """``replies.BoardFrame`` around one board message already encoded as JSON (the board
    encodes each change once for all its members; this does not decode it again)."""
    return '{"v":1,"type":"board","message":' + message + "}"


def objects_frame(data: str | bytes) -> str:
    """``replies.ObjectsReply`` around one message of the ``objects`` channel: JSON already
    encoded, or a picture's bytes (in base64)."""
    if isinstance(data, bytes):
        return '{"v":1,"type":"objects","chunk":"' + base64.b64encode(data).decode() + '"}'
    return '{"v":1,"type":"objects","message":' + data + "}"


class SocketLink:
    """A member's board on their signalling socket, in the order the board sends."""

    def __init__(self, ws: Socket, on_gone: Callable[[SocketLink], None]) -> None:
        self.ws = ws
        self.closed = False
        self._on_gone = on_gone
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued = 0  # characters waiting
        self._closing: asyncio.Future[None] | None = None  # the socket, closed as too slow
        self._writer = asyncio.create_task(self._write())

    def send(self, label: str, data: str | bytes) -> bool:
        if self.closed:
            return False
        if label == "board" and isinstance(data, str):
            frame = board_frame(data)
        elif label == "objects":
            frame = objects_frame(data)
        else:
            return False  # the board and its pictures are carried here; no control channel
        if self._queued + len(frame) > MAX_BACKLOG_BYTES:
            log.info("board link too slow: closed", extra={"event": "board_too_slow"})
            self._shut()
            self._closing = asyncio.ensure_future(self._close_socket())
            return False
        self._queued += len(frame)
        self._queue.put_nowait(frame)
        return True

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
        while True:
            frame = await self._queue.get()
            self._queued -= len(frame)
            try:
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                break  # the socket is gone; its own handler tells the room
        self._shut()

    def _shut(self) -> None:
        if self.closed:
            return
        self.closed = True
        if asyncio.current_task() is not self._writer:
            self._writer.cancel()
        self._on_gone(self)

    async def close(self) -> None:
        self._shut()


class BoardOverSocket(ConnectionBase):
    """``board_open`` and ``board``: the same rule as the data connection (admitted into the
    room, and not an observer)."""

    board_link: SocketLink | None = None
    board_reopens: RateLimiter | None = None

    def _on_board(self) -> tuple[Room, Participant]:
        room, me = self._in_room()
        if not me.in_room:
            raise ProtocolError("not_in_room", "You are not in the room yet.")
        if me.role is Role.OBSERVER:
            raise ProtocolError("observer", "An observer watches; the board is not theirs.")
        return room, me

    async def board_open(self, message: BoardOpen) -> None:
        room, me = self._on_board()
        if self.board_reopens is None:
            self.board_reopens = RateLimiter(1, REOPEN_SECONDS, burst=REOPENS_BURST, max_keys=1)
        if not self.board_reopens.allow("open"):
            raise ProtocolError("rate_limited", "The board was opened a moment ago.")
        await self._close_server_peer()
        board = await self.app[WHITEBOARDS].get(room.session_id, room.client_id)
        if not me.in_room:  # sent to the waiting room while the board was loading
            raise ProtocolError("not_in_room", "You are not in the room.")
        pid = me.id

        link = SocketLink(self.ws, lambda gone: board.leave(pid, gone))
        self.board_link = link
        board.join(pid, Member(self.board_author(me), me.role is Role.THERAPIST, link))
        await board.opened(pid, "board")  # the snapshot, before any change
        await board.opened(pid, "objects")  # the pictures on the board

    def _my_board(self) -> tuple[RoomBoard, str]:
        """The room's board and this participant's id, if their board is open on this socket."""
        room, me = self._on_board()
        board = self.app[WHITEBOARDS].boards.get(room.session_id)
        member = board.members.get(me.id) if board is not None else None
        if board is None or member is None or member.peer is not self.board_link:
            raise ProtocolError("board_closed", "Open the board on this connection first.")
        return board, me.id

    async def board_operation(self, message: BoardOperation) -> None:
        board, pid = self._my_board()
        # in the order the socket read them: the next frame waits until this one is stored
        await board.message(pid, "board", json.dumps(message.op))

    async def board_objects(self, message: ObjectsFrame) -> None:
        """Sharing a picture: the ``objects`` channel's messages, its chunks in base64."""
        board, pid = self._my_board()
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

    async def _close_server_peer(self) -> None:
        await super()._close_server_peer()
        if self.board_link is not None:
            link, self.board_link = self.board_link, None
            await link.close()
