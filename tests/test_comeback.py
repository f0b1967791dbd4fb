"""Coming back after a restart: the server tells each socket a time of its own within its
window, spread so that a node's sockets do not all come back in the same moment, and a
client's tries stay within the schedule's bounds (``docs/protocol.md``, "Coming back")."""

from __future__ import annotations

import json
import random

import aiohttp
import pytest

from server.live.hub import RESTART_WINDOW_MS, RESTARTING, Hub
from tests.comeback import (
    RESTART_AFTER_MAX,
    RESTART_BASE,
    RESTART_CAP,
    RETRY_BASE,
    RETRY_CAP,
    come_back,
    restart_after,
    retry_delay,
)


class Heard:
    """A socket that keeps what it was sent and how it was closed."""

    def __init__(self) -> None:
        self.sent: list[dict[str, object]] = []
        self.code: int | None = None

    async def send_str(self, data: str) -> None:
        self.sent.append(json.loads(data))

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.code = code
        return True

    @property
    def closed(self) -> bool:
        return self.code is not None


class Gone(Heard):
    """A socket whose client vanished just before the server stopped."""

    async def send_str(self, data: str) -> None:
        raise ConnectionResetError("gone")


async def test_every_socket_is_told_a_time_of_its_own_then_closed_with_1012() -> None:
    hub = Hub()
    sockets = [Heard() for _ in range(100)]
    gone = Gone()
    hub.all.update([*sockets, gone])
    await hub.close_all()
    afters = []
    for socket in sockets:
        assert [m["type"] for m in socket.sent] == ["restarting"]
        after = socket.sent[0]["after_ms"]
        assert isinstance(after, int) and 0 <= after < RESTART_WINDOW_MS
        afters.append(after)
        assert socket.code == RESTARTING == 1012
    assert gone.code == RESTARTING  # closed all the same
    # spread over the window, not in the same millisecond
    assert len(set(afters)) > 50 and max(afters) - min(afters) > RESTART_WINDOW_MS / 2


def test_the_first_try_is_at_once_and_the_rest_spread_within_their_bounds() -> None:
    rng = random.Random(7)
    for restarting, base, cap in (
        (False, RETRY_BASE, RETRY_CAP),
        (True, RESTART_BASE, RESTART_CAP),
    ):
        assert retry_delay(0, restarting, rng) == 0
        for attempt in range(1, 12):
            bound = min(cap, base * 2 ** (attempt - 1))
            waits = [retry_delay(attempt, restarting, rng) for _ in range(200)]
            assert all(0 <= w <= bound for w in waits)
            # full jitter: the waits cover their range, low and high alike
            assert min(waits) < bound / 10 and max(waits) > bound * 0.9
    assert max(retry_delay(30, True, rng) for _ in range(200)) <= RESTART_CAP


def test_a_restarting_server_s_word_is_taken_within_bounds() -> None:
    assert restart_after([{"type": "restarting", "after_ms": 250}]) == 0.25
    assert restart_after([{"type": "restarting", "after_ms": 10**9}]) == RESTART_AFTER_MAX
    assert restart_after([{"type": "restarting", "after_ms": -5}]) == 0
    assert restart_after([{"type": "restarting", "after_ms": 5}, {"type": "pong"}]) is None
    assert restart_after([]) is None


@pytest.mark.parametrize("after", [None, 0.3])
async def test_come_back_waits_as_told_then_tries_on_the_short_schedule(
    after: float | None,
) -> None:
    waits: list[float] = []
    tries = 0

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def connect() -> str:
        nonlocal tries
        tries += 1
        if tries < 8:  # the new process is not listening yet
            raise aiohttp.ClientConnectionError("refused")
        return "socket"

    assert await come_back(connect, after, rng=random.Random(3), sleep=sleep) == "socket"
    assert tries == 8 and len(waits) == 8
    assert waits[0] == (after if after is not None else 0)
    restarting = after is not None
    base, cap = (RESTART_BASE, RESTART_CAP) if restarting else (RETRY_BASE, RETRY_CAP)
    for attempt, wait in enumerate(waits[1:], start=1):
        assert 0 <= wait <= min(cap, base * 2 ** (attempt - 1))
    if restarting:
        assert sum(waits) <= after + 6 * RESTART_CAP  # type: ignore[operator]
