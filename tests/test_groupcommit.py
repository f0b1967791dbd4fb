"""Group commit: what many rooms write at once goes to disk in a few transactions, each row's
writer resumes only once its row is committed, and a row that cannot be stored fails alone,
its sender told while the board stays as it was. Units of work that read before they write
(log entries, places) share transactions on SQLite and each keep their own on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from server.appkeys import DATABASE, SESSION_LOG, WHITEBOARDS
from server.audit.sessionlog import session_stream
from server.storage.db import Database, utcnow
from server.storage.groupcommit import GroupCommit
from server.storage.models import new_id
from server.storage.session_models import BoardOp
from tests.scenes import Scene, stroke


def _row(appointment: str, seq: int) -> BoardOp:
    return BoardOp(id=new_id(), appointment_id=appointment, seq=seq, author="a",
                   created_at=utcnow(), op_enc=b"x")  # fmt: skip


@contextmanager
def _commits(db: Database) -> Iterator[list[int]]:
    """How many transactions the database commits meanwhile (the list's one item)."""
    commits = [0]

    def count(*_: object) -> None:
        commits[0] += 1

    sa.event.listen(db.engine.sync_engine, "commit", count)
    try:
        yield commits
    finally:
        sa.event.remove(db.engine.sync_engine, "commit", count)


async def test_rows_written_at_once_share_transactions(app: web.Application, scene: Scene) -> None:
    db = app[DATABASE]
    writer = GroupCommit(db)
    with _commits(db) as commits:
        await asyncio.gather(*(writer.write(_row(scene.session, 1000 + n)) for n in range(100)))
    async with db.session() as session:
        stored = await session.scalar(sa.select(sa.func.count()).where(BoardOp.seq >= 1000))
    assert stored == 100  # every writer resumed with its row committed
    assert commits[0] < 10, commits  # not one transaction a row


async def test_log_entries_of_many_sessions_share_transactions_on_sqlite(
    app: web.Application, client: TestClient, backend: str
) -> None:
    """A hundred sessions' logs written at once (pages resuming after a restart): each entry
    after its own stream's head, each writer told its position; one fsync a batch on
    SQLite, one transaction each on PostgreSQL, whose writers do not queue."""
    db, log = app[DATABASE], app[SESSION_LOG]
    streams = [session_stream(f"s{n:04d}") for n in range(100)]
    await asyncio.gather(*(log.append(s, "room.opened", "system") for s in streams))
    with _commits(db) as commits:
        seqs = await asyncio.gather(
            *(log.append(s, "participant.reconnected", "system") for s in streams)
        )
    assert seqs == [2] * 100
    for stream in streams[:3]:
        assert [e.kind for e in await log.entries(stream)] == [
            "room.opened",
            "participant.reconnected",
        ]
        assert (await log.verify(stream)).intact
    assert commits[0] < 20 if backend == "sqlite" else commits[0] == 100, commits


async def test_a_unit_of_work_that_fails_fails_alone(app: web.Application, scene: Scene) -> None:
    """One unit raising in a shared transaction: the others are written and told their own
    results, the failing one raises to its own caller only."""
    writer = GroupCommit(app[DATABASE])

    def unit(n: int) -> Callable[[AsyncSession], Awaitable[int]]:
        async def work(session: AsyncSession) -> int:
            if n == 3:
                raise ValueError("this one cannot be written")
            session.add(_row(scene.session, 2000 + n))
            return n

        return work

    results = await asyncio.gather(*(writer.transaction(unit(n)) for n in range(6)),
                                   return_exceptions=True)  # fmt: skip
    assert [r if not isinstance(r, Exception) else type(r) for r in results] == [
        0, 1, 2, ValueError, 4, 5
    ]  # fmt: skip
    async with app[DATABASE].session() as session:
        stored = await session.scalar(sa.select(sa.func.count()).where(BoardOp.seq >= 2000))
    assert stored == 5


async def test_a_row_that_fails_fails_alone(app: web.Application, scene: Scene) -> None:
    writer, room = GroupCommit(app[DATABASE]), scene.session
    results = await asyncio.gather(
        writer.write(_row(room, 500)),
        writer.write(_row(room, 500)),  # the same seq twice: the second cannot be stored
        writer.write(_row(room, 501)),
        return_exceptions=True,
    )
    assert [isinstance(r, Exception) for r in results] == [False, True, False]


async def test_an_operation_not_stored_is_not_shown_and_its_sender_is_told(
    app: web.Application, scene: Scene, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    t, y = scene.therapist, scene.young
    for op in stroke("t-1", 100):
        t.draw(op)
    await y.wait_for(lambda: y.board.seq == 21)
    board = app[WHITEBOARDS].boards[scene.session]
    before = board.board.snapshot()

    async def locked(rows: list[BoardOp]) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(board.writer, "_commit", locked)
    y.draw({"op": "sticker", "id": "y-cat", "name": "cat", "x": 20, "y": 20})
    await y.wait_for(lambda: any(e["code"] == "not_saved" for e in y.board_errors))
    assert board.board.snapshot() == before and board.board.seq == 21
    monkeypatch.undo()
    y.draw({"op": "sticker", "id": "y-cat", "name": "cat", "x": 20, "y": 20})  # again: kept
    await t.wait_for(lambda: "y-cat" in t.board.elements)
