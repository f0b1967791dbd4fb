"""The people of the restart benchmark (``bench_restart.py``), in its client processes
(``restart_rooms.py``).

Each room is a therapist and a young person, each an aiortc peer (``tests.client.ProtocolPeer``,
no audio or video) holding the board as a page does (``board="page"``: on the signalling
socket at once, then on a data connection to the server, which takes it over), and each
drawing a short stroke about every second (one ``stroke`` operation of ``POINTS`` points, the
interval drawn from 0.75 to 1.25 s). A stroke is acknowledged when its author receives the
``change`` the board fans out once it is stored; one drawn while the person has no board
(the server gone, the board not back yet) is not sent, as a page's is not, and is counted.

When the socket closes, a person comes back as ``web/static/js/signal.js`` does
(``tests/comeback.py`` has its schedule): the first try at once, or, when the server said it
is restarting, after the time it gave this socket; then after jittered waits
(``retry_delay``), short while the server is restarting. Unless the server said so, it also
probes ``/healthz`` every ``PROBE`` s (at most ``PROBES`` at once, each dropped after
``PROBE_WAIT`` s; once a probe is refused, one at a time, each held until answered for up to
``PROBE_HOLD`` s) and tries at once when a probe is answered. On the new socket it resumes
with its token, and once ``resumed`` it reopens the board saying the ``seq`` it holds (as
``whiteboard.js`` does), and a fresh data connection. Every process times on
``time.monotonic`` (the event loop's clock), which is system-wide on Linux, so every process
and the benchmark share one clock."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc.exceptions import InvalidStateError

from tests.client import ProtocolPeer
from tests.comeback import RESTART_HOLD, restart_after, retry_delay

EVERY = 1.0  # a stroke a second a person
JITTER = 0.25
POINTS = 12  # a short stroke
DRAIN_SECONDS = 5.0  # how long acknowledgements may take once the drawing stops
# signal.js, as the pages reconnect
PROBE = 0.1
PROBES = 3
PROBE_WAIT = 0.4
CONNECT = 5.0
PROBE_HOLD = CONNECT
RESUMED_WITHIN = 30.0  # a socket open but silent this long is given up (the page: 6 s silent)


@dataclass
class Report:
    """One person's run: what happened when (``events``: ``lost``; then, coming back,
    ``answered`` (a probe of /healthz), ``socket`` (a new one open), ``resumed`` or
    ``refused``, and ``board`` (restored)), each stroke's ``(sent, acknowledged or None)``, the
    strokes not sent for want of a board, and what the server answered that was not 2xx."""

    role: str
    events: list[tuple[str, float]] = field(default_factory=list)
    strokes: list[tuple[float, float | None]] = field(default_factory=list)
    # each acknowledged stroke: how long its change, arrived, waited here for an earlier one
    held: list[tuple[float, float]] = field(default_factory=list)
    unsent: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # 5xx seen by probes and handshakes
    probes_dropped: int = 0  # probes given up unanswered (a server starting still answers them)
    resumes: int = 0
    board_errors: list[str] = field(default_factory=list)
    on_data_connection: bool = False  # at the end: the board on it, not on the socket


class Page(ProtocolPeer):
    """A ProtocolPeer that says when its board is restored (a snapshot, or ``caught_up``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.restored: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def _board_message(self, doc: dict[str, Any], link: str) -> None:
        super()._board_message(doc, link)
        if doc["type"] in ("snapshot", "caught_up") and not self.restored.done():
            self.restored.set_result(asyncio.get_running_loop().time())


class Person:
    """One person of a room, coming back after every drop as a page does."""

    def __init__(self, role: str, http: aiohttp.ClientSession, base: str, room: Shared) -> None:
        self.role, self.http, self.base, self.room = role, http, base, room
        self.ws_url = f"{base.replace('http', 'ws', 1)}/ws"
        self.report = Report(role)
        self.peer: Page | None = None
        self.token: str | None = None
        self.ready = False  # the board is here: strokes can go
        self.pending: dict[str, float] = {}  # stroke id -> when sent
        self.rng = random.Random()
        self.tasks: list[asyncio.Task[None]] = []
        self.closing = False

    def note(self, event: str) -> None:
        self.report.events.append((event, asyncio.get_running_loop().time()))

    async def socket(self) -> Page:
        return Page(await self.http.ws_connect(self.ws_url), media=False, board="page")

    def adopt(self, peer: Page, board: ProtocolPeer | None = None) -> None:
        """``peer`` is this person now (keeping the board ``board`` held, if any)."""
        if board is not None:
            peer.board, peer.objects = board.board, board.objects
        peer.on_change = self.on_change
        self.peer = peer

    def on_change(self, doc: dict[str, Any]) -> None:
        now = asyncio.get_running_loop().time()
        ids = [str(c["set"]["id"]) for c in doc["changes"] if "set" in c]
        self.room.seqs.setdefault(int(doc["seq"]), ids)
        arrived = self.peer.change_times.get(int(doc["seq"]), now) if self.peer else now
        for sid in ids:
            sent = self.pending.pop(sid, None)
            if sent is not None:
                self.report.strokes.append((sent, now))
                self.report.held.append((sent, (now - arrived) * 1000))

    async def open_board(self, resume: bool) -> None:
        """Reopen the board (``resume``: saying what this person holds) on the socket and a
        fresh data connection; strokes go again as soon as the board is restored."""
        assert self.peer is not None
        peer = self.peer
        opening = asyncio.create_task(peer.open_board(resume=resume))
        either: set[asyncio.Future[Any]] = {peer.restored, peer._reader}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        if peer.restored.done():
            self.note("board")
            self.ready = True

        async def take_over() -> None:
            with contextlib.suppress(Exception):  # the socket has the board meanwhile
                await opening
                if peer is self.peer and not peer._reader.done():
                    peer.start_heartbeat()

        self.tasks.append(asyncio.create_task(take_over()))

    def live(self) -> None:
        """From now on: watch the socket, and draw."""
        self.tasks += [asyncio.create_task(self.watch()), asyncio.create_task(self.draw_on())]

    # -- coming back

    async def watch(self) -> None:
        while not self.closing:
            peer = self.peer
            assert peer is not None
            await asyncio.wait({peer._reader})
            if self.closing:
                return
            self.ready = False
            self.note("lost")
            self.tasks.append(asyncio.create_task(peer.close()))
            if not await self.come_back(peer):
                return

    async def come_back(self, old: ProtocolPeer) -> bool:
        """Probe and reconnect, as signal.js does, until resumed (False: refused)."""
        back = asyncio.Event()
        after = restart_after(old.inbox)
        restarting_until = time.monotonic() + RESTART_HOLD if after is not None else 0.0
        # a restarting server has said the network is not the matter: no probes then
        probing = None if after is not None else asyncio.create_task(self.probe(back))
        attempt = 0
        try:
            while True:
                restarting = time.monotonic() < restarting_until
                if attempt == 0 and after is not None:
                    delay = after
                else:
                    delay = retry_delay(attempt, restarting, self.rng)
                attempt += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(back.wait(), delay)
                back.clear()
                try:
                    async with asyncio.timeout(CONNECT):
                        peer = await self.socket()
                    self.note("socket")
                except (OSError, TimeoutError, aiohttp.ClientError) as exc:
                    status = getattr(exc, "status", 0)
                    if isinstance(status, int) and status >= 500:
                        self.report.statuses.append(status)
                    continue
                if probing is not None:
                    probing.cancel()
                await peer.send({"type": "resume", "token": self.token})
                answer = await self.resumed(peer)
                if answer is None:  # closed or silent before answering: a drop again
                    await peer.close()
                    if time.monotonic() >= restarting_until:
                        probing = asyncio.create_task(self.probe(back))
                    continue
                if answer["type"] == "error":
                    self.note("refused")
                    await peer.close()
                    return False
                self.note("resumed")
                self.report.resumes += 1
                self.token = str(answer["resume"])
                self.adopt(peer, old)
                await self.open_board(resume=True)
                return True
        finally:
            if probing is not None:
                probing.cancel()

    async def resumed(self, peer: Page) -> dict[str, Any] | None:
        def answer() -> dict[str, Any] | None:
            for m in peer.inbox:
                if m["type"] == "resumed" or (m["type"] == "error" and m["code"] == "bad_resume"):
                    return m
            return None

        try:
            await peer.wait_for(lambda: answer() is not None or peer._reader.done(), RESUMED_WITHIN)
        except TimeoutError:
            return None
        return answer()

    async def probe(self, back: asyncio.Event) -> None:
        """Ask /healthz every PROBE s, a few at once, until cancelled; once one is refused,
        one at a time, each held until answered (as signal.js's ``probe``)."""
        out: set[asyncio.Task[None]] = set()
        hold = False

        async def one(held: bool) -> None:
            nonlocal hold
            wait = aiohttp.ClientTimeout(total=PROBE_HOLD if held else PROBE_WAIT)
            try:
                async with self.http.get(f"{self.base}/healthz", timeout=wait) as answer:
                    if answer.status >= 500:
                        self.report.statuses.append(answer.status)
                    if answer.status == 200:
                        if not back.is_set():
                            self.note("answered")
                        back.set()
                    else:
                        hold = True
            except TimeoutError:
                self.report.probes_dropped += 1
                hold = False  # lost on its way: the network, not the server
            except (OSError, aiohttp.ClientError):
                hold = True  # refused: no server yet; the next probe asks again, held

        try:
            while True:
                if len(out) < (1 if hold else PROBES):
                    task = asyncio.create_task(one(hold))
                    out.add(task)
                    task.add_done_callback(out.discard)
                await asyncio.sleep(PROBE)  # the probe's own beat, as the page's interval
        finally:
            for task in out:
                task.cancel()

    # -- drawing

    async def draw_on(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.rng.random() * EVERY
        k = 0
        while not self.closing and due < self.room.stop_at:
            await asyncio.sleep(due - loop.time())
            due += EVERY * self.rng.uniform(1 - JITTER, 1 + JITTER)
            now = loop.time()
            if not self.ready or self.peer is None:
                self.report.unsent.append(now)
                continue
            sid = f"{self.role[0]}{k}"
            k += 1
            self.pending[sid] = now
            try:
                self.peer.draw(stroke(sid, self.rng))
            except (InvalidStateError, ConnectionError, KeyError, RuntimeError):
                del self.pending[sid]
                self.report.unsent.append(now)

    async def finish(self) -> Report:
        """Wait for the last acknowledgements; what never came is counted as such."""
        if self.peer is not None and self.pending:
            with contextlib.suppress(TimeoutError):
                await self.peer.wait_for(lambda: not self.pending, DRAIN_SECONDS)
        self.report.strokes += [(sent, None) for sent in self.pending.values()]
        self.pending.clear()
        if self.peer is not None:
            self.report.board_errors = [str(e.get("code")) for e in self.peer.board_errors]
            self.report.on_data_connection = self.peer.took_over
        return self.report

    async def close(self) -> None:
        self.closing = True
        for task in self.tasks:
            task.cancel()
        if self.peer is not None:
            await self.peer.close()


@dataclass
class Shared:
    """What both people of a room share: the changes seen, and when drawing stops."""

    stop_at: float = float("inf")
    seqs: dict[int, list[str]] = field(default_factory=dict)


def stroke(sid: str, rng: random.Random) -> dict[str, Any]:
    x, y = rng.uniform(200, 1400), rng.uniform(200, 1000)
    points = []
    for _ in range(POINTS):
        x, y = x + rng.uniform(-15, 15), y + rng.uniform(-15, 15)
        points.append([round(x, 1), round(y, 1), 0.5])
    return {"op": "stroke", "id": sid, "colour": "#204080", "width": 6, "points": points}
