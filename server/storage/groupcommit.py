"""Group commit: rows from every room written together, one transaction for all that arrived
while the previous one was being written.

A board operation is on disk before anyone sees it. With SQLite at ``synchronous=FULL`` a
commit costs a few milliseconds of fsync whatever it holds, so one transaction per point
drawn caps a process at a few hundred points a second across all its rooms, and past that
writers time out on the database lock. Writing whatever is waiting in one transaction keeps
each row's promise (its caller resumes only once it is committed) at one fsync per batch.

A row that arrives while nothing is being written is written at once. Once a row arrives
while another is committed (many rooms drawing at once), the writer is busy: a transaction
begins at most every ``gather`` after the one before, and takes everything that came
meanwhile, until a ``gather`` passes with nothing in it. A transaction costs the process CPU
of its own besides its rows, and at 500 rooms drawing, a stroke a second each, nearly every
stroke had been one: a commit takes about half a millisecond, so most strokes found the
writer idle, went at once, and started no gathering (``docs/performance.md``, §10). One
caller writing one thing after another never waits: nothing arrives while its write is
committed, so the writer is idle again before its next.

Besides rows, a batch takes units of work that read before they write (``transaction``:
an entry of a session's log reads its stream's head; a place replaces the one before it).
On SQLite, where every write of the process waits its turn as the one writer, a burst of
them (a hundred pages resuming after a restart, each logged and given a new place) would
otherwise be a hundred fsyncs one after the other. On PostgreSQL, whose writers do not queue
behind one another, each stays a transaction of its own, so that no unit holds the locks it
takes (a log's advisory lock) for others.

A kind of unit can prepare for all of its kind in a batch at once (a ``prepare`` of its own):
the heads of every stream the batch writes to are read in one statement, and the places it
replaces are deleted in one, instead of a statement a unit. Each statement is a turn of the
event loop to SQLite's thread and back, and during a restart's storm of resumes a turn is
slow: a batch of fifty units took most of a second (``docs/performance.md``, §12).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from server.exceptions import StorageUnavailable
from server.storage.db import Database
from server.storage.models import Base

log = logging.getLogger(__name__)
MAX_BATCH = 500
# while writes keep coming, a transaction begins at most this often (seconds)
GATHER = 0.01
T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[Any]]


class GroupCommit:
    def __init__(self, db: Database, gather: float = GATHER) -> None:
        self.db = db
        self.gather = gather
        self._pending: list[tuple[Work, asyncio.Future[Any]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, row: Base) -> None:
        """Add ``row``; returns once it is committed (raises if it could not be)."""
        await self._queue(_Row(row))

    async def transaction(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run ``work`` in a transaction and commit it; returns what it returned. On SQLite
        it shares its transaction with whatever else is waiting; should that batch fail,
        ``work`` runs again alone, so it must read what it writes after (as it would in a
        transaction of its own). Its errors are raised here."""
        if self.db.writer is None:
            async with self.db.session() as session:
                return await work(session)
        result: T = await self._queue(work)
        return result

    async def _queue(self, work: Work) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await future

    async def _write_all(self) -> None:
        loop = asyncio.get_running_loop()
        busy = False  # others write too: one transaction a ``gather`` until one comes empty
        try:
            while self._pending:
                began = loop.time()
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    await self._batch(batch)
                finally:  # cancelled (at shutdown) or worse: nobody is left waiting for ever
                    _unfinished(batch)
                # more came while it was written: more will, and what comes until the next
                # ``gather`` is gathered for one commit, even once nothing is waiting; a
                # ``gather`` that brings nothing ends it
                busy = busy or bool(self._pending)
                wait = began + self.gather - loop.time()
                if busy and len(self._pending) < MAX_BATCH and wait > 0:
                    await asyncio.sleep(wait)
        except asyncio.CancelledError:
            _unfinished(self._pending)
            self._pending = []
            raise

    async def _batch(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        if len(batch) > 1:
            try:
                results = await self._commit([work for work, _ in batch])
            except Exception:  # noqa: BLE001 - one bad unit must not sink the others
                # each alone, and each caller told of its own outcome
                log.warning("group commit failed", extra={"event": "group_commit_failed",
                                                          "count": len(batch)})  # fmt: skip
            else:
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
                return
        for work, future in batch:
            await self._one(work, future)

    async def _one(self, work: Work, future: asyncio.Future[Any]) -> None:
        try:
            (result,) = await self._commit([work])
        except Exception as exc:  # noqa: BLE001 - raised to the unit's own caller
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)

    async def _commit(self, works: list[Work]) -> list[Any]:
        if all(isinstance(work, _Row) for work in works):  # rows alone: inserted at once
            await self.db.insert([work.row for work in works if isinstance(work, _Row)])
            return [None] * len(works)
        async with self.db.session() as session:
            if len(works) > 1:
                await _prepare(session, works)
            return [await work(session) for work in works]


class _Row:
    """A new row: a unit of work that adds it, and, in a batch of nothing but rows, one of
    the rows ``Database.insert`` writes at once."""

    def __init__(self, row: Base) -> None:
        self.row = row

    async def __call__(self, session: AsyncSession) -> None:
        session.add(self.row)


def _unfinished(batch: list[tuple[Work, asyncio.Future[Any]]]) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(StorageUnavailable("The write did not finish."))


async def _prepare(session: AsyncSession, works: list[Work]) -> None:
    """Let each kind of unit that can (one with a ``prepare`` of its own: a log's entry, a
    place) read or write for all its kind of the batch at once, before any of them runs: a
    statement for the batch instead of one a unit, each a turn of the event loop."""
    kinds: dict[Callable[[AsyncSession, list[Any]], Awaitable[None]], list[Any]] = {}
    for work in works:
        prepare = getattr(work, "prepare", None)
        if prepare is not None:
            kinds.setdefault(prepare, []).append(work)
    for prepare, units in kinds.items():
        await prepare(session, units)
