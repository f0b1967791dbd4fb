"""Every room's board in this process: each loaded from storage on first use, once however
many ask for it at the same moment, and beside the others (a restart brings fifty rooms back
at once: none waits for another's board); written down as it leaves (``saving.py``).

What a board is loaded from is read with the others asked for meanwhile (``Together``):
the boards asked for while a read is under way are read together next, in three statements
for all of them (``loading.py``), instead of three each through a loop busy with a restart's
storm. Only that read is shared: each board is then opened and replayed in its own load, so
a long board holds up nobody else's."""

from __future__ import annotations

import asyncio
import logging

from media.server_peer import ServerPeer
from server.board.loading import Stored, read_boards
from server.board.service import RoomBoard
from server.crypto.keys import KeyRing
from server.storage.db import Database
from server.storage.groupcommit import GroupCommit
from server.storage.together import Together

log = logging.getLogger(__name__)


class Whiteboards:
    """Every room's board in this process, loaded from storage on first use."""

    def __init__(self, db: Database, ring: KeyRing, writer: GroupCommit | None = None) -> None:
        self.db = db
        self.ring = ring
        self.boards: dict[str, RoomBoard] = {}
        self.writer = writer or GroupCommit(db)  # one for every room of this process
        self.peers: set[ServerPeer] = set()
        self._stored: Together[str, Stored] = Together(lambda rooms: read_boards(db, rooms))
        self._loading: dict[str, asyncio.Task[RoomBoard]] = {}  # a room's load, shared
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
            loading = asyncio.create_task(self._load(appointment_id, client_id))
            self._loading[appointment_id] = loading
            loading.add_done_callback(lambda done: self._loaded(appointment_id, done))
        return await asyncio.shield(loading)

    async def _load(self, appointment_id: str, client_id: str) -> RoomBoard:
        board = RoomBoard(appointment_id, client_id, self.db, self.ring, self.writer)
        await board.load_from(await self._stored.get(appointment_id))
        self.boards[appointment_id] = board
        return board

    def _loaded(self, appointment_id: str, task: asyncio.Task[RoomBoard]) -> None:
        if self._loading.get(appointment_id) is task:
            del self._loading[appointment_id]  # a failed load is tried again by the next
        if not task.cancelled():
            task.exception()  # each caller was told; none left waiting is not a fault

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
