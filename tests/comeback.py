"""How a Python client comes back after its socket died, as a page does (``signal.js``,
``retryDelay``; ``docs/protocol.md``, "Coming back"): the first try at once, or after the
time a restarting server gave this socket, then each after a random wait between 0 and a
bound that doubles (full jitter), kept short while the server is known to be restarting.
Used by the tests and the benchmarks."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp

# seconds, as signal.js has them in milliseconds
RETRY_BASE = 0.4
RETRY_CAP = 8.0
RESTART_BASE = 0.25
RESTART_CAP = 1.0
RESTART_HOLD = 20.0  # how long the server counts as restarting after it said so
RESTART_AFTER_MAX = 5.0  # the longest a client waits on the server's word

T = TypeVar("T")


def retry_delay(attempt: int, restarting: bool, rng: random.Random | None = None) -> float:
    """The wait before try number ``attempt`` (from 0) to come back: none for the first, then
    between 0 and a bound doubling from ``RETRY_BASE`` to ``RETRY_CAP``, or from
    ``RESTART_BASE`` to ``RESTART_CAP`` while the server is restarting."""
    if attempt <= 0:
        return 0.0
    base, cap = (RESTART_BASE, RESTART_CAP) if restarting else (RETRY_BASE, RETRY_CAP)
    bound: float = min(cap, base * 2 ** (attempt - 1))
    return (rng or random).random() * bound


def restart_after(inbox: list[dict[str, Any]]) -> float | None:
    """When the server said to come back (seconds after it closed the socket), if the last
    thing it said was that it is restarting; None after any other end."""
    if inbox and inbox[-1].get("type") == "restarting":
        return min(max(0.0, float(inbox[-1]["after_ms"]) / 1000), RESTART_AFTER_MAX)
    return None


async def come_back(
    connect: Callable[[], Awaitable[T]],
    after: float | None = None,
    *,
    give_up: float = 60.0,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """``connect`` again until it succeeds: after ``after`` seconds when a restarting server
    said so (``restart_after``), at once otherwise, then after each ``retry_delay``. Raises
    the last failure once ``give_up`` seconds have passed."""
    began = time.monotonic()
    restarting_until = began + RESTART_HOLD if after is not None else 0.0
    attempt = 0
    while True:
        restarting = time.monotonic() < restarting_until
        if attempt == 0 and after is not None:
            wait = after
        else:
            wait = retry_delay(attempt, restarting, rng)
        await sleep(wait)  # the schedule's own wait, not a wait for anything else
        attempt += 1
        try:
            return await connect()
        except (aiohttp.ClientError, OSError):
            if time.monotonic() - began > give_up:
                raise
