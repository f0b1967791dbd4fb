"""Loading boards from storage, as a server does for each room after a restart: a board of
40,000 stored operations (200 strokes drawn point by point, 200 operations each), replayed
whole as before, and from its snapshot and the operations after it as now (the snapshot
written 499 operations before the end: the most a board ever replays past its snapshot);
then 50 rooms' boards (2,000 operations each) loaded at once, one after another as under the
one lock of before, and side by side from their snapshots as now; and how long a small
room's board takes when it is asked for just after the big one's. Each figure is the median
of several runs, in milliseconds, on SQLite in a folder of its own."""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from media.board import Board, parse_op
from server.board import service
from server.board.saving import SNAPSHOT_EVERY, write_snapshot
from server.board.service import RoomBoard
from server.board.whiteboards import Whiteboards
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal
from server.settings import Settings
from server.storage.db import Database, utcnow
from server.storage.migrate import upgrade
from server.storage.models import Appointment, Client, User, new_id
from server.storage.opening import open_storage
from server.storage.session_models import BoardOp
from tests.bench.report import write

BIG = 40_000  # operations of the one big board
ROOMS, ROOM_OPS = 50, 2_000  # the storm of rooms after a restart
OPS_PER_STROKE = 200  # a stroke's begin, its points four at a time, its end
RUNS = 5


def strokes(count: int, author: str) -> list[tuple[str, dict[str, Any]]]:
    """``count`` operations of strokes drawn as a page sends them."""
    ops: list[tuple[str, dict[str, Any]]] = []
    n = 0
    while len(ops) < count:
        sid, y = f"s{n}", 20 + (n * 7) % 900
        ops.append((author, {"op": "stroke_begin", "id": sid, "colour": "#204080", "width": 4,
                             "points": [[10, y, 0.5]]}))  # fmt: skip
        for i in range(OPS_PER_STROKE - 2):
            x = 10 + (i * 4) % 1400
            points = [[x + k, y + (i % 9), 0.5] for k in range(4)]
            ops.append((author, {"op": "stroke_points", "id": sid, "points": points}))
        ops.append((author, {"op": "stroke_end", "id": sid}))
        n += 1
    return ops[:count]


async def _people(db: Database, ring: KeyRing) -> tuple[str, str]:
    user = User(id=new_id(), login_index=new_id(), role="therapist", password_hash="-")
    seal(ring, user, "username_enc", "bench")
    seal(ring, user, "display_name_enc", "Bench")
    client = Client(id=new_id(), named_worker_id=user.id, ithrive="getting_help", risk_level="low")
    seal(ring, client, "display_name_enc", "Robin")
    async with db.session() as session:
        session.add(user)
        await session.flush()
        session.add(client)
    return user.id, client.id


async def _session(
    db: Database, ring: KeyRing, people: tuple[str, str], ops: list[tuple[str, dict[str, Any]]]
) -> str:
    """A session whose board's operations are stored, sealed, as the board stores them."""
    therapist, client = people
    now = utcnow()
    appointment = Appointment(
        id=new_id(), client_id=client, therapist_id=therapist, starts_at=now, ends_at=now
    )
    async with db.session() as session:
        session.add(appointment)
    for start in range(0, len(ops), 5_000):
        rows = []
        for seq, (author, op) in enumerate(ops[start : start + 5_000], start + 1):
            row = BoardOp(
                id=new_id(), appointment_id=appointment.id, seq=seq, author=author, created_at=now
            )
            seal(ring, row, "op_enc", parse_op(op).model_dump_json())
            rows.append(row)
        async with db.session() as session:
            session.add_all(rows)
    return appointment.id


async def _snapshot(
    db: Database, ring: KeyRing, appointment_id: str, ops: list[tuple[str, dict[str, Any]]]
) -> None:
    """The board's snapshot as the server writes it every ``SNAPSHOT_EVERY`` operations, as
    far behind as it ever is: ``SNAPSHOT_EVERY - 1`` operations stored after it."""
    board = Board()
    upto = len(ops) - (SNAPSHOT_EVERY - 1)
    for author, op in ops[:upto]:
        board.apply(author, parse_op(op))
    await write_snapshot(db, ring, appointment_id, board)


async def _median_ms(work: Callable[[], Awaitable[object]]) -> dict[str, float]:
    times = []
    for _ in range(RUNS):
        began = time.perf_counter()
        await work()
        times.append((time.perf_counter() - began) * 1000)
    return {"median": round(statistics.median(times), 1), "min": round(min(times), 1),
            "max": round(max(times), 1)}  # fmt: skip


async def measure(folder: Path) -> dict[str, Any]:
    settings = Settings(data_dir=folder)
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    storage = await open_storage(settings)
    db, ring = storage.db, storage.ring
    try:
        people = await _people(db, ring)
        big_ops = strokes(BIG, "staff:bench")
        big = await _session(db, ring, people, big_ops)
        await _snapshot(db, ring, big, big_ops)
        room_ops = strokes(ROOM_OPS, "young_person:p1")
        rooms = [await _session(db, ring, people, room_ops) for _ in range(ROOMS)]
        for room in rooms:
            await _snapshot(db, ring, room, room_ops)

        async def one() -> None:
            board = RoomBoard(big, people[1], db, ring)
            await board.load()
            assert board.board.seq == BIG

        async def one_at_a_time() -> None:  # as under the one lock of before
            boards = Whiteboards(db, ring)
            for room in rooms:
                await boards.get(room, people[1])

        async def side_by_side() -> None:
            boards = Whiteboards(db, ring)
            await asyncio.gather(*(boards.get(room, people[1]) for room in rooms))

        async def behind(in_turn: bool) -> float:
            """A small room's board asked for just after the big one's: how long it takes."""
            boards = Whiteboards(db, ring)
            big_load = asyncio.create_task(boards.get(big, people[1]))
            await asyncio.sleep(0)  # the big board's load is under way
            began = time.perf_counter()
            if in_turn:
                await big_load  # as under the one lock of before
            await boards.get(rooms[0], people[1])
            took = (time.perf_counter() - began) * 1000
            await big_load
            return took

        async def behind_ms(in_turn: bool) -> float:
            return round(statistics.median([await behind(in_turn) for _ in range(RUNS)]), 1)

        service.SNAPSHOT_EVERY = 10**9  # loads only: no board written while they are timed
        snapshot = service.open_snapshot
        service.open_snapshot = _none  # type: ignore[assignment]  # as before: replay all
        try:
            replay = await _median_ms(one)
            rooms_replay_in_turn = await _median_ms(one_at_a_time)
            rooms_replay_side_by_side = await _median_ms(side_by_side)
            small_before = await behind_ms(in_turn=True)
        finally:
            service.open_snapshot = snapshot
        compacted = await _median_ms(one)
        rooms_compacted_in_turn = await _median_ms(one_at_a_time)
        rooms_compacted_side_by_side = await _median_ms(side_by_side)
        small_now = await behind_ms(in_turn=False)
        async with db.read() as session:
            snapshot_bytes = await session.scalar(
                sa.text("SELECT length(state_enc) FROM board_snapshots WHERE appointment_id = :a"),
                {"a": big},
            )
    finally:
        await db.dispose()
    return {
        "runs": RUNS,
        "snapshot_every": SNAPSHOT_EVERY,
        "one_board_40000_ops": {
            "replay_all_ms": replay,
            "snapshot_and_tail_ms": compacted,
            "tail_ops": SNAPSHOT_EVERY - 1,
            "snapshot_bytes": snapshot_bytes,
        },
        f"{ROOMS}_rooms_{ROOM_OPS}_ops_each": {
            "replay_one_at_a_time_ms": rooms_replay_in_turn,
            "replay_side_by_side_ms": rooms_replay_side_by_side,
            "snapshot_one_at_a_time_ms": rooms_compacted_in_turn,
            "snapshot_side_by_side_ms": rooms_compacted_side_by_side,
        },
        "small_room_asked_for_after_the_big_one_ms": {
            "before_one_lock_replay": small_before,
            "now_side_by_side_snapshots": small_now,
        },
    }


async def _none(*_: object) -> None:
    return None


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        figures = asyncio.run(measure(Path(folder)))
    for name, row in figures.items():
        print(name, row)
    write("board_load", figures, {"python": sys.version.split()[0]})


if __name__ == "__main__":
    main()
