"""Group commit: what many rooms write at once goes to disk in a few transactions, each row's
writer resumes only once its row is committed, and a row that cannot be stored fails alone,
its sender told while the board stays as it was."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.exc import OperationalError

from server.appkeys import DATABASE, WHITEBOARDS
from server.storage.db import utcnow
from server.storage.groupcommit import GroupCommit
from server.storage.models import new_id
from server.storage.session_models import BoardOp
from tests.scenes import Scene, stroke


def _row(appointment: str, seq: int) -> BoardOp:
    return BoardOp(id=new_id(), appointment_id=appointment, seq=seq, author="a",
                   created_at=utcnow(), op_enc=b"x")  # fmt: skip


async def test_rows_written_at_once_share_transactions(app: web.Application, scene: Scene) -> None:
    db = app[DATABASE]
    commits = 0

    def count(*_: object) -> None:
        nonlocal commits
        commits += 1

    sa.event.listen(db.engine.sync_engine, "commit", count)
    writer = GroupCommit(db)
    await asyncio.gather(*(writer.write(_row(scene.session, 1000 + n)) for n in range(100)))
    sa.event.remove(db.engine.sync_engine, "commit", count)
    async with db.session() as session:
        stored = await session.scalar(sa.select(sa.func.count()).where(BoardOp.seq >= 1000))
    assert stored == 100  # every writer resumed with its row committed
    assert commits < 10, commits  # not one transaction a row


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
