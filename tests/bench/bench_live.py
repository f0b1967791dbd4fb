"""Live latency page to page in Chromium: a hand moving on one page (a sticker dragged, a
stroke drawn) and the other page drawing it, over the peer ``live`` channel between them and,
for comparison, through the server (``live`` frames on the signalling socket, coalesced to
20 a second), with the server idle and with it loaded.

Two pages of one headless Chromium (two browser contexts), a young person's and a
therapist's, in one room of a real server (``live_pages.py``). The young person's page moves
by real mouse input (``page.mouse``: pointer events through Chromium's input pipeline), a
movement every display frame (1/60 s) at most and 2 px at a time: a drag to and fro of a
sticker, and strokes of 100 points. A probe in each page (``live_probe.js``) wraps the page's
own live path and notes, for each update, when it passed each step; one update is one item's
place, or one point of a stroke. Latency is from the hand's update on one page
(``Live.send``, called by the pointer event's handler) to the end of the other page's drawing
of it (the ``BoardView.render`` after ``showLive`` checked and kept it), both on the pages'
clock, ``performance.timeOrigin + performance.now()``: the same machine's clock for both,
which is checked against this process's ``time.time()`` (``clock``: each page's offset, and
the most that check can be off by). Where the time goes, each update's way in parts:

- ``sender_frame``: from the hand's update to the display frame that takes it (``Live.flush``
  on ``requestAnimationFrame``: a place superseded in the same frame never goes, and is not a
  sample);
- ``sender_out``: to the end of its ``send`` on the peer channel, or, through the server, to
  its ``live`` frame on the socket (the page sends one at most every 50 ms);
- ``transit``: to the other page's handler (peer: Chromium's SCTP over DTLS over ICE on
  loopback, and the renderer's task queue; server: the socket, the server's checks and its
  coalescing to 20 frames a second for a sender, and back);
- ``check``: the other page's parsing and checking against its board (``checkLive``), kept;
- ``receiver_frame``: to the end of the drawing on that page's next display frame;
- ``render``: how long one drawing of the board takes there; and ``frame``, the time between
  that page's display frames (``requestAnimationFrame``), timed for a second before each
  kind: a message that arrives at a random moment waits half a frame for it on average.

The cases, in this order (the peer channels, once closed, stay closed):

- ``peer_idle``: the peer channel, the server idle;
- ``peer_idle_no_self_view``: the same, each page's own "Hide my picture" pressed, so that it
  shows one video instead of two (headless Chromium runs a page that shows two 30 fps videos
  at 30 display frames a second, one that shows one at 60);
- ``peer_loaded``: the peer channel while the server is loaded;
- ``server_idle``: through the server (the pages' peer channels closed), the server idle;
- ``server_loaded`` (``--fallback-loaded``): through the server while it is loaded.

The load: rooms of aiortc peers drawing through the server over their data connections (the
machinery of ``bench_strokes.py``, ``stroke_rooms.py``: a point every 16 ms a room, in client
processes of their own) for as long as one kind is measured. Each row gives the server's CPU
over the measurement (1.0: a core), how long its threads waited for a CPU, how busy the
whole machine was (``/proc/stat``: the pages, the load and the server share it) and the load
rooms' own stroke latency. Figures in ms.

    python -m tests.bench.bench_live [--samples 500] [--load-rooms 10]
        [--rooms-per-process 10] [--fallback-loaded]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import aiortc
from playwright.sync_api import sync_playwright

from tests.bench.bench_strokes import Clients, _sessions
from tests.bench.cpu import cpu_seconds, run_queue, wait_idle, waited
from tests.bench.live_pages import (
    PACE,
    Kind,
    Pair,
    clock_offset,
    close_channels,
    drive,
    enter,
    hide_self,
    take,
)
from tests.bench.report import summary, write
from tests.bench.stroke_rooms import Outcome, Phase
from tests.browser.conftest import CHROMIUM, FLAGS

SAMPLES = 500
TARGET_P99_MS = 30.0  # the requirement: page to page, whatever the server's load
LOAD_ROOMS = 10
TAIL = 0.4  # after the hand stops: the last updates arrive and are drawn
LIMIT = 30.0  # seconds one kind may move for at most (a fallback move: 20 a second)
IDLE_WITHIN = 20.0  # seconds the server may take to work through a backlog before a kind
FRAMES_MS = 600  # the watching page's display frames are timed this long before each kind
KINDS: tuple[Kind, ...] = ("move", "stroke")
PARTS = {
    "sender_frame": ("hand", "frame"),
    "sender_out": ("frame", "out"),
    "transit": ("out", "arrived"),
    "check": ("arrived", "shown"),
    "receiver_frame": ("shown", "drawn"),
}


def _ms(value: float) -> float:
    return round(value, 2)


def _machine_busy() -> tuple[int, int]:
    """Jiffies of all CPUs so far: busy, and in all (``/proc/stat``)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


def _row(hand: dict[str, Any], watcher: dict[str, Any], route: str,
         frames: list[float]) -> dict[str, Any]:  # fmt: skip
    """One kind's figures from what the probes noted: the latency of every update the other
    page drew, and its parts; ``frames``, the times between the watching page's display
    frames."""
    t = {**{k: hand[k] for k in ("hand", "frame")}, "out": hand[route],
         **{k: watcher[k] for k in ("arrived", "shown", "drawn")}}  # fmt: skip
    keys = [k for k in t["hand"] if k in t["drawn"]]
    if not keys:
        return {"n": 0, "updates": len(t["hand"]), "sent": len(t["out"])}
    total = summary([t["drawn"][k] - t["hand"][k] for k in keys])
    parts: dict[str, float] = {}
    for name, (start, end) in PARTS.items():
        spans = [t[end][k] - t[start][k] for k in keys if k in t[start] and k in t[end]]
        if spans:
            s = summary(spans)
            parts.update({f"{name}_p50": _ms(s["median"]), f"{name}_p99": _ms(s["p99"])})
    renders = watcher["renders"]
    if renders:
        s = summary([end - start for start, end in renders])
        parts.update({"render_p50": _ms(s["median"]), "render_p99": _ms(s["p99"])})
    if frames:
        s = summary(frames)
        parts.update({"frame_p50": _ms(s["median"]), "frame_p99": _ms(s["p99"])})
    return {
        "n": total["n"],
        "p50_ms": _ms(total["median"]),
        "p99_ms": _ms(total["p99"]),
        "max_ms": _ms(total["max"]),
        "updates": len(t["hand"]),  # from the hand; a place superseded in its frame never goes
        "sent": len(t["out"]),
        "parts": parts,
    }


def _measure(pair: Pair, kind: Kind, route: str, samples: int, until: float,
             server: int) -> dict[str, Any]:  # fmt: skip
    """Move the hand for one kind; its row, with the server's CPU and the machine's over it."""
    frames = [float(f) for f in pair.watcher.evaluate("(ms) => window.liveProbe.frames(ms)",
                                                      FRAMES_MS)]  # fmt: skip
    for page in (pair.hand, pair.watcher):
        take(page)  # what came before is not this kind's
    cpu, queue, busy = cpu_seconds(server), run_queue(server), _machine_busy()
    began = time.monotonic()
    moved = drive(pair, kind, samples, until)
    time.sleep(TAIL)
    seconds = time.monotonic() - began
    row = _row(take(pair.hand), take(pair.watcher), route, frames)
    now_busy = _machine_busy()
    row.update(
        seconds=round(moved, 1),
        updates_a_second=round(row["updates"] / moved) if moved else 0,
        server_cpu=round((cpu_seconds(server) - cpu) / seconds, 3),
        server_waited_for_cpu=round(waited(queue, run_queue(server)) / seconds, 3),
        machine_busy=round((now_busy[0] - busy[0]) / max(1, now_busy[1] - busy[1]), 3),
    )
    return row


class Load:
    """The load: ``rooms`` rooms of aiortc peers in client processes (``bench_strokes.Clients``),
    entered at once and then idle, drawing through the server on demand. A load process that
    ends (its peers dropped by a starved server, on a machine too busy) ends the load: what
    was measured without it says so."""

    def __init__(self, url: str, rooms: int, per_process: int) -> None:
        cookies, sessions = asyncio.run(_sessions(url, rooms))
        self.rooms = rooms
        self.clients: Clients | None = Clients(url, cookies, sessions, per_process)
        self.phases = 0

    def during(self, seconds: float, measure: Callable[[float], dict[str, Any]]) -> dict[str, Any]:
        """``measure(until)`` while the rooms draw for ``seconds``; its row, with the load's."""
        clients = self.clients
        if clients is None:
            return {**measure(time.monotonic() + seconds), "load_failed": True}
        self.phases += 1
        start = time.monotonic() + 0.3  # every client process has the phase by then
        for conn in clients.conns:
            conn.send(Phase(self.rooms, start, seconds, 60, f"load{self.phases}"))
        time.sleep(max(0.0, start + 0.5 - time.monotonic()))  # drawing, and the server busy
        row = measure(start + seconds - 0.2)
        load = Outcome()
        try:
            for outcome in clients.collect(within=seconds + 60):
                load.add(outcome)
        except (EOFError, OSError, TimeoutError) as error:
            print(f"  the load ended: {error!r}", file=sys.stderr, flush=True)
            self.close()
            return {**row, "load_rooms": self.rooms, "load_failed": True}
        stats = summary(load.latencies) if load.latencies else None
        row.update(
            load_rooms=self.rooms,
            load_points_a_second=round(load.sent / seconds),
            load_p50_ms=_ms(stats["median"]) if stats else None,
            load_p99_ms=_ms(stats["p99"]) if stats else None,
            load_undelivered=load.sent - load.received,
        )
        return row

    def close(self) -> None:
        clients, self.clients = self.clients, None
        if clients is None:
            return
        try:
            clients.close()
        except OSError:  # a process already gone: the others are ended
            for proc in clients.procs:
                if proc.is_alive():
                    proc.terminate()


def _print(case: str, kind: str, row: dict[str, Any]) -> None:
    load = f", server CPU {row['server_cpu']:.2f}" if "server_cpu" in row else ""
    if "load_failed" in row:
        load += " (the load ended: its figures are missing)"
    elif "load_rooms" in row:
        load += f" ({row['load_rooms']} rooms drawing, their p99 {row['load_p99_ms']} ms)"
    busy = f", machine {row.get('machine_busy', 0):.0%} busy"
    if not row["n"]:
        print(f"  {case} {kind}: nothing drawn ({row['updates']} updates){load}", flush=True)
        return
    print(f"  {case} {kind}: p50 {row['p50_ms']} ms, p99 {row['p99_ms']}, max {row['max_ms']}, "
          f"n {row['n']} of {row['updates']} updates ({row['updates_a_second']} a second)"
          f"{load}{busy}", flush=True)  # fmt: skip
    print(f"    parts {row['parts']}", flush=True)


class Run:
    """The measurements, one kind at a time, on one pair of pages and one server."""

    def __init__(self, pair: Pair, server: int, samples: int, load: Load | None) -> None:
        self.pair, self.server, self.samples, self.load = pair, server, samples, load
        self.figures: dict[str, Any] = {}
        self.took: dict[str, float] = {}  # how long each kind moved, the server idle

    def idle(self, case: str, route: str) -> None:
        self.figures[case] = {}
        for kind in KINDS:
            wait_idle(self.server, within=IDLE_WITHIN)
            row = self.measure(kind, route, time.monotonic() + LIMIT)
            self.took.setdefault(f"{route} {kind}", row["seconds"])
            self.record(case, kind, row)

    def loaded(self, case: str, route: str) -> None:
        if self.load is None:
            return
        self.figures[case] = {}
        for kind in KINDS:
            wait_idle(self.server, within=IDLE_WITHIN)
            seconds = min(LIMIT, self.took[f"{route} {kind}"] * 1.25 + 2)  # it moves slower
            row = self.load.during(seconds, partial(self.measure, kind, route))
            self.record(case, kind, row)

    def measure(self, kind: Kind, route: str, until: float) -> dict[str, Any]:
        return _measure(self.pair, kind, route, self.samples, until, self.server)

    def record(self, case: str, kind: str, row: dict[str, Any]) -> None:
        self.figures[case][kind] = row
        _print(case, kind, row)


def _run(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    from tests.bench.server import bench_server  # the whole server: not for client processes

    server = bench_server()
    figures: dict[str, Any] = {
        "target_p99_ms": TARGET_P99_MS,
        "samples_wanted": args.samples,
        "movement_every_ms_at_most": round(PACE * 1000, 1),
    }
    pool = ThreadPoolExecutor(1)
    load: Load | None = None
    entering = None
    if args.load_rooms:  # entered while Chromium starts
        entering = pool.submit(Load, server.url, args.load_rooms, args.rooms_per_process)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            pair = enter(browser, server)
            offsets = [clock_offset(page) for page in (pair.hand, pair.watcher)]
            figures["clock"] = {
                "hand_page_offset_ms": _ms(offsets[0][0]),
                "watcher_page_offset_ms": _ms(offsets[1][0]),
                "between_pages_ms": _ms(offsets[1][0] - offsets[0][0]),
                "within_ms": _ms(offsets[0][1] + offsets[1][1]),
            }
            print(f"  clock: {figures['clock']}", flush=True)
            load = entering.result() if entering else None
            run = Run(pair, server.proc.pid, args.samples, load)
            run.idle("peer_idle", "peer")
            hide_self(pair, True)
            run.idle("peer_idle_no_self_view", "peer")
            hide_self(pair, False)
            run.loaded("peer_loaded", "peer")
            close_channels(pair)
            run.idle("server_idle", "socket")
            if args.fallback_loaded:
                run.loaded("server_loaded", "socket")
            figures.update(run.figures)
            pair.close()
            browser.close()
            versions = {"chromium": browser.version, "aiortc": aiortc.__version__}
    except Exception:
        print(f"the server's last words:\n{server.stderr()[-3000:]}", file=sys.stderr)
        raise
    finally:
        pool.shutdown()  # the load's rooms entered, if they were still entering
        if load is None and entering is not None and entering.exception() is None:
            load = entering.result()
        if load is not None:
            load.close()
        server.stop()
    return figures, versions


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.bench_live")
    parser.add_argument("--samples", type=int, default=SAMPLES, help="drawn updates a kind")
    parser.add_argument("--load-rooms", type=int, default=LOAD_ROOMS, help="0: no load")
    parser.add_argument("--rooms-per-process", type=int, default=10)
    parser.add_argument("--fallback-loaded", action="store_true",
                        help="also through the server while it is loaded")  # fmt: skip
    args = parser.parse_args(argv)
    figures, versions = _run(args)
    path = write("live_latency_chromium", figures, versions)
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    started = time.monotonic()
    main(sys.argv[1:])
    print(f"took {time.monotonic() - started:.0f} s")
