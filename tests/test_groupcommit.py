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

from server.appkeys import DATABASE, HUB, SESSION_LOG, WHITEBOARDS
from server.audit.sessionlog import _Append, session_stream
from server.live.rooms import Role
from server.storage.db import Database, utcnow
from server.storage.groupcommit import GroupCommit
from server.storage.models import new_id
from server.storage.session_models import BoardOp, Place
from tests.scenes import Scene, stroke


def _row(appointment: str, seq: int) -> BoardOp:
    return BoardOp(id=new_id(), appointment_id=appointment, seq=seq, author="a",
                   created_at=utcnow(), op_enc=b"x")  # fmt: skip


@contextmanager
def _commits(db: Database) -> Iterator[list[int]]:
    """How many transactions the database commits meanwhile (the list's one item), on its
    engine and, on SQLite, on the connection that inserts new rows alone."""
    commits = [0]
    engines = [db.engine.sync_engine] + ([db.rows.engine] if db.rows else [])

    def count(*_: object) -> None:
        commits[0] += 1

    for engine in engines:
        sa.event.listen(engine, "commit", count)
    try:
        yield commits
    finally:
        for engine in engines:
            sa.event.remove(engine, "commit", count)


async def test_rows_written_at_once_share_transactions(app: web.Application, scene: Scene) -> None:
    db = app[DATABASE]
    writer = GroupCommit(db)
    with _commits(db) as commits:
        await asyncio.gather(*(writer.write(_row(scene.session, 1000 + n)) for n in range(100)))
    async with db.session() as session:
        stored = await session.scalar(sa.select(sa.func.count()).where(BoardOp.seq >= 1000))
    assert stored == 100  # every writer resumed with its row committed
    assert commits[0] < 10, commits  # not one transaction a row


async def _writes_arriving_during_commits(writer: GroupCommit, appointment: str) -> None:
    """The first row's commit brings a second (arriving while it is written); the third
    comes once the first is committed."""
    arriving: list[asyncio.Task[None]] = []

    async def first(session: AsyncSession) -> None:
        session.add(_row(appointment, 3001))
        arriving.append(asyncio.create_task(writer.write(_row(appointment, 3002))))

    await writer._queue(first)
    await asyncio.gather(*arriving, writer.write(_row(appointment, 3003)))


async def test_rows_that_keep_coming_during_commits_are_gathered(
    app: web.Application, scene: Scene
) -> None:
    """Rooms drawing at once: rows arriving while one is committed make the next transaction
    wait, and take what comes meanwhile, one commit for two rows; without gathering, each
    goes alone."""
    db = app[DATABASE]
    with _commits(db) as gathered:
        await _writes_arriving_during_commits(GroupCommit(db, gather=2.0), scene.session)
    await _delete_rows(db)
    with _commits(db) as alone:
        await _writes_arriving_during_commits(GroupCommit(db, gather=0), scene.session)
    assert (gathered[0], alone[0]) == (2, 3)


async def test_once_busy_rows_arriving_apart_share_the_next_transaction(
    app: web.Application, scene: Scene
) -> None:
    """Many rooms drawing: once rows have arrived while another was committed, a row that
    comes when nothing is being written waits for the next ``gather`` too, with whatever else
    comes meanwhile. A commit takes about half a millisecond: strokes arriving between
    commits had each been a transaction of their own."""
    db = app[DATABASE]
    writer = GroupCommit(db, gather=0.5)
    with _commits(db) as commits:
        await _writes_arriving_during_commits(writer, scene.session)  # two commits: busy
        alone = asyncio.create_task(writer.write(_row(scene.session, 3004)))
        for _ in range(10):  # turns of the loop, in which an idle writer would have begun
            await asyncio.sleep(0)
        assert not alone.done() and len(writer._pending) == 1  # waiting for the gather
        await asyncio.gather(alone, writer.write(_row(scene.session, 3005)))
    assert commits[0] == 3


async def test_one_caller_writing_one_thing_after_another_never_waits(
    app: web.Application, scene: Scene
) -> None:
    """A write when nothing is being written goes at once, even a moment after the last:
    with an hour's gathering, three writes one after another take three commits, not hours."""
    db = app[DATABASE]
    writer = GroupCommit(db, gather=3600)

    async def one_after_another() -> None:
        for n in range(3):
            await writer.write(_row(scene.session, 3100 + n))

    with _commits(db) as commits:
        await asyncio.wait_for(one_after_another(), 60)
    assert commits[0] == 3


async def test_rows_alone_are_inserted_as_they_were_given_in_one_transaction(
    app: web.Application, scene: Scene, backend: str
) -> None:
    """A batch of nothing but new rows is one insert a table: on SQLite on the connection
    kept for them (not the async driver's), on PostgreSQL on the engine's. Each row is stored
    as given, and a column left unset takes its default, in the same batch as rows that set
    it."""
    db = app[DATABASE]
    when = utcnow()
    rows = [_row(scene.session, 4000 + n) for n in range(5)]
    rows.append(BoardOp(appointment_id=scene.session, seq=4005, author="b", op_enc=b"\x00y"))
    main, kept = [0], [0]

    def on_main(*_: object) -> None:
        main[0] += 1

    def on_kept(*_: object) -> None:
        kept[0] += 1

    sa.event.listen(db.engine.sync_engine, "commit", on_main)
    if db.rows:
        sa.event.listen(db.rows.engine, "commit", on_kept)
    try:
        await asyncio.gather(*(GroupCommit(db).write(row) for row in rows[:1]))
        writer = GroupCommit(db)
        await asyncio.gather(*(writer.write(row) for row in rows[1:]))
    finally:
        sa.event.remove(db.engine.sync_engine, "commit", on_main)
        if db.rows:
            sa.event.remove(db.rows.engine, "commit", on_kept)
    assert (main[0], kept[0]) == ((0, 2) if backend == "sqlite" else (2, 0))
    async with db.read() as session:
        stored = list(
            await session.scalars(
                sa.select(BoardOp).where(BoardOp.seq >= 4000).order_by(BoardOp.seq)
            )
        )
    assert [(r.id, r.seq, r.author, r.op_enc, r.created_at) for r in stored[:5]] == [
        (r.id, r.seq, r.author, r.op_enc, r.created_at) for r in rows[:5]
    ]
    last = stored[5]
    assert (last.seq, last.author, last.op_enc) == (4005, "b", b"\x00y")
    assert len(last.id) == 32 and last.created_at >= when  # the columns' defaults


async def _delete_rows(db: Database) -> None:
    async with db.session() as session:
        await session.execute(sa.delete(BoardOp).where(BoardOp.seq >= 3000))


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


@contextmanager
def _statements(db: Database, about: set[str]) -> Iterator[list[str]]:
    """The first word of each statement the database is sent meanwhile with a parameter in
    ``about`` (so not the app's own jobs running meanwhile), and of each taking a log's
    write lock on SQLite (which has none); an ``executemany`` counts once."""
    said: list[str] = []

    def note(
        _conn: object, _cursor: object, statement: str, parameters: object, *_: object
    ) -> None:
        rows = parameters if isinstance(parameters, list) else [parameters]
        values = {v for row in rows for v in (row.values() if isinstance(row, dict) else row or ())}
        if values & about or "WHERE 0 = 1" in statement:
            said.append(statement.split(None, 1)[0].upper())

    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        yield said
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", note)


async def test_a_batch_of_log_entries_takes_the_lock_once_and_inserts_them_together(
    app: web.Application, client: TestClient, backend: str
) -> None:
    """On SQLite the whole file is locked by a batch's first write, and entries of other
    streams cannot move a stream's head: a batch of a hundred rooms' entries takes the
    lock, reads every head and inserts the entries in a statement each (not a statement an
    entry), and the logs are whole. On PostgreSQL each entry stays a transaction of its
    own."""
    db, log = app[DATABASE], app[SESSION_LOG]
    streams = [session_stream(f"b{n:04d}") for n in range(100)]
    await asyncio.gather(*(log.append(s, "room.opened", "system") for s in streams))
    with _commits(db) as commits, _statements(db, {*streams, "system"}) as said:
        await asyncio.gather(*(log.append(s, "participant.reconnected", "system") for s in streams))
    if backend == "sqlite":
        # a batch of one reads its head alone, a larger one all its heads at once, and
        # each takes the lock and inserts its entries once: a few batches, not 100 of each
        for word in ("SELECT", "UPDATE", "INSERT"):
            assert said.count(word) <= 3, said
    else:
        assert said.count("INSERT") == 100 <= commits[0], (commits, said)
    for stream in streams:
        assert [e.kind for e in await log.entries(stream)][-1] == "participant.reconnected"
        assert (await log.verify(stream)).intact


async def test_a_batch_of_places_lets_the_old_ones_go_at_once(
    app: web.Application, scene: Scene, backend: str
) -> None:
    """Fifty people given new tokens at once (a storm of resumes): on SQLite one statement
    a batch lets their old places go; each ends with one place, its newest token's, also
    when one of them is given two tokens in the same batch."""
    db, hub = app[DATABASE], app[HUB]
    room = hub.rooms.get_or_create(scene.session, relay_only=False)
    people = [room.add(Role.YOUNG_PERSON, f"p{n}") for n in range(50)]
    await asyncio.gather(*(hub.issue_resume(room, p) for p in people))
    with _statements(db, {p.id for p in people}) as said:
        tokens = await asyncio.gather(*(hub.issue_resume(room, p) for p in [*people, people[0]]))
    if backend == "sqlite":
        # once a batch, and a second place of the same person lets the first go itself
        assert said.count("DELETE") <= 4, said
    async with db.read() as session:
        held = (await session.execute(sa.select(Place.participant_id, Place.token_hash))).all()
    newest = {p.id: p.resume_hash for p in people}
    ours = [(pid, token_hash) for pid, token_hash in held if pid in newest]
    assert sorted(pid for pid, _ in ours) == sorted(newest)  # one place each
    assert all(newest[pid] == token_hash for pid, token_hash in ours)
    assert hub.find_resumable(tokens[-1]) == (room, people[0])
    assert hub.find_resumable(tokens[0]) is None  # spent by the second


async def test_two_entries_of_one_stream_in_a_prepared_batch_follow_each_other(
    app: web.Application, client: TestClient
) -> None:
    """A batch whose heads were read at once holds two units for the same stream: the
    second follows the head the first wrote, not the one read before either ran."""
    db, log = app[DATABASE], app[SESSION_LOG]
    stream = session_stream("prepared-stream")
    await log.append(stream, "room.opened", "system")
    writer = GroupCommit(db)
    first = _Append(log, stream, [("participant.joined", "system", {})])
    second = _Append(log, stream, [("participant.admitted", "system", {})])
    assert await writer._commit([first, second]) == [2, 3]
    assert [e.kind for e in await log.entries(stream)] == [
        "room.opened",
        "participant.joined",
        "participant.admitted",
    ]
    assert (await log.verify(stream)).intact


async def test_entries_of_one_stream_in_one_transaction_follow_each_other(
    app: web.Application, client: TestClient
) -> None:
    """Two units of one transaction that add to the same stream (which the process's own
    lock a stream keeps apart, but another caller may not): the second reads the head the
    first wrote, and the log stays whole."""
    db, log = app[DATABASE], app[SESSION_LOG]
    stream = session_stream("same-stream")
    async with db.session() as session:
        first = await log._add(session, stream, [("room.opened", "system", {})])
        second = await log._add(session, stream, [("participant.joined", "system", {})])
    assert (first, second) == (1, 2)
    assert (await log.verify(stream)).intact


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
