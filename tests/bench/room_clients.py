"""The Playroom side of the rooms benchmark (``bench_rooms.py``), in client processes.

In each room the therapist draws and the young person receives. Both are plain aiohttp
WebSockets speaking the signalling protocol (no media, no aiortc), with the board on the
socket (``board_open``, then ``board`` frames); for the data-channel transport a person also
makes an aiortc connection to the server with the channels ``board``, ``objects`` and
``control``, which takes their board over (``server_signal``). A person's board messages are
read from one link at a time, as a page does. Nothing of the board is kept: a ``change`` is
parsed for the ids of the strokes it sets, and timed.

The drawer draws as a page sends at pen-up: one ``stroke`` operation of 60 points about
every second, the interval drawn from 0.75 to 1.25 s and the first stroke at a random moment
of the first second, so that rooms are not in step. Commit latency: from just before the
drawer sends the stroke to the drawer receiving the server's ``change`` for it (the server
fans every change out to the author too, once it is stored); fan-out latency: to the other
person receiving it. Every process times on ``time.monotonic`` (the event loop's clock),
which is system-wide on Linux, so every process and the benchmark share one clock. Commands
come over a pipe.

The clients' aiortc connections gather loopback candidates only (``loopback_only``): one
UDP socket a connection instead of one an interface, so that hundreds of them cost their
shared core less; the server gathers its own as it always does."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal

import aiohttp
import aioice.ice
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InvalidStateError
from yarl import URL

from tests.factories import join_message

EVERY = 1.0  # a stroke a second a room
JITTER = 0.25  # each interval is EVERY times 1 +- JITTER
POINTS = 60  # a stroke drawn for about a second
SETUP_AT_ONCE = 4  # rooms entering at the same time in one process
DRAIN_SECONDS = 5.0  # how long the changes may take to arrive after the drawing stops
LAG_EVERY = 0.05  # the event loop's lag is sampled this often
IGNORED = {"lobby", "notice", "peer_joined", "done", "objects", "pong", "live", "peer_state"}
Transport = Literal["socket", "channel"]
Room = tuple[int, str, str]  # index in the benchmark, session id, young person's token
OnStroke = Callable[[str, float], None]  # a stroke's id, and when a change setting it came


def loopback_only(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """The clients' ICE candidates: loopback only (the server keeps its own)."""
    return ["127.0.0.1"] if use_ipv4 else []


@dataclass(frozen=True)
class Phase:
    """Rooms ``0..rooms-1`` draw from ``start_at`` for ``warmup + seconds``; strokes sent in
    the first ``warmup`` seconds are not counted."""

    rooms: int
    start_at: float  # time.monotonic()
    warmup: float
    seconds: float
    tag: str  # stroke ids are unique on each board


@dataclass(frozen=True)
class Enter:
    """Enter these rooms (this process's share), and give the first ``channels`` rooms'
    people their data connections (``receivers``: the receivers' too, else the drawers'
    alone)."""

    rooms: list[Room]
    channels: int = 0
    receivers: bool = True


@dataclass
class Tally:
    rooms: int = 0  # drawing
    lost: int = 0  # of the phase's rooms, left out: they failed to enter or to connect
    commit_ms: list[float] = field(default_factory=list)  # drawer to its own confirmation
    fanout_ms: list[float] = field(default_factory=list)  # drawer to the other person
    sent: int = 0  # strokes sent in the measured window
    committed: int = 0
    received: int = 0
    op_bytes: int = 0  # of the strokes sent in the window
    errors: list[str] = field(default_factory=list)  # board error codes
    send_lag_ms: float = 0.0  # how late a stroke left against its moment, at most
    loop_lag_ms: list[float] = field(default_factory=list)  # the event loop's, sampled

    def add(self, other: Tally) -> None:
        self.rooms += other.rooms
        self.lost += other.lost
        self.commit_ms += other.commit_ms
        self.fanout_ms += other.fanout_ms
        self.sent += other.sent
        self.committed += other.committed
        self.received += other.received
        self.op_bytes += other.op_bytes
        self.errors += other.errors
        self.send_lag_ms = max(self.send_lag_ms, other.send_lag_ms)
        self.loop_lag_ms += other.loop_lag_ms


class Person:
    """One person: a signalling socket, and maybe a data connection to the server."""

    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.via: Transport = "socket"
        self.pc: RTCPeerConnection | None = None
        self.board: RTCDataChannel | None = None
        self.inbox: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.snapshot = asyncio.Event()
        self.errors: list[str] = []
        self.on_stroke: OnStroke | None = None
        self.reader = asyncio.create_task(self._read())

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps({"v": 1, **message}))

    async def _read(self) -> None:
        async for frame in self.ws:
            if frame.type is not WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            kind = message["type"]
            if kind == "board":
                if self.via == "socket":  # as a page, which reads one link at a time
                    self._board(message["message"])
            elif kind not in IGNORED:
                if kind == "error":  # the socket's own refusals count with the board's
                    self.errors.append(message["code"])
                self.inbox.append(message)
                self.arrived.set()

    def _on_channel(self, data: str | bytes) -> None:
        if isinstance(data, str):
            self._board(json.loads(data))

    def _board(self, doc: dict[str, Any]) -> None:
        kind = doc["type"]
        if kind == "change":
            if self.on_stroke is not None:
                now = asyncio.get_running_loop().time()
                for change in doc["changes"]:
                    if "set" in change:
                        self.on_stroke(change["set"]["id"], now)
        elif kind in ("snapshot", "caught_up"):
            # the board whole; or, on a data connection taking over from the socket's board,
            # ``caught_up``: the socket's link had sent it all (``docs/protocol.md``)
            self.snapshot.set()
        elif kind == "error":
            self.errors.append(doc["code"])

    async def expect(self, kind: str, within: float = 120.0) -> dict[str, Any]:
        """The first message of ``kind`` received so far or next; an error fails."""
        async with asyncio.timeout(within):
            while True:
                for message in self.inbox:
                    if message["type"] in (kind, "error"):
                        self.inbox.remove(message)
                        if message["type"] == "error":
                            raise RuntimeError(f"{kind} refused: {message}")
                        return message
                self.arrived.clear()
                await self.arrived.wait()

    async def open_board(self) -> None:
        """The board on this socket (its snapshot, then every change)."""
        self.via = "socket"
        self.snapshot.clear()
        await self.send({"type": "board_open"})
        await asyncio.wait_for(self.snapshot.wait(), 120)

    async def open_channel(self) -> None:
        """A data connection to the server, which takes the board over from the socket."""
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        channels = {label: pc.createDataChannel(label) for label in ("board", "objects", "control")}
        channels["board"].on("message", self._on_channel)
        self.snapshot.clear()
        self.via, self.pc, self.board = "channel", pc, channels["board"]
        await pc.setLocalDescription(await pc.createOffer())
        offer = {"type": "offer", "sdp": pc.localDescription.sdp}
        await self.send({"type": "server_signal", "description": offer})
        answer = (await self.expect("server_signal"))["description"]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        await asyncio.wait_for(self.snapshot.wait(), 120)

    async def push(self, op: str) -> None:
        """One board operation (JSON text) on whichever link carries this person's board."""
        if self.board is not None and self.via == "channel":
            self.board.send(op)
        else:
            await self.ws.send_str(f'{{"v":1,"type":"board","op":{op}}}')

    async def close(self) -> None:
        self.reader.cancel()
        if self.pc is not None:
            await self.pc.close()
        await self.ws.close()


def stroke(sid: str, rng: random.Random) -> str:
    """A stroke of ``POINTS`` points as a page sends it at pen-up: a hand's path, to 0.1."""
    x, y = rng.uniform(200, 1400), rng.uniform(200, 1000)
    points = []
    for _ in range(POINTS):
        x = min(1600.0, max(0.0, x + rng.uniform(-15, 15)))
        y = min(1200.0, max(0.0, y + rng.uniform(-15, 15)))
        points.append([round(x, 1), round(y, 1), round(rng.uniform(0.3, 0.9), 2)])
    op = {"op": "stroke", "id": sid, "colour": "#204080", "width": 6, "points": points}
    return json.dumps(op, separators=(",", ":"))


async def draw(drawer: Person, receiver: Person, phase: Phase, rng: random.Random) -> Tally:
    """One room's drawing: a stroke about every second, each timed by its id."""
    loop = asyncio.get_running_loop()
    sent: dict[str, float] = {}
    committed: dict[str, float] = {}
    received: dict[str, float] = {}
    finished = asyncio.Event()
    counting = phase.start_at + phase.warmup
    stop = counting + phase.seconds
    done_sending = False

    def heard(into: dict[str, float]) -> OnStroke:
        def on_stroke(sid: str, now: float) -> None:
            if sid in sent and sid not in into:
                into[sid] = now
                if done_sending and len(committed) == len(received) == len(sent):
                    finished.set()

        return on_stroke

    drawer.on_stroke, receiver.on_stroke = heard(committed), heard(received)
    errors = len(drawer.errors)
    due = phase.start_at + rng.random() * EVERY
    tally = Tally()
    k = 0
    while due < stop:
        await asyncio.sleep(due - loop.time())
        sid = f"{phase.tag}-{k}"
        op = stroke(sid, rng)
        now = loop.time()
        tally.send_lag_ms = max(tally.send_lag_ms, (now - due) * 1000)
        sent[sid] = now
        if now >= counting:
            tally.op_bytes += len(op)
        try:
            await drawer.push(op)
        except (InvalidStateError, ConnectionError, RuntimeError):
            drawer.errors.append("link_closed")  # counted, and the room stops drawing
            break
        k += 1
        due += EVERY * rng.uniform(1 - JITTER, 1 + JITTER)
    done_sending = True
    if not len(committed) == len(received) == len(sent):
        try:
            await asyncio.wait_for(finished.wait(), max(0.1, stop + DRAIN_SECONDS - loop.time()))
        except TimeoutError:
            pass  # counted: committed or received < sent
    drawer.on_stroke = receiver.on_stroke = None
    counted = [sid for sid, t in sent.items() if t >= counting]
    tally.sent = len(counted)
    tally.commit_ms = [(committed[s] - sent[s]) * 1000 for s in counted if s in committed]
    tally.fanout_ms = [(received[s] - sent[s]) * 1000 for s in counted if s in received]
    tally.committed, tally.received = len(tally.commit_ms), len(tally.fanout_ms)
    tally.errors = drawer.errors[errors:]
    return tally


async def loop_lag(until: float, into: list[float]) -> None:
    """How late the event loop wakes a sleeper, every ``LAG_EVERY`` s until ``until``."""
    loop = asyncio.get_running_loop()
    while (due := loop.time() + LAG_EVERY) < until:
        await asyncio.sleep(LAG_EVERY)  # the sampling beat itself
        into.append((loop.time() - due) * 1000)


class Rooms:
    """This process's rooms: the therapist and the young person of each."""

    def __init__(self, url: str, cookies: dict[str, str]) -> None:
        self.url = url
        self.ws_url = f"{url.replace('http', 'ws', 1)}/ws"
        self.staff = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(limit=0)
        )
        self.staff.cookie_jar.update_cookies(cookies, URL(url))
        self.outsider = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.people: dict[int, tuple[Person, Person]] = {}
        self.lost: set[int] = set()  # rooms that failed to enter or to connect
        self.rng = random.Random()

    async def _enter(self, index: int, session: str, token: str) -> None:
        made: list[Person] = []
        try:
            therapist = Person(await self.staff.ws_connect(self.ws_url))
            made.append(therapist)
            await therapist.send({"type": "open_room", "session": session})
            await therapist.expect("room_opened")
            young = Person(await self.outsider.ws_connect(self.ws_url))
            made.append(young)
            await young.send(join_message(token))
            yid = (await young.expect("joined"))["you"]["id"]
            await therapist.send({"type": "admit", "participant": yid})
            await young.expect("admitted")
            await asyncio.gather(therapist.open_board(), young.open_board())
        except BaseException:
            await asyncio.gather(*(p.close() for p in made), return_exceptions=True)
            raise
        self.people[index] = (therapist, young)

    async def enter(self, command: Enter) -> None:
        """Enter the rooms not yet entered, then open the data connections asked for. A room
        that fails on the way (the server, overloaded, closed a socket) is left out of the
        drawing from then on, and counted."""
        gate = asyncio.Semaphore(SETUP_AT_ONCE)

        async def one(room: Room) -> None:
            async with gate:
                try:
                    await self._enter(*room)
                except (OSError, RuntimeError, TimeoutError, aiohttp.ClientError):
                    self.lost.add(room[0])

        async def channels(index: int, pair: tuple[Person, Person]) -> None:
            async with gate:
                try:
                    for person in pair[: 2 if command.receivers else 1]:
                        if person.via != "channel":
                            await person.open_channel()
                except (OSError, RuntimeError, TimeoutError, aiohttp.ClientError):
                    self.lost.add(index)
                    del self.people[index]
                    await asyncio.gather(*(p.close() for p in pair), return_exceptions=True)

        new = [r for r in command.rooms if r[0] not in self.people and r[0] not in self.lost]
        await asyncio.gather(*(one(r) for r in new))
        wanted = [(i, p) for i, p in self.people.items() if i < command.channels]
        await asyncio.gather(*(channels(i, p) for i, p in wanted))

    async def run(self, phase: Phase) -> Tally:
        drawing = [pair for index, pair in self.people.items() if index < phase.rooms]
        total = Tally(rooms=len(drawing), lost=sum(1 for i in self.lost if i < phase.rooms))
        if not drawing:
            return total
        loop = asyncio.get_running_loop()
        counting = phase.start_at + phase.warmup
        lags: list[float] = []
        lag = asyncio.create_task(loop_lag(counting + phase.seconds, lags))
        rooms = asyncio.gather(*(draw(t, y, phase, self.rng) for t, y in drawing))
        await asyncio.sleep(counting - loop.time())
        warmup = len(lags)  # the warm-up's samples are not counted
        for tally in await rooms:
            total.add(tally)
        await lag
        total.loop_lag_ms = lags[warmup:]
        return total

    async def close(self) -> None:
        people = [p for pair in self.people.values() for p in pair]
        await asyncio.gather(*(p.close() for p in people), return_exceptions=True)
        await self.staff.close()
        await self.outsider.close()


def serve(conn: Connection, url: str, cookies: dict[str, str]) -> None:
    """A client process: run each command sent, answering each; None ends it."""
    aioice.ice.get_host_addresses = loopback_only
    asyncio.run(_serve(conn, url, cookies))


async def _serve(conn: Connection, url: str, cookies: dict[str, str]) -> None:
    loop = asyncio.get_running_loop()
    mine = Rooms(url, cookies)
    conn.send("ready")
    try:
        while (command := await loop.run_in_executor(None, conn.recv)) is not None:
            if isinstance(command, Phase):
                conn.send(await mine.run(command))
            else:
                started = loop.time()
                try:
                    await mine.enter(command)
                except Exception as exc:  # told to the benchmark, which stops
                    conn.send(f"failed: {type(exc).__name__}: {exc}")
                    continue
                conn.send(("entered", loop.time() - started))
    finally:
        await mine.close()
