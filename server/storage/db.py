"""Database engine: SQLite (embedded default, WAL) or PostgreSQL, through SQLAlchemy 2 async.

On SQLite every write of this process takes its turn as the one writer
(``Database.session``): SQLite has one write lock for the whole file, and connections that
wait for it poll it from their own threads (the busy timeout), in no order. While the event
loop is busy with live rooms, a transaction holds the lock across several turns of the loop
(each statement and the commit are a turn away), so a writer among many can miss the lock for
the whole busy timeout and fail with "database is locked": a request dropped where it should
have waited. Here writers queue in the event loop instead, first come first served, for as
long as it takes. The driver begins a transaction just before a unit of work's first write,
and begins it ``IMMEDIATE``: the write lock is asked for once, at the start, under the busy
timeout, and never upgraded from a read lock midway (which SQLite refuses at once, busy
timeout or not, when another connection wrote in between). The busy timeout is left to
writers of other processes (the ``playroom`` command beside a running server). PostgreSQL
takes concurrent writers itself, each row locked as it is written: no turn is taken there.

New rows alone (a board's operations, the chat: ``Database.insert``) are written on SQLite by
a connection and a thread of their own, a transaction in one trip to that thread. Through
the async driver a transaction of one row was some eight trips (a cursor, the statement,
its close, the commit, the connection's reset), each a hand-over to SQLite's thread and a
wake-up of the event loop, and about 1 ms of CPU; in one trip, with SQLAlchemy's Core
rather than its unit of work, it is about 0.3 ms (``docs/performance.md``, §10).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from server.exceptions import ConfigurationError, StorageUnavailable

T = TypeVar("T")
# ids per ``IN (...)`` list: well under every backend's limit on bound parameters
BATCH_SIZE = 500


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed transaction survives a power cut, not only a process crash.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def batches(items: Sequence[T], size: int | None = None) -> Iterator[Sequence[T]]:
    """``items`` in slices of at most ``size`` (``BATCH_SIZE``), for ``IN (...)`` lists."""
    size = size or BATCH_SIZE
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ReadOnlySession(Session):
    """A session that refuses to write: a read that changed an object fails loudly, rather
    than having its change silently dropped by the rollback that ends it."""

    def flush(self, objects: Sequence[Any] | None = None) -> None:
        if not self._is_clean():
            raise RuntimeError("A read-only session was asked to write.")


def sqlite_path(url: str) -> Path | None:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database)


# the busy timeout (seconds), and IMMEDIATE: the transaction the driver begins before a unit of
# work's first write takes the file's write lock as it begins (see the module's docstring)
SQLITE_CONNECT = {"timeout": 5, "isolation_level": "IMMEDIATE"}


def make_engine(url: str) -> AsyncEngine:
    """Create the engine; for SQLite, make sure its folder exists and set the pragmas."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args=SQLITE_CONNECT)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


class Writer:
    """The turn to write, one transaction at a time, in the order they asked (SQLite)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()  # wakes its waiters in the order they came
        self._holder: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        me = asyncio.current_task()
        if me is not None and me is self._holder:
            # a write opened inside another: it would wait for ever on the one around it
            raise RuntimeError("A write was begun inside another write.")
        async with self._lock:
            self._holder = me
            try:
                yield
            finally:
                self._holder = None


class RowWriter:
    """SQLite: new rows inserted on a connection and a thread of their own, each transaction
    in one trip to that thread (see the module's docstring). Used in this process's turn to
    write, like every other write.

    The connection is kept between transactions, only ever used from that thread: taken from
    the pool and given back (its reset, a rollback) for each, a transaction of one row cost
    0.35 ms of CPU, against 0.22 ms kept (``docs/performance.md``, §10). After a failed
    transaction it is closed, and the next opens a new one."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(
            sa.engine.make_url(url).set(drivername="sqlite+pysqlite"),
            connect_args={**SQLITE_CONNECT, "check_same_thread": False},
            pool_size=1,
            max_overflow=0,
        )
        event.listen(self.engine, "connect", _sqlite_pragmas)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-rows")
        self._conn: sa.Connection | None = None  # used in ``_thread`` alone

    async def insert(self, tables: list[tuple[sa.Table, list[dict[str, Any]]]]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._insert, tables)

    def _insert(self, tables: list[tuple[sa.Table, list[dict[str, Any]]]]) -> None:
        if self._conn is None:
            self._conn = self.engine.connect()
        try:
            with self._conn.begin():
                for table, values in tables:
                    self._conn.execute(table.insert(), values)
        except BaseException:
            self._release()  # rolled back; whatever went wrong, the next starts afresh
            raise

    def _release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def close(self) -> None:
        self._thread.submit(self._release)
        self._thread.shutdown(wait=True)
        self.engine.dispose()


def _by_table(rows: Sequence[Any]) -> list[tuple[sa.Table, list[dict[str, Any]]]]:
    """New ORM objects as the values of one ``INSERT`` a table (and set of columns given), in
    the order their tables first come; a column left unset takes its default."""
    tables: dict[tuple[sa.Table, frozenset[str]], list[dict[str, Any]]] = {}
    for row in rows:
        state = sa.inspect(row)
        values = {
            attr.columns[0].key: state.dict[attr.key]
            for attr in state.mapper.column_attrs
            if attr.key in state.dict
        }
        table = state.mapper.local_table
        assert isinstance(table, sa.Table)
        tables.setdefault((table, frozenset(values)), []).append(values)
    return [(table, values) for (table, _), values in tables.items()]


class Database:
    """The engine and a session factory, with the checks made at start-up."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # SQLite: one writer at a time in this process (see the module's docstring)
        sqlite = self.engine.dialect.name == "sqlite"
        self.writer = Writer() if sqlite else None
        self.rows = RowWriter(url) if sqlite else None
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # PostgreSQL begins these transactions READ ONLY (no extra round trip: asyncpg puts
        # it in the BEGIN); SQLite's driver begins none for a SELECT
        readers = self.engine
        if self.engine.dialect.name == "postgresql":
            readers = self.engine.execution_options(postgresql_readonly=True)
        self.readers = async_sessionmaker(
            readers, expire_on_commit=False, sync_session_class=ReadOnlySession
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work that writes: commits on success, rolls back on error. On SQLite it
        waits for this process's turn to write and holds it until it ends, so keep it to the
        database's own work (nothing sent over a network inside it), and open no other
        ``session`` inside one (that raises at once rather than wait for ever). A unit of
        work that only reads is ``read``."""
        if self.writer is None:
            async with self._unit() as session:
                yield session
            return
        async with self.writer.turn(), self._unit() as session:
            yield session

    async def insert(self, rows: Sequence[Any]) -> None:
        """Insert ``rows`` (new ORM objects, of any tables) in one transaction and commit it;
        nothing else is read or written in it. The objects stay as they were (not added to
        any session)."""
        tables = _by_table(rows)
        if self.rows is None or self.writer is None:
            async with self._unit() as session:
                for table, values in tables:
                    await session.execute(table.insert(), values)
            return
        async with self.writer.turn():
            await self.rows.insert(tables)

    @asynccontextmanager
    async def _unit(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except DBAPIError as exc:
                await session.rollback()
                if is_read_only_error(exc):
                    raise StorageUnavailable(
                        "The database cannot be written to right now; nothing was changed."
                    ) from exc
                raise
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def read(self, within: AsyncSession | None = None) -> AsyncIterator[AsyncSession]:
        """A unit of work that only reads: nothing to commit, so none is sent; closing it
        rolls back its transaction (on PostgreSQL a READ ONLY one, as cheap as a commit; on
        SQLite, whose driver opens no transaction for a read, there is none to end) and
        leaves what it loaded usable. ``within``, when given, is used instead (several reads
        of one request share one session)."""
        if within is not None:
            yield within
            return
        async with self.readers() as session:
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def check_writable(self) -> None:
        """Prove the database takes writes, with a write that changes nothing."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(sa.text("UPDATE alembic_version SET version_num = version_num"))
        except DBAPIError as exc:
            if is_read_only_error(exc):
                where = sqlite_path(self.url) or "the database"
                raise ConfigurationError(
                    f"{where} is read-only: the server needs to write to it. "
                    "Check the file's permissions and the disk."
                ) from exc
            raise

    async def dispose(self) -> None:
        if self.rows is not None:
            self.rows.close()
        await self.engine.dispose()


def is_read_only_error(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return "readonly" in text or "read-only" in text or "read only" in text
