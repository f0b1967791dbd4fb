"""SQLite through aiosqlite, one trip to the connection's thread a statement.

aiosqlite runs each SQLite connection on a thread of its own and hands it one call at a time.
SQLAlchemy's adapter makes four calls of a statement: open a cursor, execute, fetch the rows,
close the cursor. Each call is a hand-over from the event loop to the thread and back (a
queue, a wake-up, a callback, a turn of the loop), and that hand-over costs the event loop
far more than SQLite's own work on a small indexed query. After a restart a hundred pages
resume at once, each reading and writing a dozen rows: four hand-overs a statement were most
of what the server did then (``docs/performance.md``, A restart storm).

Here a statement is one call: the thread opens the cursor, executes, fetches every row and
closes the cursor, and hands back the rows with what the cursor said (description, row count,
last row id). Nothing else changes: the same aiosqlite connection, pool, dialect, SQL and
transactions. Server-side cursors (none used here) keep SQLAlchemy's own adapter.

It builds on SQLAlchemy 2.1's adapter (its cursor's ``_make_new_cursor``, ``_aenter_cursor``
and ``_execute_async``) and uses what that adapter uses of aiosqlite 0.22 beyond its public
calls: the connection's queue of calls (``_execute``), its ``sqlite3`` connection (``_conn``)
and its thread (``_thread``). ``pyproject.toml`` asks for those versions at least, and
``tests/test_sqlite_driver.py`` fails when one of them is gone.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import TYPE_CHECKING, Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

if TYPE_CHECKING:
    import aiosqlite


class Finished:
    """What a statement's cursor said once it was closed."""

    __slots__ = ("arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.description = cursor.description
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid
        self.arraysize = cursor.arraysize

    def close(self) -> None:
        """Closed already, in the connection's thread."""


def _statement(
    connection: aiosqlite.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Finished, list[Any] | None]:
    """In the connection's thread: the whole statement, rows and all."""
    cursor = connection._conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else None
        return Finished(cursor), rows
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's cursor for aiosqlite, each statement one call to the thread."""

    __slots__ = ()
    _awaitable_cursor_close = False  # nothing open to close: the thread closed it

    def _make_new_cursor(self, connection: Any) -> Any:
        return None

    def _aenter_cursor(self, cursor: Any) -> Any:
        return cursor

    @property
    def description(self) -> Any:
        return None if self._cursor is None else self._cursor.description

    @property
    def rowcount(self) -> int:
        return -1 if self._cursor is None else self._cursor.rowcount

    @property
    def lastrowid(self) -> int:
        return 0 if self._cursor is None else self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return 1 if self._cursor is None else self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        if self._cursor is not None:
            self._cursor.arraysize = value

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            connection = self._connection
            self._cursor, rows = await connection._execute(
                _statement, connection, operation, parameters, many
            )
            if rows is not None:
                self._rows = collections.deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """aiosqlite as a DB-API module whose connections run a statement in one call."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        creator = kw.pop("async_creator_fn", None)
        if creator is not None:
            connection = creator(*arg, **kw)
        else:
            connection = self.aiosqlite.connect(*arg, **kw)
            connection._thread.daemon = True  # as SQLAlchemy's own adapter does
        return OneTripConnection(self, await_(connection))


def dbapi() -> OneTripDBAPI:
    """The module to give ``create_async_engine`` (``module=``) for a ``sqlite+aiosqlite`` URL."""
    import aiosqlite

    return OneTripDBAPI(aiosqlite, sqlite3)
