"""Group commit: rows from every room written together, one transaction for all that arrived
while the previous one was being written.

A board operation is on disk before anyone sees it. With SQLite at ``synchronous=FULL`` a
commit costs a few milliseconds of fsync whatever it holds, so one transaction per point
drawn caps a process at a few hundred points a second across all its rooms, and past that
writers time out on the database lock. Writing whatever is waiting in one transaction keeps
each row's promise (its caller resumes only once it is committed) at one fsync per batch.
There is no added delay: a row that arrives while nothing is being written is written at
once, and the batch grows only while a commit is under way.
"""

from __future__ import annotations

import asyncio
import logging

from server.exceptions import STORAGE_FAILURES, StorageUnavailable
from server.storage.db import Database
from server.storage.models import Base

log = logging.getLogger(__name__)
MAX_BATCH = 500


class GroupCommit:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[tuple[Base, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, row: Base) -> None:
        """Add ``row``; returns once it is committed (raises if it could not be)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        await future

    async def _write_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                await self._batch(batch)
            finally:  # cancelled (at shutdown) or worse: no writer is left waiting for ever
                for _, future in batch:
                    if not future.done():
                        future.set_exception(StorageUnavailable("The write did not finish."))

    async def _batch(self, batch: list[tuple[Base, asyncio.Future[None]]]) -> None:
        try:
            await self._commit([row for row, _ in batch])
        except STORAGE_FAILURES:
            # one bad row must not sink the others: each alone, and each caller told
            log.warning("group commit failed", extra={"event": "group_commit_failed",
                                                      "count": len(batch)})  # fmt: skip
            for row, future in batch:
                await self._one(row, future)
            return
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    async def _one(self, row: Base, future: asyncio.Future[None]) -> None:
        try:
            await self._commit([row])
        except STORAGE_FAILURES as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(None)

    async def _commit(self, rows: list[Base]) -> None:
        async with self.db.session() as session:
            session.add_all(rows)
