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
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
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


def make_engine(url: str) -> AsyncEngine:
    """Create the engine; for SQLite, make sure its folder exists and set the pragmas."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # IMMEDIATE: the transaction the driver begins before a unit of work's first write
        # takes the file's write lock as it begins (see the module's docstring)
        engine = create_async_engine(
            url, connect_args={"timeout": 5, "isolation_level": "IMMEDIATE"}
        )
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


class Database:
    """The engine and a session factory, with the checks made at start-up."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # SQLite: one writer at a time in this process (see the module's docstring)
        self.writer = Writer() if self.engine.dialect.name == "sqlite" else None
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
        await self.engine.dispose()


def is_read_only_error(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return "readonly" in text or "read-only" in text or "read only" in text
