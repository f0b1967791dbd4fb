"""Rooms drawing at a page's rate, on one core: in each room one person draws continuously in
strokes of about a second, each sent whole at pen-up as a page sends it (one ``stroke``
operation of 60 points about every second, each interval 0.75 to 1.25 s so that rooms are
not in step), and the other person receives. The server is pinned to one CPU and every
client process to the other (``taskset``'s way: every thread). For each transport, the
largest number of rooms whose commit p99 stays under 100 ms with every stroke confirmed and
delivered: a ladder of room counts (100, 200, 300, 500, 700, 1000) up to the first that
fails, then up to two bisections between the last good count and it.

Commit latency is from just before the drawer sends a stroke to the drawer receiving the
server's ``change`` for it (the board answers an operation by fanning its change out to
everyone, its author too, once it is stored: ``server/board/service.py``); fan-out latency
is to the other person receiving it. Each phase draws for a warm-up (not counted) and then
the measured window, over which the server's CPU (``/proc``, all its threads), the client
processes' and the whole machine's are taken; the server's idle CPU with the same rooms
entered and nobody drawing is taken just before, and "CPU a room" is what drawing adds to
it, per drawing room. The server runs through ``gc_server.py``, which times its garbage
collections: each one stops every room. A failed phase names the limit: the server (over
0.85 of its core), the clients (over 0.85 of theirs together), the server's garbage
collection (a pause as long as the limit), others' work on the machine (a client loop
waking over 25 ms late at p99, or the server kept waiting for its core), or neither.

Transports, one after the other on the same rooms:

- the signalling socket (``board_open``, then ``board`` frames: the fallback); both people
  are plain aiohttp WebSockets;
- the data connection to the server (aiortc, the normal path): each person also makes an
  aiortc connection with the channels ``board``, ``objects`` and ``control``, which takes
  their board over (``--channel-receivers socket`` leaves the receivers on the socket, for
  when aiortc clients cost more than their core has).

Rooms are entered as the ladder needs them (``room_setup.py``); those of a larger count stay
entered, idle, in the phases after it, and every board keeps what was drawn on it. Rooms
are spread over client processes (``room_clients.py``, 100 rooms each), each on its own
event loop. Then the Yjs WebSocket server (``rooms_yjs.py``, ``yjs_rooms.mjs``) at the same
rate and the same room counts, strokes as Yjs updates of the same points, pinned alike.

With ``PLAYROOM_BENCH_PROFILE=1``, after each transport's search one more phase at the first
count that failed (or the largest) runs with py-spy on the server (``profiling.py``), into
``results/profile-rooms.txt``. With ``PLAYROOM_BENCH_GC_FREEZE=1`` the server freezes what
it holds once started (``gc_server.py``): an experiment, said so in the report.

    python -m tests.bench.bench_rooms [--ladder 100 200 300 500 700 1000] [--bisect 2]
        [--warmup 2] [--seconds 10] [--transports socket channel]
        [--channel-receivers channel|socket] [--rooms-per-process 100] [--no-yjs]
        [--commit-gather-ms MS]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import aiortc

from server.settings import Settings
from tests.bench import rooms_yjs
from tests.bench.cpu import cpu_seconds
from tests.bench.gc_server import GcLoggedServer, frozen, gc_logged_server
from tests.bench.peers import installed
from tests.bench.profiling import Recorder, report
from tests.bench.report import RESULTS, write
from tests.bench.room_clients import EVERY, JITTER, POINTS, Phase, Tally
from tests.bench.room_phase import (
    BUSY,
    CLIENT_CPU,
    P99_LIMIT_MS,
    SERVER_CPU,
    Meter,
    Observed,
    figures,
    idle_cpu,
    line,
    pin_all,
    pinning,
)
from tests.bench.room_setup import Clients, Sessions, cookies

LADDER = [100, 200, 300, 500, 700, 1000]
PROFILE = os.environ.get("PLAYROOM_BENCH_PROFILE") == "1"
NAMES = {"socket": "websocket", "channel": "data_channel"}


def settle(pid: int, within: float = 45.0) -> None:
    """Until the server has worked through what the last phase left (its use falls below
    0.15 of a core, or holds steady below 0.6: idle rooms cost something of their own)."""
    deadline, last = time.monotonic() + within, 2.0
    while time.monotonic() < deadline:
        use = idle_cpu(pid, 0.5)
        if use < 0.15 or (use < 0.6 and abs(use - last) < 0.05):
            return
        last = use


def phase(server: GcLoggedServer, clients: Clients, rooms: int, args: argparse.Namespace,
          tag: str) -> dict[str, Any]:  # fmt: skip
    """One phase: ``rooms`` rooms draw; the server's and the clients' CPU over its window,
    and the server's garbage collections."""
    pid = server.proc.pid
    pin_all(pid, SERVER_CPU)  # again: threads its other threads started since
    settle(pid)
    idle = idle_cpu(pid)
    start = time.monotonic() + 0.5
    meter = Meter(pid, clients.pids)
    for conn in clients.conns:
        conn.send(Phase(rooms, start, args.warmup, args.seconds, tag))
    time.sleep(start + args.warmup - time.monotonic())
    meter.start()
    began = time.time()
    time.sleep(max(0.0, start + args.warmup + args.seconds - time.monotonic()))
    window = meter.stop()
    ended = time.time()
    total = Tally()
    for tally in clients.collect(within=args.warmup + args.seconds + 60):
        total.add(tally)
    seen = Observed(
        commit_ms=total.commit_ms,
        fanout_ms=total.fanout_ms,
        sent=total.sent,
        committed=total.committed,
        received=total.received,
        op_bytes=total.op_bytes / max(1, total.sent),
        errors=total.errors,
        send_lag_ms=total.send_lag_ms,
        loop_lag_ms=total.loop_lag_ms,
    )
    f = figures(total.rooms, seen, window, idle, server.collections(began, ended))
    f["detail"]["rooms_left_out"] = total.lost  # failed to enter or to connect: not drawing
    if total.lost:
        f["good"], f["limited_by"] = False, f["limited_by"] or "rooms failed to enter"
    return f


def search(ladder: list[int], bisect: int, run: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    """Up the ladder to the first count that fails, then ``bisect`` halvings below it."""
    lo, hi = 0, None
    for n in ladder:
        if not run(n)["good"]:
            hi = n
            break
        lo = n
    for _ in range(bisect):
        if hi is None or hi - lo <= max(20, lo // 10):
            break
        n = (lo + hi) // 2
        lo, hi = (n, hi) if run(n)["good"] else (lo, n)
    return {"capacity_rooms": lo, "at_least": hi is None, "first_failing": hi}


def _profile(server: GcLoggedServer, clients: Clients, rooms: int, args: argparse.Namespace,
             name: str) -> str:  # fmt: skip
    """One more phase at ``rooms`` with py-spy on the server: its summary."""
    loop = asyncio.new_event_loop()
    recorder = Recorder(server.proc.pid)
    try:
        loop.run_until_complete(recorder.start())
        f = phase(server, clients, rooms, args, f"prof-{name}")
        stacks = loop.run_until_complete(recorder.stop())
    finally:
        loop.close()
    frozen_note = (
        ", what it held once started frozen (PLAYROOM_BENCH_GC_FREEZE)" if frozen() else ""
    )
    title = (
        f"{name}, {rooms} rooms drawing (a stroke a second each), server on one core{frozen_note}"
    )
    return report(title, stacks, f["detail"]["strokes"])


class Ladder:
    """One transport's phases on the server, rooms entered as they are needed."""

    def __init__(self, server: GcLoggedServer, sessions: Sessions, clients: Clients,
                 transport: str, args: argparse.Namespace) -> None:  # fmt: skip
        self.server, self.sessions, self.clients = server, sessions, clients
        self.transport, self.args = transport, args
        self.phases: dict[str, Any] = {}

    def run(self, n: int) -> dict[str, Any]:
        began = time.monotonic()
        rooms = asyncio.run(self.sessions.upto(n))
        channels = n if self.transport == "channel" else 0
        self.clients.enter(rooms, channels, self.args.channel_receivers == "channel")
        took = time.monotonic() - began
        f = phase(self.server, self.clients, n, self.args, f"{self.transport}{n}")
        f["detail"]["setup_s"] = round(took, 1)  # sessions made and rooms entered first
        self.phases[f"{n}_rooms"] = f
        print(line(NAMES[self.transport], f), flush=True)
        return f


def playroom(args: argparse.Namespace) -> dict[str, Any]:
    """Every transport's ladder on one server."""
    gather = {} if args.gather_ms is None else {"PLAYROOM_COMMIT_GATHER_MS": str(args.gather_ms)}
    server = gc_logged_server(**gather)
    pid = server.proc.pid
    pin_all(pid, SERVER_CPU)
    sessions = Sessions(server)
    out: dict[str, Any] = {"capacity": {}, "profiles": []}
    try:
        staff = asyncio.run(cookies(server.url))
        clients = Clients(server.url, staff, math.ceil(max(args.ladder) / args.per))
        out["client_processes"] = len(clients.procs)
        try:
            for transport in args.transports:
                ladder = Ladder(server, sessions, clients, transport, args)
                cap = search(args.ladder, args.bisect, ladder.run)
                failed = ladder.phases.get(f"{cap['first_failing']}_rooms", {})
                cap["why"] = failed.get("limited_by", "")
                cap["rooms_by_cpu"] = _by_cpu(ladder.phases)
                out[NAMES[transport]] = ladder.phases
                out["capacity"][NAMES[transport]] = cap
                if PROFILE:
                    at = cap["first_failing"] or cap["capacity_rooms"]
                    out["profiles"].append(_profile(server, clients, at, args, NAMES[transport]))
        finally:
            clients.close()
    except Exception:
        print(f"the server's last words:\n{server.stderr()[-3000:]}", file=sys.stderr)
        raise
    finally:
        server.stop()
    return out


def _by_cpu(phases: dict[str, Any]) -> int | None:
    """How many rooms the server's core would hold by CPU alone (to 0.85 of it), from the
    phase with the most rooms (of those others' work on the machine did not spoil, if any):
    its idle cost, and what each drawing room added."""
    clean = [f for f in phases.values() if f["limited_by"] != "other work on the machine"]
    if not phases:
        return None
    f = max(clean or phases.values(), key=lambda f: f["rooms"])
    per_room = f["server_cpu_ms_a_room"] / 1000
    spare = BUSY - f["detail"]["server_cpu_idle"]
    return int(spare / per_room) if per_room > 0 else None


def _per_room(ours: dict[str, Any], yjs: Any) -> dict[str, Any]:
    """CPU a drawing room, Playroom's and Yjs's, at the most rooms both ran (the fixed costs
    of either weigh least there), and their ratio."""
    both = [int(k.split("_")[0]) for k in ours if isinstance(yjs, dict) and k in yjs]
    if not both:
        return {"at_rooms": None, "playroom_ms_a_room": None, "yjs_ms_a_room": None}
    key = f"{max(both)}_rooms"
    mine, theirs = ours[key]["server_cpu_ms_a_room"], yjs[key]["server_cpu_ms_a_room"]
    return {
        "at_rooms": max(both),
        "playroom_ms_a_room": mine,
        "yjs_ms_a_room": theirs,
        "ratio": round(mine / theirs, 1) if theirs else None,
    }


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_rooms")
    parser.add_argument("--ladder", type=int, nargs="+", default=LADDER)
    parser.add_argument("--bisect", type=int, default=2, help="halvings after the ladder")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, not counted")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured, a phase")
    parser.add_argument("--transports", nargs="+", choices=list(NAMES), default=list(NAMES))
    parser.add_argument("--channel-receivers", choices=["channel", "socket"], default="channel")
    parser.add_argument("--rooms-per-process", dest="per", type=int, default=100)
    parser.add_argument("--no-yjs", action="store_true")
    parser.add_argument(
        "--commit-gather-ms", dest="gather_ms", type=float, help="the server's; default its own"
    )
    args = parser.parse_args(argv)
    if pinning():
        os.sched_setaffinity(0, {CLIENT_CPU})  # this process and all it starts: off the server's
    ours = playroom(args)
    counts = sorted({int(k.split("_")[0]) for t in NAMES.values() for k in ours.get(t, {})})
    yjs = "not run (--no-yjs)" if args.no_yjs else rooms_yjs.run(counts, args.warmup, args.seconds)
    figures: dict[str, Any] = {
        "stroke_every_s": EVERY,
        "interval_jitter": f"±{JITTER:.0%}",
        "points_a_stroke": POINTS,
        "warmup_s": args.warmup,
        "seconds_a_phase": args.seconds,
        "p99_limit_ms": P99_LIMIT_MS,
        "server_pinned_to_one_cpu": pinning(),
        "server_gc_frozen_after_start": frozen(),  # PLAYROOM_BENCH_GC_FREEZE=1: an experiment
        "commit_gather_ms": args.gather_ms
        if args.gather_ms is not None
        else Settings.model_fields["commit_gather_ms"].default,
        "channel_receivers": args.channel_receivers,
        "client_processes": ours.get("client_processes"),
        **{f"playroom_{name}": ours[name] for name in NAMES.values() if name in ours},
        "yjs": yjs,
        "one_core_capacity": ours["capacity"],
        "cpu_a_room_against_yjs": {name: _per_room(ours[name], yjs) for name in ours["capacity"]},
        "compare": [  # for report.py: Playroom's figure over Yjs's, at the same room count
            {
                "label": f"{n} rooms, {name.replace('_', ' ')}",
                "playroom": f"playroom_{name}/{n}_rooms",
                "peer": f"yjs/{n}_rooms",
                "peer_name": "Yjs",
                "keys": [
                    "commit_p50_ms",
                    "commit_p99_ms",
                    "fanout_p50_ms",
                    "fanout_p99_ms",
                    "server_cpu_ms_a_room",
                ],
            }
            for name in NAMES.values()
            for n in counts
            if f"{n}_rooms" in ours.get(name, {}) and isinstance(yjs, dict) and f"{n}_rooms" in yjs
        ],
    }
    versions = {
        "aiortc": aiortc.__version__,
        "aiohttp": aiohttp.__version__,
        **{p.rsplit("@", 1)[0]: installed(p.rsplit("@", 1)[0]) or "-" for p in rooms_yjs.YJS},
    }
    path = write("whiteboard_rooms", figures, versions)
    if ours["profiles"]:
        profile = RESULTS / "profile-rooms.txt"
        head = "Reproduce: PLAYROOM_BENCH_PROFILE=1 python -m tests.bench.bench_rooms\n\n"
        profile.write_text(head + "\n".join(ours["profiles"]))
        print(f"wrote {profile}")
    for name, cap in ours["capacity"].items():
        more = "at least " if cap["at_least"] else ""
        failed = cap["first_failing"]
        why = f"; {failed} failed, limited by {cap['why']}" if failed else ""
        print(
            f"one core, {name}: {more}{cap['capacity_rooms']} rooms with commit p99 < "
            f"{P99_LIMIT_MS:g} ms{why}; by CPU alone about {cap['rooms_by_cpu']}"
        )
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    started = time.monotonic()
    main(sys.argv[1:])
    took, cpu = time.monotonic() - started, cpu_seconds(os.getpid())
    print(f"took {took:.0f} s; this process used {cpu:.0f} s of CPU")
