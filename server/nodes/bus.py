"""The bus between server nodes: which node is each room's home, and messages between nodes.

Without Redis (the embedded default) there is one node, every room's home is this process
and a message "to another node" is delivered here (``LocalBus``). With ``PLAYROOM_REDIS_URL``
set, ``RedisBus`` (``redisbus.py``, imported only then) places rooms the way LiveKit does: a
room belongs to the node that holds its lease in Redis (``playroom:room:<id>``, renewed while
the room lives), every node holds a liveness key (``playroom:node:<id>``), and nodes talk
over Redis pub/sub, one channel per node and one for all. A node that dies stops renewing;
so that its rooms move at once rather than after the lease, a message that reaches no
subscriber on a node's channel marks that node dead (pub/sub tells how many received it),
and the next claim takes the room over.

Envelopes are the models of ``envelopes.py``, as JSON text between nodes and as they are
within one; ``relay.py`` says what each one means.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from server.nodes.envelopes import AnyEnvelope

Handler = Callable[[AnyEnvelope], Awaitable[None]]


@dataclass(frozen=True)
class Claim:
    """Where a room lives. ``fresh`` is set when this node has just taken the room (it did
    not hold it); ``taken_from`` when it took it from a node that is gone; ``seen`` is when
    the room's last holder last renewed it (Unix time), if Redis still knows."""

    home: str
    taken_from: str | None = None
    seen: float | None = None
    fresh: bool = False


class LocalBus:
    """One node: every room is at home here."""

    def __init__(self) -> None:
        self.node_id = "local"
        self.handler: Handler | None = None
        self.on_lost: Callable[[str], Coroutine[Any, Any, None]] | None = None
        # which rooms are live here: the leases of the others are given up when renewing
        self.live_rooms: Callable[[], set[str]] = set

    @property
    def shared(self) -> bool:
        return False

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def claim(self, room_id: str) -> Claim:
        return Claim(self.node_id)

    async def home_of(self, room_id: str) -> str | None:
        return self.node_id

    async def release_all(self) -> None:
        return None

    async def ping(self) -> bool:
        return True

    async def send(self, node: str, envelope: AnyEnvelope) -> bool:
        if node != self.node_id or self.handler is None:
            return False
        await self.handler(envelope)
        return True

    async def broadcast(self, envelope: AnyEnvelope) -> None:
        await self.send(self.node_id, envelope)

    async def alive(self, nodes: set[str]) -> set[str]:
        return nodes & {self.node_id}


def make_bus(redis_url: str | None, lease_seconds: float) -> LocalBus:
    if not redis_url:
        return LocalBus()
    from server.nodes.redisbus import RedisBus  # the Redis client: only where it is used

    return RedisBus(redis_url, lease_seconds)
