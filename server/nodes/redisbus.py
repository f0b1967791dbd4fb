"""Several nodes sharing one Redis (``PLAYROOM_REDIS_URL``): room leases, node liveness,
pub/sub (``bus.py`` says how rooms are placed). Imported only by a node that uses Redis: the
client takes a fifth of a second to import, which a node on its own never pays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time

import redis.asyncio as redis
from pydantic import ValidationError
from redis.exceptions import RedisError

from server.exceptions import StorageUnavailable
from server.nodes.bus import Claim, LocalBus
from server.nodes.envelopes import AnyEnvelope, NodeGone, dump_envelope, parse_envelope

log = logging.getLogger(__name__)

PREFIX = "playroom"
RESEND_AFTER = 0.6  # longer than the listener's wait before it subscribes again
# no call to Redis waits longer: one that does not answer is down, and a node must say so
REDIS_TIMEOUT = 5.0

# hold a room (or take it from a node that is gone): [owner now, previous owner, last seen]
_CLAIM = """
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] and redis.call('EXISTS', ARGV[3] .. owner) == 1 then
  return {owner, '', ''}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local seen = redis.call('GET', KEYS[2]) or ''
if owner == ARGV[1] then owner = '' end
return {ARGV[1], owner or '', seen}
"""
# renew a room's lease unless another node holds it now (0: lost). A lease that has vanished
# is taken again: Redis restarted (it runs without persistence) or the lease lapsed with nobody
# taking the room, and either way the room is still live here and nowhere else
_RENEW = """
local owner = redis.call('GET', KEYS[1])
if owner and owner ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', 86400)
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisBus(LocalBus):
    """Several nodes sharing one Redis: room leases, node liveness, pub/sub."""

    def __init__(self, url: str, lease_seconds: float) -> None:
        super().__init__()
        self.url = url
        self.node_id = f"n{secrets.token_hex(6)}"
        self.lease_ms = int(lease_seconds * 1000)
        self.redis: redis.Redis = redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT
        )
        # pub/sub ignores the database number: it goes into every name, so that services
        # sharing one Redis on different databases never hear each other
        db = self.redis.connection_pool.connection_kwargs.get("db", 0)
        self.prefix = f"{PREFIX}:{db}"
        self.everyone = f"{self.prefix}:all"
        self._claim = self.redis.register_script(_CLAIM)
        self._renew_script = self.redis.register_script(_RENEW)
        self._release = self.redis.register_script(_RELEASE)
        self.pubsub = self.redis.pubsub()
        self.rooms: set[str] = set()  # rooms this node holds
        self.claimed_at: dict[str, float] = {}
        self._outbox: asyncio.Queue[tuple[str, str, asyncio.Future[int]]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._evictions: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def shared(self) -> bool:
        return True

    def _node_key(self, node: str) -> str:
        return f"{self.prefix}:node:{node}"

    def _room_keys(self, room_id: str) -> list[str]:
        return [f"{self.prefix}:room:{room_id}", f"{self.prefix}:seen:{room_id}"]

    async def start(self) -> None:
        await self.redis.set(self._node_key(self.node_id), "1", px=self.lease_ms)
        await self.pubsub.subscribe(self._node_key(self.node_id), self.everyone)
        self._tasks = [
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._publish()),
            asyncio.create_task(self._renew()),
        ]
        log.info("node started", extra={"event": "node_started", "node": self.node_id})

    async def close(self) -> None:
        """Stop the loops, give up this node's rooms and its liveness key, and disconnect.

        Each loop also stops at its next turn once ``_closing`` is set: a cancellation that
        arrives as the client library's own read timeout fires can be turned into a timeout
        error there, and a loop that only waited to be cancelled would then run for ever."""
        if self._closing:
            return
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, RedisError):
                await task
        while not self._outbox.empty():  # nobody will publish these now: say so to senders
            _, _, future = self._outbox.get_nowait()
            if not future.done():
                future.set_result(-1)
        with contextlib.suppress(RedisError, OSError):
            for room_id in list(self.rooms):
                await self._release(self._room_keys(room_id)[:1], [self.node_id])
            await self.redis.delete(self._node_key(self.node_id))
            await self.pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
        await self.redis.aclose()

    # -- placement

    async def claim(self, room_id: str) -> Claim:
        """The room's home: the node holding its lease, or this node if none (or a dead one)
        does. Claiming is one Lua script, so two nodes cannot both take a room."""
        try:
            now_home, previous, seen = await self._claim(
                self._room_keys(room_id), [self.node_id, self.lease_ms, f"{self.prefix}:node:"]
            )
        except (RedisError, OSError) as exc:
            raise StorageUnavailable("The service is busy. Try again in a moment.") from exc
        home = now_home.decode()
        if home != self.node_id:
            return Claim(home)
        fresh = room_id not in self.rooms
        self.rooms.add(room_id)
        self.claimed_at[room_id] = time.monotonic()
        if not fresh:
            return Claim(home)
        if previous:
            log.info("room taken over", extra={"event": "room_taken_over", "node": self.node_id})
        return Claim(home, previous.decode() or None, float(seen) if seen else None, fresh=True)

    async def home_of(self, room_id: str) -> str | None:
        """The node holding the room now, if that node is alive; never claims."""
        owner = await self.redis.get(self._room_keys(room_id)[0])
        if owner is None:
            return None
        node = owner.decode() if isinstance(owner, bytes) else str(owner)
        return node if await self.alive({node}) else None

    async def _renew(self) -> None:
        every = self.lease_ms / 3000
        while not self._closing:
            await asyncio.sleep(every)  # the renewal interval itself
            try:
                await self._renew_once()
            except (RedisError, OSError):
                log.warning("renewal failed", extra={"event": "renew_failed"})
            except Exception:  # the node's leases must go on being renewed whatever happens
                log.exception("renewal failed", extra={"event": "renew_failed"})

    async def _renew_once(self) -> None:
        """One round trip: this node's liveness key and the lease of every room it holds.

        A room live here that this node does not hold (entered through a socket relayed
        from another node, or claimed while a release was on its way) is claimed now; one
        that another node holds is evicted, so a room never runs on two nodes for longer
        than a renewal interval. A lease that has vanished (Redis lost its keys) is taken
        again, not lost: only another node's hold evicts."""
        live, now = self.live_rooms(), time.monotonic()
        for room_id in live - self.rooms:
            if (await self.claim(room_id)).home != self.node_id:
                self._lost(room_id)
        recent = {r for r, at in self.claimed_at.items() if now - at < self.lease_ms / 1000}
        released = [r for r in self.rooms if r not in live and r not in recent]  # ended
        renewed = [r for r in self.rooms if r not in released]
        # forgotten before the round trip: a claim made meanwhile is a fresh one, and holds
        self.rooms.difference_update(released)
        for room_id in released:
            self.claimed_at.pop(room_id, None)
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self._node_key(self.node_id), "1", px=self.lease_ms)
        for room_id in released:
            await self._release(self._room_keys(room_id)[:1], [self.node_id], client=pipe)
        for room_id in renewed:
            args: list[str | int] = [self.node_id, self.lease_ms, f"{time.time()}"]
            await self._renew_script(self._room_keys(room_id), args, client=pipe)
        results = await pipe.execute()
        for room_id, kept in zip(renewed, results[1 + len(released) :], strict=True):
            if not kept:  # another node holds it now
                self.rooms.discard(room_id)
                self._lost(room_id)
        # a room entered again here while its release was on its way: the release deleted
        # the lease that claim had just renewed (both hold this node's id), so take it again
        for room_id in released:
            if room_id in self.rooms and (await self.claim(room_id)).home != self.node_id:
                self.rooms.discard(room_id)
                self._lost(room_id)

    def _lost(self, room_id: str) -> None:
        """Evict beside the renewals, which must not wait on sockets closing."""
        log.warning("room lease lost", extra={"event": "lease_lost"})
        if self.on_lost is not None:
            task = asyncio.create_task(self.on_lost(room_id))
            self._evictions.add(task)
            task.add_done_callback(self._evictions.discard)

    async def alive(self, nodes: set[str]) -> set[str]:
        """Which of ``nodes`` hold their liveness key (all of them, when Redis cannot say)."""
        if not nodes:
            return set()
        ordered = sorted(nodes)
        try:
            pipe = self.redis.pipeline(transaction=False)
            for node in ordered:
                pipe.exists(self._node_key(node))
            flags = await pipe.execute()
        except (RedisError, OSError):
            return set(nodes)
        return {n for n, flag in zip(ordered, flags, strict=True) if flag}

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def release_all(self) -> None:
        """Shutting down: give up every room and say this node is gone, so that pages coming
        back find a live node at once."""
        self.live_rooms = set
        for task in self._tasks[2:]:
            task.cancel()
        with contextlib.suppress(RedisError, OSError):
            for room_id in list(self.rooms):
                await self._release(self._room_keys(room_id)[:1], [self.node_id])
            self.rooms.clear()
            await self.redis.delete(self._node_key(self.node_id))

    async def forget(self, node: str) -> None:
        """``node`` received nothing sent to it: it is gone, and its rooms are free. Every
        node is told, so that pages relayed to it move at once."""
        if node == self.node_id:
            return
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self._node_key(node))
        await self.broadcast(NodeGone(node=node))

    # -- messages

    async def send(self, node: str, envelope: AnyEnvelope) -> bool:
        """Publish to one node; True when it was received there. Messages keep their order:
        one task publishes them all, in batches, on one connection."""
        if node == self.node_id and self.handler is not None:
            await self.handler(envelope)
            return True
        count = await self._enqueue(self._node_key(node), envelope)
        if count == 0:
            # nobody listens on its channel: dead, or its subscription is being remade after
            # a blip (its listener tries again within half a second). Once more, then gone.
            await asyncio.sleep(RESEND_AFTER)  # that window itself
            count = await self._enqueue(self._node_key(node), envelope)
            if count == 0:
                await self.forget(node)
        return count > 0

    async def broadcast(self, envelope: AnyEnvelope) -> None:
        await self._enqueue(self.everyone, envelope)

    def _enqueue(self, channel: str, envelope: AnyEnvelope) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if self._closing:
            future.set_result(-1)
            return future
        self._outbox.put_nowait((channel, dump_envelope(envelope), future))
        return future

    async def _publish(self) -> None:
        """Everything this node publishes, in order: each batch is one round trip. The
        result of each message is how many nodes received it (-1: Redis did not answer)."""
        while not self._closing:
            batch = [await self._outbox.get()]
            while not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            pipe = self.redis.pipeline(transaction=False)
            for channel, data, _ in batch:
                pipe.publish(channel, data)
            counts = [-1] * len(batch)  # whatever happens, every sender gets an answer
            try:
                counts = [int(c) for c in await pipe.execute()]
            except (RedisError, OSError):
                log.warning("publish failed", extra={"event": "publish_failed"})
            except Exception:
                log.exception("publish failed", extra={"event": "publish_failed"})
            finally:
                for (_, _, future), count in zip(batch, counts, strict=True):
                    if not future.done():
                        future.set_result(count)

    async def _listen(self) -> None:
        while not self._closing:
            try:
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
            except (RedisError, OSError):
                log.warning("bus read failed", extra={"event": "bus_read_failed"})
                await asyncio.sleep(0.5)  # Redis is away: try again shortly
                continue
            if message is None or self.handler is None:
                continue
            try:
                envelope = parse_envelope(message["data"])
            except ValidationError:  # a node of another version, or not a node at all
                log.warning("envelope refused", extra={"event": "envelope_refused"})
                continue
            try:
                await self.handler(envelope)
            except Exception:  # one bad envelope must not stop the node's bus
                log.exception("envelope failed", extra={"event": "envelope_failed"})
