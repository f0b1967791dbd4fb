"""The board over the signalling socket: a fallback for a network where the data connection
to the server cannot be made. ``board_open`` makes the socket the member's link to the room's
board (``whiteboard.py``, unchanged: the same checks, rate limit, numbering, sealed
persistence before fan-out, and snapshot on joining); each ``board`` frame carries one
operation in, and each ``board`` frame out carries one message of the board as the data
channel would. Pictures are not carried: their elements arrive, their bytes do not.

One board link per person: opening the board here closes their data connection to the
server, and offering a data connection closes this one."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from server.appkeys import WHITEBOARDS
from server.connection import ConnectionBase
from server.hub import Socket
from server.protocol import BoardOpen, BoardOperation, ProtocolError
from server.rooms import Participant, Role, Room
from server.whiteboard import Member

log = logging.getLogger(__name__)
MAX_BACKLOG = 4096  # frames waiting for a socket that does not read: then the link closes


def board_frame(message: str) -> str:
    """``replies.BoardFrame`` around one board message already encoded as JSON (the board
    encodes each change once for all its members; this does not decode it again)."""
    return '{"v":1,"type":"board","message":' + message + "}"


class SocketLink:
    """A member's board on their signalling socket, in the order the board sends."""

    def __init__(self, ws: Socket, on_gone: Callable[[SocketLink], None]) -> None:
        self.ws = ws
        self.closed = False
        self._on_gone = on_gone
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write())

    def send(self, label: str, data: str | bytes) -> bool:
        if self.closed or label != "board" or not isinstance(data, str):
            return False  # only the board is carried here
        if self._queue.qsize() >= MAX_BACKLOG:
            self._shut()
            return False
        self._queue.put_nowait(board_frame(data))
        return True

    def send_json(self, label: str, doc: object) -> bool:
        return self.send(label, json.dumps(doc, separators=(",", ":")))

    async def _write(self) -> None:
        while True:
            frame = await self._queue.get()
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

    def _on_board(self) -> tuple[Room, Participant]:
        room, me = self._in_room()
        if not me.in_room:
            raise ProtocolError("not_in_room", "You are not in the room yet.")
        if me.role is Role.OBSERVER:
            raise ProtocolError("observer", "An observer watches; the board is not theirs.")
        return room, me

    async def board_open(self, message: BoardOpen) -> None:
        room, me = self._on_board()
        await self._close_server_peer()
        board = await self.app[WHITEBOARDS].get(room.session_id, room.client_id)
        if not me.in_room:  # sent to the waiting room while the board was loading
            raise ProtocolError("not_in_room", "You are not in the room.")
        pid = me.id

        link = SocketLink(self.ws, lambda gone: board.leave(pid, gone))
        self.board_link = link
        board.join(pid, Member(self.board_author(me), me.role is Role.THERAPIST, link))
        await board.opened(pid, "board")  # the snapshot, before any change

    async def board_operation(self, message: BoardOperation) -> None:
        room, me = self._on_board()
        board = self.app[WHITEBOARDS].boards.get(room.session_id)
        member = board.members.get(me.id) if board is not None else None
        if board is None or member is None or member.peer is not self.board_link:
            raise ProtocolError("board_closed", "Open the board on this connection first.")
        # in the order the socket read them: the next frame waits until this one is stored
        await board.message(me.id, "board", json.dumps(message.op))

    async def _close_server_peer(self) -> None:
        await super()._close_server_peer()
        if self.board_link is not None:
            link, self.board_link = self.board_link, None
            await link.close()
