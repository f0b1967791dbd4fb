"""A board comes back from its stored snapshot and the operations after it
(``server/board/saving.py``): written beside the room every few hundred operations and as
the board leaves, sealed, never holding an operation storage does not; and rooms load side by
side, each once however many ask for it at the same moment."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from media.board import parse_op
from media.compaction import dump_board
from server.appkeys import DATABASE, KEYRING, WHITEBOARDS
from server.board import service
from server.board.loading import Stored
from server.board.saving import read_snapshot
from server.board.service import RoomBoard
from server.board.whiteboards import Whiteboards
from server.storage.groupcommit import GroupCommit
from server.storage.models import Base
from server.storage.session_models import BoardOp, BoardSnapshot
from tests.conftest import Staff
from tests.factories import therapist_view
from tests.fill import fill_client
from tests.scenes import Scene, stroke


async def _stored(app: web.Application, appointment_id: str) -> tuple[int | None, int | None]:
    """The seq of the stored snapshot, and of the last stored operation."""
    async with app[DATABASE].read() as session:
        saved = await session.scalar(
            sa.select(BoardSnapshot.seq).where(BoardSnapshot.appointment_id == appointment_id)
        )
        last = await session.scalar(
            sa.select(sa.func.max(BoardOp.seq)).where(BoardOp.appointment_id == appointment_id)
        )
    return saved, last


async def test_a_board_loads_from_its_snapshot_and_only_the_operations_after_it(
    app: web.Application, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    t, y = scene.therapist, scene.young
    room = app[WHITEBOARDS].boards[scene.session]
    monkeypatch.setattr(service, "SNAPSHOT_EVERY", 10)
    room._next_save = 10
    for op in stroke("t-1", 100):
        t.draw(op)
    y.draw(
        {"op": "text", "id": "y-1", "x": 10, "y": 10, "text": "Hello there", "colour": "#000000"}
    )
    y.draw({"op": "undo"})
    await t.wait_for(lambda: t.board.seq == 23)
    assert room._saving is not None
    await room._saving  # written beside the room once ten were stored
    saved, last = await _stored(app, scene.session)
    assert saved is not None and 10 <= saved < 23 and last == 23
    async with app[DATABASE].read() as session:
        blob = await session.scalar(sa.select(BoardSnapshot.state_enc))
    assert blob is not None and b"Hello" not in blob and b"t-1" not in blob  # sealed

    replayed: list[str] = []

    def counted(text: Any) -> Any:
        replayed.append(text)
        return parse_op(text)

    monkeypatch.setattr(service, "parse_op", counted)
    fresh = Whiteboards(room.db, room.ring)
    reloaded = await fresh.get(scene.session, room.client_id)
    assert len(replayed) == 23 - saved  # the snapshot, then only the operations after it
    assert dump_board(reloaded.board) == dump_board(room.board)  # undo stacks too
    assert reloaded.saved == saved


async def test_a_snapshot_never_holds_an_operation_storage_has_not_committed(
    app: web.Application, scene: Scene
) -> None:
    """An operation waiting for its commit is not on the board yet: a snapshot written
    meanwhile holds the board as storage does."""
    t = scene.therapist
    room = app[WHITEBOARDS].boards[scene.session]
    for op in stroke("t-1", 100):
        t.draw(op)
    await t.wait_for(lambda: t.board.seq == 21)
    writing, commit = asyncio.Event(), asyncio.Event()

    class Held(GroupCommit):
        async def write(self, row: Base) -> None:
            writing.set()
            await commit.wait()
            await super().write(row)

    room.writer = Held(room.db)
    sun = parse_op({"op": "sticker", "id": "sun", "name": "sun", "x": 5, "y": 5})
    submitting = asyncio.create_task(room.submit("staff:t", sun, may_clear=True))
    await writing.wait()
    await room.save()
    assert await _stored(app, scene.session) == (21, 21)
    commit.set()
    await submitting
    assert room.board.seq == 22
    await room.save()
    assert await _stored(app, scene.session) == (22, 22)
    older = RoomBoard(scene.session, room.client_id, room.db, room.ring)
    await older.load()
    older.board.seq, older.saved = 21, 0  # a slower writer of an older board
    await older.save()
    assert await _stored(app, scene.session) == (22, 22)  # only ever forward


async def test_a_board_is_written_down_as_it_leaves_and_at_shutdown(
    app: web.Application, scene: Scene
) -> None:
    t = scene.therapist
    whiteboards = app[WHITEBOARDS]
    for op in stroke("t-1", 100):
        t.draw(op)
    await t.wait_for(lambda: t.board.seq == 21)
    assert await _stored(app, scene.session) == (None, 21)  # fewer than 500: none yet
    room = whiteboards.boards[scene.session]
    whiteboards.forget(scene.session)
    await asyncio.gather(*whiteboards._saving)
    assert await _stored(app, scene.session) == (21, 21)
    whiteboards.boards[scene.session] = room  # back, and drawn on again
    t.draw({"op": "sticker", "id": "sun", "name": "sun", "x": 5, "y": 5})
    await t.wait_for(lambda: t.board.seq == 22)
    await whiteboards.close_all()
    assert await _stored(app, scene.session) == (22, 22)


async def _two_sessions(app: web.Application, therapist: Staff) -> tuple[str, str]:
    staff_id = (await therapist_view(app, therapist.username)).id
    when = datetime.now(UTC) - timedelta(days=1)
    first = await fill_client(app, staff_id, when, name="Robin")
    second = await fill_client(app, staff_id, when, name="Alex")
    return first["appointments"][0], second["appointments"][0]


async def test_rooms_load_side_by_side_each_once_for_all_who_ask(
    app: web.Application, client: TestClient, therapist: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one room's board loads (held here until the other's has), another room's loads
    all the same; everyone asking for the first room at once shares its one load, and one of
    them giving up stops it for nobody."""
    a, b = await _two_sessions(app, therapist)
    entered: list[str] = []
    loaded: list[str] = []
    a_entered, b_loaded = asyncio.Event(), asyncio.Event()
    load = RoomBoard.load_from  # the board opened from what was read for it

    async def held(self: RoomBoard, stored: Stored) -> None:
        entered.append(self.appointment_id)
        a_entered.set()
        if self.appointment_id == a:  # the other room's board loads meanwhile, if anything lets it
            with contextlib.suppress(TimeoutError):  # (and were it kept waiting, this goes on)
                await asyncio.wait_for(b_loaded.wait(), 10)
        await load(self, stored)
        loaded.append(self.appointment_id)
        if self.appointment_id == b:
            b_loaded.set()

    monkeypatch.setattr(RoomBoard, "load_from", held)
    whiteboards = Whiteboards(app[DATABASE], app[KEYRING])
    first = asyncio.create_task(whiteboards.get(a, "c"))
    await a_entered.wait()
    gives_up = asyncio.create_task(whiteboards.get(a, "c"))
    other = asyncio.create_task(whiteboards.get(b, "c"))
    also = asyncio.create_task(whiteboards.get(a, "c"))
    await asyncio.sleep(0)
    gives_up.cancel()
    boards = await asyncio.gather(first, other, also)
    assert loaded == [b, a]  # the other room's board loaded while this one's was under way
    assert entered.count(a) == 1 and boards[0] is boards[2] is whiteboards.boards[a]
    assert boards[1].board.seq == boards[0].board.seq == 1
    assert gives_up.cancelled()


async def test_a_snapshot_that_cannot_be_read_is_passed_over_for_the_operations(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    a, _ = await _two_sessions(app, therapist)
    async with app[DATABASE].session() as session:  # not the board its operations make
        await session.execute(sa.update(BoardSnapshot).values(state_enc=b"\x01" * 60))
    assert await read_snapshot(app[DATABASE], app[KEYRING], a) is None
    board = await Whiteboards(app[DATABASE], app[KEYRING]).get(a, "c")
    assert board.board.seq == 1 and "s1" in board.board.elements


async def test_boards_asked_for_while_one_is_read_are_read_together(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    """A restart's storm: the boards asked for while one board's read is under way are read
    next, together, in three statements for all of them; each is the board its room's
    storage holds, as read alone."""
    rooms = [*await _two_sessions(app, therapist), *await _two_sessions(app, therapist)]
    db = app[DATABASE]
    selects: list[str] = []
    reading = asyncio.Event()
    loop = asyncio.get_running_loop()

    def counted(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)
            loop.call_soon_threadsafe(reading.set)

    whiteboards = Whiteboards(db, app[KEYRING])
    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", counted)
    try:
        first = asyncio.create_task(whiteboards.get(rooms[0], "c"))
        await asyncio.wait_for(reading.wait(), 10)  # its read under way
        boards = await asyncio.gather(first, *(whiteboards.get(r, "c") for r in rooms[1:]))
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", counted)
    assert len(selects) == 6, selects  # three for the first, three for the three after it
    for room, board in zip(rooms, boards, strict=True):
        alone = await Whiteboards(db, app[KEYRING]).get(room, "c")
        assert board.appointment_id == room and board.board.seq == 1
        assert dump_board(board.board) == dump_board(alone.board)
