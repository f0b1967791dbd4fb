"""Every room's board in this process: each loaded from storage on first use, once however
many ask for it at the same moment, and beside the others (a restart brings fifty rooms back
at once: none waits for another's board); written down as it leaves (``saving.py``).

What a board is loaded from is read with the others asked for meanwhile: the boards asked
for while a read is under way are read together next, in three statements for all of them
(``loading.py``), instead of three each through a loop busy with a restart's storm. Only
that read is shared: each board is then opened and replayed on its own, so a long board
holds up nobody else's."""

from __future__ import annotations

import asyncio
import logging

from media.server_peer import ServerPeer
from server.board.loading import Stored, read_boards
from server.board.service import RoomBoard
from server.crypto.keys import KeyRing
from server.storage.db import Database
from server.storage.groupcommit import GroupCommit

log = logging.getLogger(__name__)


class Whiteboards:
    """Every room's board in this process, loaded from storage on first use."""

    def __init__(self, db: Database, ring: KeyRing, writer: GroupCommit | None = None) -> None:
        self.db = db
        self.ring = ring
        self.boards: dict[str, RoomBoard] = {}
        self.writer = writer or GroupCommit(db)  # one for every room of this process
        self.peers: set[ServerPeer] = set()
        self._loading: dict[str, asyncio.Future[RoomBoard]] = {}  # a room's load, shared
        self._wanted: dict[str, str] = {}  # rooms (and their client) to read next, together
        self._reader: asyncio.Task[None] | None = None
        self._opening: set[asyncio.Task[None]] = set()  # boards read, opened on their own
        self._saving: set[asyncio.Task[None]] = set()  # boards written as they left

    async def get(self, appointment_id: str, client_id: str) -> RoomBoard:
        """The room's board; loaded first if this process has not got it. Whoever asks while
        it loads waits for that same load; a caller that gives up does not stop it for the
        others."""
        board = self.boards.get(appointment_id)
        if board is not None:
            return board
        loading = self._loading.get(appointment_id)
        if loading is None:
            loading = asyncio.get_running_loop().create_future()
            self._loading[appointment_id] = loading
            loading.add_done_callback(lambda done: self._loaded(appointment_id, done))
            self._wanted[appointment_id] = client_id
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read_wanted())
        return await asyncio.shield(loading)

    async def _read_wanted(self) -> None:
        """Read what the boards asked for are loaded from, together, as long as more are
        asked for; each is then opened on its own."""
        while self._wanted:
            wanted, self._wanted = self._wanted, {}
            try:
                stored = await read_boards(self.db, list(wanted))
            except BaseException as exc:  # each caller is told, and the next asking tries again
                for room in wanted:
                    self._settle(room, exc)
                if isinstance(exc, Exception):
                    continue
                raise
            for room, client_id in wanted.items():
                board = RoomBoard(room, client_id, self.db, self.ring, self.writer)
                task = asyncio.create_task(self._open(board, stored[room]))
                self._opening.add(task)
                task.add_done_callback(self._opening.discard)

    async def _open(self, board: RoomBoard, stored: Stored) -> None:
        try:
            await board.load_from(stored)
        except BaseException as exc:  # told to each caller
            self._settle(board.appointment_id, exc)
            if isinstance(exc, Exception):
                return
            raise
        self.boards[board.appointment_id] = board
        self._settle(board.appointment_id, board)

    def _settle(self, appointment_id: str, outcome: RoomBoard | BaseException) -> None:
        loading = self._loading.get(appointment_id)
        if loading is None or loading.done():
            return
        if isinstance(outcome, asyncio.CancelledError):
            loading.cancel()  # the process is stopping
        elif isinstance(outcome, BaseException):
            loading.set_exception(outcome)
        else:
            loading.set_result(outcome)

    def _loaded(self, appointment_id: str, future: asyncio.Future[RoomBoard]) -> None:
        if self._loading.get(appointment_id) is future:
            del self._loading[appointment_id]  # a failed load is tried again by the next
        if not future.cancelled():
            future.exception()  # each caller was told; none left waiting is not a fault

    def forget(self, appointment_id: str) -> None:
        """The board leaves memory (its room is empty, or held on another node now),
        written down first where it changed since its snapshot."""
        board = self.boards.pop(appointment_id, None)
        if board is not None and board.board.seq > board.saved:
            task = asyncio.create_task(board.save())
            self._saving.add(task)
            task.add_done_callback(self._saving.discard)

    async def close_all(self) -> None:
        """At shutdown: every server peer closed, and every board written down, so that
        the next start loads each from its snapshot."""
        await asyncio.gather(*(peer.close() for peer in list(self.peers)), return_exceptions=True)
        saves = [board.save() for board in self.boards.values()]
        await asyncio.gather(*saves, *self._saving, return_exceptions=True)
