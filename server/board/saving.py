"""A board's compacted snapshot in storage: the whole board at one of its operations
(``media/compaction.py``), sealed, one a session, so that a board loads from its snapshot
and the operations stored after it, in time that follows what a page needs, not how long
the session has drawn.

The operations stay stored as they always were: they are the record (the box, the export,
another node catching up read them); a snapshot is a copy derived from them. It is written
beside the room, never inside an operation's commit, and only ever of a board the server
holds, whose every operation is committed before it is applied (``RoomBoard.submit``): a
snapshot never holds an operation storage does not. It may be older than the operations; it
is replaced only by a newer one. Encoding and sealing a big board run on a worker thread, so
that the rooms go on meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from media.board import Board
from media.compaction import load_board, packed, taken
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import DecryptionError
from server.storage.db import Database, utcnow
from server.storage.models import new_id
from server.storage.session_models import BoardSnapshot

log = logging.getLogger(__name__)
SNAPSHOT_EVERY = 500  # operations stored after a board's snapshot before it is written again


async def read_snapshot(db: Database, ring: KeyRing, appointment_id: str) -> Board | None:
    """The board as its newest snapshot holds it, or None: none stored, or one that cannot be
    read (another key ring, another version), when the operations are replayed instead."""
    async with db.read() as session:
        row = await session.scalar(
            sa.select(BoardSnapshot).where(BoardSnapshot.appointment_id == appointment_id)
        )
    return None if row is None else await open_snapshot(ring, row)


async def open_snapshot(ring: KeyRing, row: BoardSnapshot) -> Board | None:
    """The board a stored snapshot holds, or None: one that cannot be read."""
    try:
        return await asyncio.to_thread(_opened, ring, row)
    except (DecryptionError, ValueError):
        log.warning("board snapshot unreadable", extra={"event": "board_snapshot_unreadable"})
        return None


def _opened(ring: KeyRing, row: BoardSnapshot) -> Board:
    doc = json.loads(unseal(ring, row, "state_enc") or "{}")
    if not isinstance(doc, dict):
        raise ValueError("a board document is an object")
    board = load_board(doc)
    if board.seq != row.seq:
        raise ValueError("a board document of another operation")
    return board


async def write_snapshot(db: Database, ring: KeyRing, appointment_id: str, board: Board) -> int:
    """Store ``board`` as its session's snapshot, unless one as new is stored already;
    returns the ``seq`` it holds (0 when none was written). The board is written down at
    once (the caller's board may change as soon as this awaits) and must hold only
    committed operations."""
    state = taken(board)
    seq = board.seq
    async with db.read() as session:
        row_id = await session.scalar(
            sa.select(BoardSnapshot.id).where(BoardSnapshot.appointment_id == appointment_id)
        )
    row = BoardSnapshot(
        id=row_id or new_id(), appointment_id=appointment_id, seq=seq, created_at=utcnow()
    )
    await asyncio.to_thread(_seal, ring, row, state)
    try:
        async with db.session() as session:
            if row_id is None:
                session.add(row)
            else:  # only ever forward: a slower writer of an older board changes nothing
                await session.execute(
                    sa.update(BoardSnapshot)
                    .where(BoardSnapshot.id == row_id, BoardSnapshot.seq < seq)
                    .values(seq=seq, state_enc=row.state_enc, created_at=row.created_at)
                )
    except IntegrityError:
        # another node wrote the first one meanwhile, or the session is gone: either way
        # there is nothing to keep
        log.info("board snapshot not written", extra={"event": "board_snapshot_skipped"})
        return 0
    return seq


def _seal(ring: KeyRing, row: BoardSnapshot, state: dict[str, Any]) -> None:
    seal(ring, row, "state_enc", json.dumps(packed(state), separators=(",", ":")))
