"""Reads asked for at the same moment, made as one: every key asked for while a read is under
way is read in the next, together. After a restart a hundred pages come back within a
second, and a read each is a hundred turns of a busy event loop to the database's thread
and back; read together they are a few. Each answer is read after it was asked for (a key
asked for during a read waits for the next), so it is as fresh as a read of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Together(Generic[K, V]):
    """``read`` (keys -> an answer for each) for whatever is asked for meanwhile."""

    def __init__(self, read: Callable[[list[K]], Awaitable[dict[K, V]]]) -> None:
        self.read = read
        self._wanted: dict[K, asyncio.Future[V]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V:
        """``key``'s answer, from the next read; one caller giving up stops it for nobody."""
        wanted = self._wanted.get(key)
        if wanted is None:
            wanted = self._wanted[key] = asyncio.get_running_loop().create_future()
            wanted.add_done_callback(_retrieved)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read_all())
        return await asyncio.shield(wanted)

    async def _read_all(self) -> None:
        while self._wanted:
            wanted, self._wanted = self._wanted, {}
            try:
                found = await self.read(list(wanted))
            except BaseException as exc:  # each caller is told; the next asking reads again
                for future in wanted.values():
                    if isinstance(exc, asyncio.CancelledError):
                        future.cancel()  # the process is stopping
                    elif not future.done():
                        future.set_exception(exc)
                if isinstance(exc, Exception):
                    continue
                raise
            for key, future in wanted.items():
                if not future.done():
                    future.set_result(found[key])


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # each caller was told; none left waiting is not a fault
