"""Room placement on Redis: one home per room, a lease that lapses with its node, a room taken
from a dead node, and messages that keep their order and report when nobody received them."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import typing
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.appkeys import HUB, WHITEBOARDS
from server.edge.websocket import serve_remote
from server.live.hub import Hub
from server.live.protocol import TOO_SLOW, Resume
from server.nodes import ends as relay_ends
from server.nodes.bus import LocalBus
from server.nodes.ends import EdgeLink
from server.nodes.envelopes import (
    AnyEnvelope,
    Call,
    Close,
    Closed,
    Frame,
    NodeGone,
    Open,
    Result,
    Send,
    Therapist,
    Watchers,
    dump_envelope,
    parse_envelope,
)
from server.nodes.redisbus import RedisBus
from server.nodes.relay import Relay
from tests.conftest import require
from tests.test_nodes import REDIS_URL, _redis_reachable


@pytest.fixture
async def buses() -> AsyncIterator[tuple[RedisBus, RedisBus]]:
    require(await _redis_reachable(), "Redis at 127.0.0.1:6379")
    one, two = RedisBus(REDIS_URL, 0.6), RedisBus(REDIS_URL, 0.6)
    await one.start()
    await two.start()
    yield one, two
    await one.close()
    await two.close()


@pytest.fixture
async def idle() -> AsyncIterator[RedisBus]:
    """A node whose renewals the test drives itself: its loops are not started."""
    require(await _redis_reachable(), "Redis at 127.0.0.1:6379")
    bus = RedisBus(REDIS_URL, 0.6)
    yield bus
    await bus.close()


def _evictions(bus: RedisBus) -> list[str]:
    lost: list[str] = []

    async def on_lost(room_id: str) -> None:
        lost.append(room_id)

    bus.on_lost = on_lost
    return lost


async def test_a_lease_redis_has_lost_is_taken_again_not_lost(idle: RedisBus) -> None:
    """Redis runs without persistence: a restart loses every key. The node holding a live
    room takes its lease again at the next renewal instead of evicting the room."""
    room = f"room-{secrets.token_hex(4)}"
    lease, seen = idle._room_keys(room)
    alive = idle._node_key(idle.node_id)
    lost = _evictions(idle)
    idle.live_rooms = lambda: {room}
    assert (await idle.claim(room)).home == idle.node_id
    await idle._renew_once()
    assert await idle.redis.exists(lease, seen, alive) == 3

    await idle.redis.delete(lease, seen, alive)  # Redis restarted: this node's keys are gone
    await idle._renew_once()
    await asyncio.gather(*idle._evictions)
    assert lost == [] and idle.rooms == {room}  # still held here, and nobody was sent away
    assert await idle.redis.get(lease) == idle.node_id.encode()
    assert await idle.redis.pttl(lease) > 0
    assert await idle.redis.exists(seen, alive) == 2  # when it was last live, and the node


async def test_a_room_entered_again_while_its_release_is_on_its_way_keeps_its_lease(
    idle: RedisBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A room no longer live is released at a renewal and forgotten before the round trip;
    if it is entered again here meanwhile and that claim reaches Redis first, the release
    deletes the lease the claim has just renewed (both carry this node's id)."""
    room = f"room-{secrets.token_hex(4)}"
    lease = idle._room_keys(room)[0]
    lost = _evictions(idle)
    live: set[str] = set()
    idle.live_rooms = lambda: live
    assert (await idle.claim(room)).home == idle.node_id
    idle.claimed_at[room] = time.monotonic() - 60  # held long enough: released if not live
    pipeline = idle.redis.pipeline

    def interleaved(*args: Any, **kwargs: Any) -> Any:
        pipe = pipeline(*args, **kwargs)
        execute = pipe.execute

        async def claimed_first(*a: Any, **kw: Any) -> Any:
            live.add(room)  # someone enters the room here again, and its claim goes first
            assert (await idle.claim(room)).home == idle.node_id
            return await execute(*a, **kw)

        pipe.execute = claimed_first
        return pipe

    monkeypatch.setattr(idle.redis, "pipeline", interleaved)
    await idle._renew_once()  # releases the room, while it is claimed again
    monkeypatch.undo()
    assert room in idle.rooms
    assert await idle.redis.get(lease) == idle.node_id.encode()  # held, not deleted
    await idle._renew_once()
    await asyncio.gather(*idle._evictions)
    assert lost == [] and room in idle.rooms
    assert await idle.redis.get(lease) == idle.node_id.encode()


async def test_a_resume_that_finds_redis_empty_counts_its_grace_from_now(idle: RedisBus) -> None:
    """After Redis has lost its keys, a page's resume can reach a node before the room's
    own node has renewed: the claim finds neither a previous holder nor when the room was
    last live. The grace window then counts from now, not from when this node started."""

    class Boards:
        def forget(self, room_id: str) -> None:
            return None

    app = web.Application()
    app[HUB] = hub = Hub()
    app[WHITEBOARDS] = Boards()  # type: ignore[assignment]
    hub.started = time.time() - 3600  # a node up for an hour
    relay = Relay(app, idle, serve_remote)
    room = f"room-{secrets.token_hex(4)}"

    async def room_of(message: object) -> str:
        return room  # the room the resume token's place is in

    relay._room_of = room_of  # type: ignore[method-assign]
    resume = Resume(type="resume", token="t" * 43)
    assert await relay.route(None, resume, web.WebSocketResponse()) is None  # at home here
    assert hub.left_of(30, room) > 25


async def test_a_room_has_one_home_until_its_node_dies(buses: tuple[RedisBus, RedisBus]) -> None:
    one, two = buses
    room = f"room-{secrets.token_hex(4)}"
    raced = await asyncio.gather(*(bus.claim(f"{room}-race") for bus in (one, two, one, two)))
    assert len({c.home for c in raced}) == 1  # two nodes at once: one home
    one.live_rooms = lambda: {room}
    assert (await one.claim(room)).home == one.node_id
    await asyncio.sleep(1.5)  # several renewals: the lease holds while the node lives
    assert (await two.claim(room)).home == one.node_id
    assert await two.home_of(room) == one.node_id

    await one.close()  # the node is gone; its room is free at once
    taken = await two.claim(room)
    assert taken.home == two.node_id
    assert await two.alive({one.node_id, two.node_id}) == {two.node_id}


async def test_a_room_no_longer_live_is_let_go(buses: tuple[RedisBus, RedisBus]) -> None:
    one, two = buses
    room = f"room-{secrets.token_hex(4)}"
    assert (await one.claim(room)).home == one.node_id
    await asyncio.sleep(1.6)  # not live on its node: released at a renewal after the lease
    assert (await two.claim(room)).home == two.node_id


async def test_a_stolen_lease_evicts_the_room(buses: tuple[RedisBus, RedisBus]) -> None:
    one, two = buses
    room = f"room-{secrets.token_hex(4)}"
    one.live_rooms = lambda: {room}
    lost: list[str] = []
    evicted = asyncio.Event()

    async def on_lost(room_id: str) -> None:
        lost.append(room_id)
        evicted.set()

    one.on_lost = on_lost
    await one.claim(room)
    await one.forget(one.node_id)  # no effect on itself
    await two.redis.set(f"{two.prefix}:room:{room}", two.node_id)  # as after a false alarm
    await asyncio.wait_for(evicted.wait(), 5)
    assert lost == [room]


async def test_messages_keep_their_order_and_say_when_nobody_heard(
    buses: tuple[RedisBus, RedisBus],
) -> None:
    one, two = buses
    heard: list[int] = []
    all_heard = asyncio.Event()

    async def handler(envelope: AnyEnvelope) -> None:
        assert isinstance(envelope, Frame) and envelope.sender == one.node_id
        heard.append(int(envelope.d))
        if len(heard) == 200:
            all_heard.set()

    def frame(n: int) -> Frame:
        return Frame(conn="c-1", d=str(n), sender=one.node_id)

    two.handler = handler
    sent = await asyncio.gather(*(one.send(two.node_id, frame(n)) for n in range(200)))
    assert all(sent)
    await asyncio.wait_for(all_heard.wait(), 5)
    assert heard == list(range(200))
    assert not await one.send("n-nobody", frame(0))


async def test_a_room_live_but_not_held_is_claimed_or_evicted(
    buses: tuple[RedisBus, RedisBus],
) -> None:
    one, two = buses
    mine, theirs = f"room-{secrets.token_hex(4)}", f"room-{secrets.token_hex(4)}"
    assert (await two.claim(theirs)).home == two.node_id
    two.live_rooms = lambda: {theirs}
    evicted = asyncio.Event()
    lost: list[str] = []

    async def on_lost(room_id: str) -> None:
        lost.append(room_id)
        evicted.set()

    one.on_lost = on_lost
    # rooms made here through sockets relayed from other nodes, never claimed here
    one.live_rooms = lambda: {mine, theirs}
    await asyncio.wait_for(evicted.wait(), 5)
    assert lost == [theirs]  # held elsewhere: it goes there
    assert (await two.claim(mine)).home == one.node_id  # free: this node holds it now


async def test_close_ends_even_when_the_client_turns_a_cancel_into_a_timeout() -> None:
    """A cancellation that lands as the client's read timeout fires can come out of the
    client as a timeout error; the listener takes that for a blip, so only the closing flag
    can end it, and close must not wait on it for ever."""
    require(await _redis_reachable(), "Redis at 127.0.0.1:6379")
    bus = RedisBus(REDIS_URL, 0.6)
    await bus.start()
    reading = asyncio.Event()

    async def absorbing_read(**_: object) -> None:
        reading.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RedisTimeoutError("Timeout reading from socket") from None

    bus.pubsub.get_message = absorbing_read  # type: ignore[method-assign]
    await asyncio.wait_for(reading.wait(), 5)
    await asyncio.wait_for(bus.close(), 5)
    assert all(task.done() for task in bus._tasks)
    assert await bus.send("n-nobody", NodeGone(node="n-x")) is False  # a closed bus answers at once


async def test_the_relays_watch_ends_even_when_its_cancel_is_lost() -> None:
    """The relay's watch asks Redis every second which nodes are alive; a cancel turned into
    a timeout inside that call is answered like any Redis failure, and the watch must still
    end when the relay closes."""
    asking = asyncio.Event()

    class Shared(LocalBus):
        @property
        def shared(self) -> bool:
            return True

        async def alive(self, nodes: set[str]) -> set[str]:
            asking.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                return set(nodes)  # as RedisBus.alive answers a timeout
            return set(nodes)

    relay = Relay(web.Application(), Shared(), serve_remote)
    await relay.start()
    await asyncio.wait_for(asking.wait(), 5)
    await asyncio.wait_for(relay.close(), 5)


async def test_a_browser_too_slow_for_its_edge_is_closed_not_buffered_without_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a room's home sends to a browser whose socket is on another node waits on that
    node; a browser that does not read has its socket closed (1013: it resumes and gets the
    room afresh) once the bound is reached, what waited is dropped, and the home is told."""
    monkeypatch.setattr(relay_ends, "MAX_BACKLOG_BYTES", 1000)
    sent: list[tuple[str, AnyEnvelope]] = []

    class Recording(LocalBus):
        async def send(self, node: str, envelope: AnyEnvelope) -> bool:
            sent.append((node, envelope))
            return True

    app = web.Application()
    app[HUB] = Hub()
    relay = Relay(app, Recording(), serve_remote)
    link = EdgeLink("c-1", "n-home", None, "room-1")  # type: ignore[arg-type]
    relay.edges["c-1"] = link
    for _ in range(2):
        await relay.on_envelope(Send(conn="c-1", d="x" * 400, sender="n-home"))
    assert link.queued == 800 and "c-1" in relay.edges
    await relay.on_envelope(Send(conn="c-1", d="x" * 400, sender="n-home"))
    assert "c-1" not in relay.edges
    assert link.outbox.qsize() == 1  # what waited is dropped: only the close is left
    assert link.outbox.get_nowait() == (TOO_SLOW, "too slow to keep up")
    await asyncio.gather(*relay._tasks)  # the word to the home
    assert sent == [("n-home", Closed(conn="c-1"))]

    # the home found its own link too slow (the board's): the close goes before what waits,
    # while any other close (the room ended) goes after the room's last words
    for conn, code in (("c-2", TOO_SLOW), ("c-3", 1000)):
        link = relay.edges[conn] = EdgeLink(conn, "n-home", None, "room-1")  # type: ignore[arg-type]
        await relay.on_envelope(Send(conn=conn, d="last words", sender="n-home"))
        await relay.on_envelope(Close(conn=conn, code=code, reason="bye"))
        waiting = [link.outbox.get_nowait() for _ in range(link.outbox.qsize())]
        assert waiting == ([] if code == TOO_SLOW else ["last words"]) + [(code, "bye")]
    await relay.close()


EVERY_ENVELOPE = [
    Open(conn="c-1", edge="n-edge", user="u-1"),
    Open(conn="c-1", edge="n-edge"),
    Frame(conn="c-1", d='{"v": 1, "type": "ping", "n": 1}', sender="n-edge"),
    Closed(conn="c-1"),
    Call(id="k-1", sender="n-edge", name="end_room", room="room-1"),
    Send(conn="c-1", d='{"v":1,"type":"pong","n":1}', sender="n-home"),
    Close(conn="c-1", code=1012, reason="the room moved"),
    Result(id="k-1"),
    Watchers(to=["s-1", "s-2"], d="{}"),
    Therapist(room="room-1", d="{}"),
    NodeGone(node="n-gone"),
]


def test_every_envelope_reads_back_and_has_one_handler() -> None:
    for envelope in EVERY_ENVELOPE:
        assert parse_envelope(dump_envelope(envelope)) == envelope
    kinds = set(typing.get_args(typing.get_args(AnyEnvelope)[0]))
    assert {type(e) for e in EVERY_ENVELOPE} == kinds
    assert (
        set(Relay(web.Application(), LocalBus(), serve_remote).handlers) == kinds
    )  # one each, no more


@pytest.mark.parametrize(
    "raw",
    [
        '{"op": "frame", "conn": "c-1", "d": "x"}',  # no sender
        '{"op": "close", "conn": "c-1", "code": "1000", "reason": ""}',  # strict: no "1000"
        '{"op": "call", "id": "k", "sender": "n", "name": "drop_tables", "room": "r"}',
        '{"op": "x", "n": 0}',
        "not json",
    ],
)
def test_an_envelope_no_node_sends_is_refused(raw: str) -> None:
    with pytest.raises(ValidationError):
        parse_envelope(raw)


async def test_a_bad_envelope_is_dropped_and_the_bus_goes_on(
    buses: tuple[RedisBus, RedisBus],
) -> None:
    one, two = buses
    heard: list[AnyEnvelope] = []
    got = asyncio.Event()

    async def handler(envelope: AnyEnvelope) -> None:
        heard.append(envelope)
        got.set()

    two.handler = handler
    channel = two._node_key(two.node_id)
    await one.redis.publish(channel, json.dumps({"op": "frame", "conn": "c-1"}))
    await one.redis.publish(channel, b"\xff not json")
    assert await one.send(two.node_id, Closed(conn="c-1"))
    await asyncio.wait_for(got.wait(), 5)
    assert heard == [Closed(conn="c-1")]
