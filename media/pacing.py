"""Pacing: sending a lot to one member (the pictures of a board that opens) no faster than
their link carries it, so that what waits on the link stays small whatever the board holds.

Pictures go whole, one after another, each once what the link still holds has fallen to a
low-water mark: the link then holds at most that mark, one picture, and whatever else the
board sends meanwhile (its changes; a picture just shared), however many pictures there are.
A picture is never cut by another one: the page reads each from ``object`` to ``object_end``.

A link tells how much waits through ``drained(label, low)``, which returns once at most
``low`` bytes wait to go on ``label``: at once if that is so already, and as soon as the link
is closed (nothing would wait for it any more). Either link can: a data channel
(``channel_drained``: aiortc's ``bufferedAmount`` and its ``bufferedamountlow`` event), or a
link with its own queue of frames (``Backlog``: the signalling socket's). A link that stops
carrying anything ends by being closed (ICE consent or the heartbeat gives up), so every wait
here ends without a timer of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from aiortc import RTCDataChannel

# what may wait on a link before the next picture goes: enough to keep a fast link busy
# while that picture is read from storage (1 MiB lasts 0.8 s at 10 Mbit/s), little beside
# the 64 MiB a socket may hold (``live/protocol.MAX_BACKLOG_BYTES``)
LOW_WATER = 1024 * 1024

Item = TypeVar("Item")


class Drains(Protocol):
    """A link that can say when what waits on one of its channels has fallen."""

    async def drained(self, label: str, low: int) -> None: ...


async def send_paced(
    link: Drains,
    label: str,
    items: Iterable[Item],
    send: Callable[[Item], Awaitable[bool]],
    *,
    low: int = LOW_WATER,
) -> int:
    """``send`` each of ``items`` in turn, each once at most ``low`` bytes wait on the link's
    ``label``. ``send`` gives one item to the link whole, and says whether the link took it:
    the first it did not (the link is closed, or no longer this member's) ends the sending.
    Returns how many were sent."""
    sent = 0
    for item in items:
        await link.drained(label, low)
        if not await send(item):
            break
        sent += 1
    return sent


async def channel_drained(channel: RTCDataChannel, low: int) -> None:
    """Once at most ``low`` bytes wait on ``channel``, or once it is not open."""
    while channel.readyState == "open" and channel.bufferedAmount > low:
        await _fallen(channel, low)


async def _fallen(channel: RTCDataChannel, low: int) -> None:
    """Until what waits on ``channel`` falls to ``low`` from above it, or it closes."""
    woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not woken.done():
            woken.set_result(None)

    # the event comes as the amount falls to the threshold: set while it is above, in the
    # same step as the caller's check, the fall cannot be missed
    channel.bufferedAmountLowThreshold = low
    channel.on("bufferedamountlow", wake)
    channel.on("close", wake)
    try:
        await woken
    finally:
        for event in ("bufferedamountlow", "close"):
            if wake in channel.listeners(event):  # a closed channel drops them all
                channel.remove_listener(event, wake)


class Backlog:
    """What waits in a link's own queue of frames, in characters or bytes, and a wait for
    it to fall. The link adds what it queues, takes what it writes, and closes it when it
    is closed."""

    def __init__(self) -> None:
        self.size = 0
        self.closed = False
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []

    def add(self, size: int) -> None:
        self.size += size

    def take(self, size: int) -> None:
        self.size -= size
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    async def drained(self, low: int) -> None:
        """Once at most ``low`` waits, or once the link is closed."""
        if self.closed or self.size <= low:
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (low, woken)
        self._waiting.append(entry)
        try:
            await woken
        finally:
            if entry in self._waiting:  # cancelled while waiting
                self._waiting.remove(entry)

    def _wake(self) -> None:
        if not self._waiting:
            return  # the writer takes every frame: nothing to do, mostly
        waiting = []
        for low, woken in self._waiting:
            if self.closed or self.size <= low:
                if not woken.done():
                    woken.set_result(None)
            else:
                waiting.append((low, woken))
        self._waiting = waiting
