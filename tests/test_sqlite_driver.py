"""SQLite statements make one trip to the connection's thread, and behave as before: rows,
row counts, last row ids, many rows at once, errors, transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from server.storage.db import make_engine
from server.storage.sqlite_driver import OneTripCursor

TABLE = "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[sa.ext.asyncio.AsyncEngine]:
    made = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with made.begin() as conn:
        await conn.execute(sa.text(TABLE))
    yield made
    await made.dispose()


def test_the_parts_of_aiosqlite_and_sqlalchemy_it_uses_are_there() -> None:
    """aiosqlite's queue of calls, sqlite3 connection and thread, and the hooks of
    SQLAlchemy's cursor it overrides: a version without them fails here, not in a room."""
    assert callable(aiosqlite.Connection._execute)
    assert isinstance(aiosqlite.Connection.__dict__["_conn"], property)
    assert "_thread" in aiosqlite.Connection.__init__.__code__.co_names
    base = OneTripCursor.__mro__[1]
    for hook in ("_make_new_cursor", "_aenter_cursor", "_execute_async", "_executemany_async"):
        assert callable(getattr(base, hook)), hook
    assert hasattr(base, "_awaitable_cursor_close")


async def test_a_statement_is_one_call_to_the_thread(
    engine: sa.ext.asyncio.AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(
        self: aiosqlite.Connection, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        calls.append(getattr(fn, "__name__", "?"))
        return await real(self, fn, *args, **kwargs)

    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert raw.driver_connection is not None
        assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)  # type: ignore[union-attr]
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        await conn.execute(sa.text("SELECT 1"))
        assert calls == ["_statement"]  # SQLAlchemy's own adapter: cursor, execute, fetchall, close


async def test_rows_counts_ids_and_many_rows_come_back_as_before(
    engine: sa.ext.asyncio.AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        added = await conn.execute(sa.text("INSERT INTO t (name) VALUES ('ash')"))
        assert added.lastrowid == 1 and added.rowcount == 1
        await conn.execute(
            sa.text("INSERT INTO t (name) VALUES (:name)"), [{"name": "bo"}, {"name": "cy"}]
        )
        changed = await conn.execute(sa.text("UPDATE t SET name = name || '!' WHERE id > 1"))
        assert changed.rowcount == 2
        rows = (await conn.execute(sa.text("SELECT id, name FROM t ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, "ash"), (2, "bo!"), (3, "cy!")]
        result = await conn.execute(sa.text("SELECT name FROM t ORDER BY id"))
        assert result.keys() == ["name"]
        assert result.fetchone() == ("ash",)
        assert result.fetchmany(5) == [("bo!",), ("cy!",)]


async def test_an_error_is_raised_as_before_and_the_transaction_rolls_back(
    engine: sa.ext.asyncio.AsyncEngine,
) -> None:
    async def add(conn: sa.ext.asyncio.AsyncConnection) -> None:
        await conn.execute(sa.text("INSERT INTO t (name) VALUES ('dee')"))
        await conn.execute(sa.text("INSERT INTO t (name) VALUES ('dee')"))

    async def run(work: Callable[[sa.ext.asyncio.AsyncConnection], Awaitable[None]]) -> None:
        async with engine.begin() as conn:
            await work(conn)

    with pytest.raises(IntegrityError):
        await run(add)
    async with engine.connect() as conn:
        count = (await conn.execute(sa.text("SELECT count(*) FROM t"))).scalar_one()
        assert count == 0  # nothing of the failed transaction kept; the connection still works
