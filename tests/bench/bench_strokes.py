"""Whiteboard stroke latency: in each room one person draws (a point every 16 ms, as a hand
draws: ``stroke_begin``, ``stroke_points`` one point at a time, ``stroke_end``, strokes of 60
points one after another) and the other receives, through a real server process, with 1, 10
and 50 rooms drawing at once for 3 s; p50 and p99 from just before the send to the other
person's receipt, for each number of rooms. Three ways in the same run, with the same strokes:

- Playroom over its data channels (aiortc peers to the server's aiortc peers);
- Playroom over its signalling WebSocket (``board_open`` / ``board``, the fallback for a
  network where the data connection cannot be made): the same board and the same rules, so
  the difference is what the data channel costs. Board frames count against the board's
  own limit (100 operations a second), as on a data connection, not the socket's 50 other
  messages a second;
- the Yjs WebSocket sync server (npm ``@y/websocket-server``, with ``yjs`` and the
  ``y-websocket`` client provider, installed by this benchmark into ``tests/bench/.peers``
  through ``peers.py``): two Y.Docs a room, one Yjs update a board operation
  (``yjs_clients.mjs``, timed inside Node). If it cannot be installed, its row says why.

Yjs relays updates it keeps in memory, with no one checked; Playroom validates each
operation, numbers it and stores it sealed (SQLite, ``synchronous=FULL``; the operations of
every room that arrive while one transaction is being written go into the next, one
transaction for them all: ``server/storage/groupcommit.py``) before anyone sees it.

Each phase also gives the server's CPU per room (its CPU time from ``/proc`` over the
drawing, per second and per room: 1.0 is a whole core), how long its threads waited for a
CPU while ready to run (``/proc/<pid>/task/*/schedstat``: on a shared machine, the part of
the latency that is someone else's work), ``undelivered`` (points not received 6 s after the
drawing stopped: an overloaded server's backlog, or an operation it lost), and for the
clients the busiest process's CPU use and how late a point left against its beat, to show
whether they kept up. Between phases the benchmark waits (up to 45 s) for the server to work
through any backlog. Then the capacity on one core: the server pinned to CPU 0 and the
clients kept off it, the largest number of rooms that keeps p99 under 100 ms with every point
delivered, found by bisection over room counts (one phase a trial, 60 s at most).

The clients must not be the bottleneck: one process cannot drive 100 aiortc peers, so the
Playroom rooms are spread over several client processes (``stroke_rooms.py``, 10 rooms each
by ``--rooms-per-process``), each with its own event loop, started with ``spawn``; a room's
two people are in one process, and every process times on ``time.monotonic``, which is
system-wide on Linux, so the phase starts on one clock. The Yjs rooms are spread the same way
over Node processes (twice as many rooms each), started together on the epoch's clock.

    python -m tests.bench.bench_strokes [--rooms 1 10 50] [--seconds 3] [--capacity-max 50]
        [--rooms-per-process 10] [--points 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import subprocess
import sys
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
import aiortc
from yarl import URL

from tests.bench.cpu import cpu_seconds, pin, run_queue, wait_idle, waited
from tests.bench.peers import PEERS, installed, npm_install, wait_port
from tests.bench.report import summary, write
from tests.bench.stroke_rooms import Outcome, Phase, Transport, serve
from tests.helpers import free_port

P99_LIMIT_MS = 100.0
CAPACITY_SECONDS = 60.0  # the one-core search stops after this long
YJS = ("@y/websocket-server@0.1.1", "y-websocket@3.1.0", "yjs@13.6.33", "ws@8.18.3")
HERE = Path(__file__).resolve().parent


async def _sessions(url: str, rooms: int) -> tuple[dict[str, str], list[tuple[int, str, str]]]:
    """``rooms`` sessions ready to open, and the therapist's cookies for the client processes."""
    from tests.conftest import PASSWORD  # here: the client processes import this module too
    from tests.live import LiveStaff, ready_session

    staff = LiveStaff(url, "bench", PASSWORD)
    try:
        await staff.sign_in()
        made = [await ready_session(staff, name="Bench") for _ in range(rooms)]
        assert staff.http is not None
        jar = staff.http.cookie_jar.filter_cookies(URL(url))
        cookies = {name: morsel.value for name, morsel in jar.items()}
    finally:
        await staff.close()
    return cookies, [(i, session, links["young_person"]) for i, (session, links) in enumerate(made)]


class Clients:
    """The client processes; room ``i`` lives in process ``i % count``."""

    def __init__(self, url: str, cookies: dict[str, str], rooms: list[Any], per: int) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no loop inherited
        count = max(1, math.ceil(len(rooms) / per))
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for w in range(count):
            mine = [room for room in rooms if room[0] % count == w]
            parent, child = context.Pipe()
            proc = context.Process(target=serve, args=(child, url, cookies, mine), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
        self.collect("ready", within=60 + 3 * len(rooms))

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def collect(self, expected: object = None, within: float = 120) -> list[Any]:
        replies = []
        for conn, proc in zip(self.conns, self.procs, strict=True):
            if not conn.poll(within):
                raise TimeoutError(f"client process {proc.pid} did not answer")
            replies.append(conn.recv())
            assert expected is None or replies[-1] == expected, replies[-1]
        return replies

    def switch(self, transport: Transport) -> None:
        for conn in self.conns:
            conn.send(transport)
        self.collect("switched")

    def close(self) -> None:
        for conn in self.conns:
            conn.send(None)
        for proc in self.procs:
            proc.join(30)
            if proc.is_alive():
                proc.terminate()


def _figures(
    rooms: int, seconds: float, server_cpu: float, queued: float, outcome: Outcome
) -> dict[str, Any]:
    stats = summary(outcome.latencies) if outcome.latencies else None
    return {
        "rooms": rooms,
        "p50_ms": round(stats["median"], 2) if stats else None,
        "p99_ms": round(stats["p99"], 2) if stats else None,
        "latency_ms": stats,
        "sent": outcome.sent,
        "undelivered": outcome.sent - outcome.received,  # not there 6 s after the drawing
        "errors": dict(Counter(outcome.errors)),
        "server_cpu": round(server_cpu, 3),  # CPU-seconds a second (1.0: one core busy)
        "server_cpu_per_room": round(server_cpu / rooms, 4),
        "server_waited_for_cpu": round(queued, 3),  # seconds a second, ready but not running
        "client_cpu_max": round(outcome.cpu_seconds / seconds, 3),  # the busiest process
        "client_send_lag_max_ms": round(outcome.max_send_lag_ms, 1),
    }


def _phase(clients: Clients, server: int, rooms: int, seconds: float, points: int,
           tag: str) -> dict[str, Any]:  # fmt: skip
    """One measured phase: ``rooms`` rooms draw for ``seconds``; the server's CPU over it."""
    wait_idle(server)
    start = time.monotonic() + 0.3  # every client process has the phase by then
    phase = Phase(rooms, start, seconds, points, tag)
    for conn in clients.conns:
        conn.send(phase)
    time.sleep(start - time.monotonic())
    before, queue = cpu_seconds(server), run_queue(server)
    time.sleep(start + seconds - time.monotonic())
    cpu = (cpu_seconds(server) - before) / seconds
    queued = waited(queue, run_queue(server)) / seconds
    total = Outcome()
    for outcome in clients.collect(within=seconds + 60):
        total.add(outcome)
    return _progress(tag, _figures(rooms, seconds, cpu, queued, total))


def _progress(tag: str, f: dict[str, Any]) -> dict[str, Any]:
    print(_line(f"{tag} ({f['rooms']} rooms)", f), file=sys.stderr, flush=True)
    return f


def _good(f: dict[str, Any]) -> bool:
    return f["undelivered"] == 0 and not f["errors"] and (f["p99_ms"] or math.inf) < P99_LIMIT_MS


def _capacity(clients: Clients, server: int, pool: int, seconds: float, points: int,
              guess: int) -> dict[str, Any]:  # fmt: skip
    """With the server on CPU 0 alone: the most rooms (up to ``pool``) that are ``_good``."""
    cpus = os.cpu_count() or 1
    pin(server, {0})
    for pid in clients.pids:
        pin(pid, set(range(1, cpus)) or None)
    lo, hi, n = 0, pool + 1, max(1, min(pool, guess))
    trials: list[dict[str, Any]] = []
    deadline = time.monotonic() + CAPACITY_SECONDS
    try:
        while hi - lo > max(1, lo // 10) and time.monotonic() < deadline:
            f = _phase(clients, server, n, seconds, points, f"c{len(trials)}")
            trials.append({k: f[k] for k in ("rooms", "p50_ms", "p99_ms", "undelivered",
                                             "server_cpu", "client_cpu_max")})  # fmt: skip
            trials[-1]["good"] = _good(f)
            lo, hi = (n, hi) if _good(f) else (lo, n)
            n = (lo + hi) // 2 if hi <= pool else min(pool, 2 * lo)
            if not lo < n < hi:
                break
    finally:
        pin(server, None)
        for pid in clients.pids:
            pin(pid, None)
    return {"rooms": lo, "at_least": hi > pool, "p99_limit_ms": P99_LIMIT_MS, "trials": trials,
            "seconds_a_trial": seconds}  # fmt: skip


def _playroom(counts: list[int], args: argparse.Namespace) -> dict[str, Any]:
    from tests.bench.server import bench_server  # the whole server: not for the clients

    pool = max([*counts, args.capacity_max])
    server = bench_server()
    try:
        began = time.monotonic()
        cookies, rooms = asyncio.run(_sessions(server.url, pool))
        clients = Clients(server.url, cookies, rooms, args.rooms_per_process)
        print(f"  {pool} rooms entered in {time.monotonic() - began:.0f} s, over "
              f"{len(clients.procs)} client processes", file=sys.stderr, flush=True)  # fmt: skip
        pid = server.proc.pid
        try:
            channel = {f"{n}_rooms": _phase(clients, pid, n, args.seconds, args.points, f"d{n}")
                       for n in counts}  # fmt: skip
            per_room = max(f["server_cpu_per_room"] for f in channel.values())
            guess = int(0.7 / per_room) if per_room > 0 else pool
            capacity = _capacity(clients, pid, pool, args.seconds, args.points, guess)
            clients.switch("socket")
            socket = {f"{n}_rooms": _phase(clients, pid, n, args.seconds, args.points, f"w{n}")
                      for n in counts}  # fmt: skip
        finally:
            clients.close()
    except Exception:
        print(f"the server's last words:\n{server.stderr()[-3000:]}", file=sys.stderr)
        raise
    finally:
        server.stop()
    return {"data_channel": channel, "websocket": socket, "capacity": capacity,
            "client_processes": len(clients.procs)}  # fmt: skip


def _yjs(counts: list[int], args: argparse.Namespace) -> dict[str, Any] | str:
    why = npm_install(*YJS)
    if why is not None:
        return f"not run: {why}"
    port = free_port()
    script = PEERS / "node_modules" / "@y" / "websocket-server" / "src" / "server.js"
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
    server = subprocess.Popen(["node", str(script)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    figures: dict[str, Any] = {}
    try:
        wait_port(port)
        for n in counts:
            wait_idle(server.pid)
            figures[f"{n}_rooms"] = _yjs_phase(server.pid, port, n, args)
    finally:
        server.terminate()
        server.wait(10)
    return figures


def _yjs_phase(server: int, port: int, rooms: int, args: argparse.Namespace) -> dict[str, Any]:
    """``rooms`` Yjs rooms over as many Node processes as the Playroom rooms had Python ones,
    all starting on the same beat (their clock is the epoch's; this one samples the server)."""
    per = args.rooms_per_process * 2  # a Node client costs less than an aiortc one
    lead = 1.5 + rooms * 0.04  # time to connect and sync every room first
    start = time.time() + lead
    clients = []
    for first in range(0, rooms, per):
        command = ["node", str(HERE / "yjs_clients.mjs"), str(PEERS), f"ws://127.0.0.1:{port}",
                   str(first), str(min(per, rooms - first)), f"{start * 1000:.0f}",
                   str(args.seconds), str(args.points)]  # fmt: skip
        clients.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
    time.sleep(max(0.0, start - time.time()))
    before, queue = cpu_seconds(server), run_queue(server)
    time.sleep(max(0.0, start + args.seconds - time.time()))
    cpu = (cpu_seconds(server) - before) / args.seconds
    queued = waited(queue, run_queue(server)) / args.seconds
    total = Outcome()
    late = 0.0
    for client in clients:
        out, _ = client.communicate(timeout=60)
        doc = json.loads(out.strip().splitlines()[-1])
        late = max(late, doc["late_ms"])
        one = Outcome(
            latencies=doc["latencies"],
            sent=doc["sent"],
            received=doc["received"],
            cpu_seconds=doc["client_cpu_s"],
            max_send_lag_ms=doc["max_send_lag_ms"],
        )
        if not doc["converged"]:
            one.errors.append("not_converged")
        total.add(one)
    figures = _figures(rooms, args.seconds, cpu, queued, total)
    figures["clients_started_late_ms"] = round(late, 1)
    figures["client_processes"] = len(clients)
    return _progress("yjs", figures)


def _line(name: str, f: dict[str, Any]) -> str:
    lost = f" undelivered {f['undelivered']}" if f["undelivered"] else ""
    errors = f" errors {f['errors']}" if f["errors"] else ""
    return (f"  {name:<22} p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms; server "
            f"{f['server_cpu_per_room'] * 1000:.1f} ms CPU/s a room (waited "
            f"{f['server_waited_for_cpu'] * 1000:.0f} ms/s for a CPU); busiest client "
            f"{f['client_cpu_max']:.0%}, send lag <= {f['client_send_lag_max_ms']} ms"
            f"{lost}{errors}")  # fmt: skip


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_strokes")
    parser.add_argument("--rooms", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--seconds", type=float, default=3.0, help="of drawing a phase")
    parser.add_argument("--points", type=int, default=60, help="a stroke")
    parser.add_argument("--rooms-per-process", type=int, default=10)
    parser.add_argument("--capacity-max", type=int, default=50, help="rooms at most")
    args = parser.parse_args(argv)
    playroom = _playroom(args.rooms, args)
    yjs = _yjs(args.rooms, args)
    figures = {
        "point_every_ms": 16,
        "seconds_a_phase": args.seconds,
        "points_a_stroke": args.points,
        "client_processes": playroom["client_processes"],
        "playroom_data_channel": playroom["data_channel"],
        "playroom_websocket": playroom["websocket"],
        "yjs": yjs,
        "one_core_capacity": playroom["capacity"],
        "compare": [  # for report.py's summary: Playroom's figure over the other's
            {
                "label": f"{n} rooms{against}",
                "playroom": f"playroom_data_channel/{n}_rooms",
                "peer": f"{other}/{n}_rooms",
                "peer_name": name,
                "keys": ["p50_ms", "p99_ms", "server_cpu_per_room"],
            }
            for other, name, against in (
                ("yjs", "Yjs", ""),
                ("playroom_websocket", "Playroom over WebSocket", ", data channel or socket"),
            )
            for n in args.rooms
        ],
    }
    versions = {
        "aiortc": aiortc.__version__,
        "aiohttp": aiohttp.__version__,
        **{p.rsplit("@", 1)[0]: installed(p.rsplit("@", 1)[0]) or "-" for p in YJS},
    }
    path = write("whiteboard_stroke_latency", figures, versions)  # fmt: skip
    for n in args.rooms:
        print(f"{n} rooms:")
        print(_line("Playroom data channel", playroom["data_channel"][f"{n}_rooms"]))
        print(_line("Playroom WebSocket", playroom["websocket"][f"{n}_rooms"]))
        if isinstance(yjs, dict):
            print(_line("Yjs", yjs[f"{n}_rooms"]))
    if isinstance(yjs, str):
        print(f"Yjs: {yjs}")
    cap = playroom["capacity"]
    print(
        f"one core: {'at least ' if cap['at_least'] else ''}{cap['rooms']} rooms with p99 < "
        f"{P99_LIMIT_MS:g} ms; trials {[(t['rooms'], t['p99_ms']) for t in cap['trials']]}"
    )
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    started = time.monotonic()
    main(sys.argv[1:])
    print(f"took {time.monotonic() - started:.0f} s")
