"""A restart storm: ``--rooms`` live rooms (50), each a therapist and a young person drawing
(``restart_clients.py``: aiortc peers holding the board as pages do, a short stroke each
about every second, coming back after a drop as pages do), against one real server process
(SQLite), which is SIGKILLed and started again at once, and ``--gap`` seconds (15) later
SIGTERMed and started again the same way; the drawing goes on ``--after`` seconds (20) past
the moment the second new process listens.

For each restart, measured from the moment the new process is started: when it first
accepts a TCP connection and first answers ``/healthz``; each person's ``resumed`` and board
restored (the first snapshot or ``caught_up`` after the resume), median, p90 and max; how
many of the 2N people are back before the next restart (or the end). Around each restart,
second by second from 10 s before to 20 s after it listens: the strokes drawn, their
acknowledgement latency (p50, p99, max: from the author's send to the author receiving the
stored change), those never acknowledged and those not sent for want of a board, and the
CPU the server and the client processes used. After the run (``restart_checks.py``): every
acknowledged operation against the database seq by seq, every session's log with ``playroom
verify-log`` and one ``participant.reconnected`` entry for each resume, and the server's
errors. Targets are reported as met or not; a missed one does not fail the run.

    python -m tests.bench.bench_restart [--rooms 50] [--gap 15] [--after 20] [--history 0]
                                        [--profile]

``--history N`` stores N strokes on each board before anyone enters (``restart_server.py``),
as a session some way in holds: the boards a restart loads again are that much longer.

``--profile`` also samples the server with py-spy (``profiling.py``) for the 10 s before the
first restart, the 10 s after each start and the last 10 s of the drawing, into
``results/restart_profile.txt``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiortc

from tests.bench.profiling import Recorder, report
from tests.bench.report import RESULTS, summary, write
from tests.bench.restart_checks import latency_series, server_errors, stored_ops, verify_logs
from tests.bench.restart_clients import DRAIN_SECONDS
from tests.bench.restart_rooms import Draw, serve
from tests.bench.restart_server import Load, prefill, restart
from tests.bench.room_setup import Sessions, cookies
from tests.bench.server import bench_server
from tests.helpers import ServerProcess

ROOMS, GAP, AFTER, BEFORE = 50, 15.0, 20.0, 12.0
PROCESSES = 2  # client processes
WINDOW = (10, 20)  # seconds before each restart, and after it listens, second by second
PROFILE_SECONDS = 10.0
TARGETS = {  # each figure's bound: met at or under it
    "listening_ms": 1000.0,
    "resumed_p90_ms": 2000.0,
    "board_p90_ms": 2500.0,
    "operations_lost": 0,
    "server_errors": 0,
}


class Profile:
    """py-spy on the server for ``PROFILE_SECONDS`` at a time, when asked (``--profile``)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.text: list[str] = []

    async def sample(self, server: ServerProcess, title: str) -> None:
        if not self.enabled:
            return
        recorder = Recorder(server.proc.pid)
        await recorder.start()
        await asyncio.sleep(PROFILE_SECONDS)  # the stretch sampled
        self.text.append(report(title, await recorder.stop(), 0))


def _collect(conns: list[Connection], within: float) -> list[Any]:
    replies = []
    for conn in conns:
        if not conn.poll(within):
            raise TimeoutError("a client process did not answer")
        replies.append(conn.recv())
    return replies


def _ms(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    s = summary(values)
    return {k: round(s[k], 1) if k != "n" else s[k] for k in ("n", "median", "p90", "p99", "max")}


def restart_figures(
    what: dict[str, Any], until: float, drawing: tuple[float, float],
    people: list[dict[str, Any]], load: Load,
) -> dict[str, Any]:  # fmt: skip
    """One restart's figures, from the new process's start to ``until`` (the next restart, or
    the end); its seconds while the people were ``drawing`` (from, to)."""
    start = what["started"]
    stages: dict[str, list[float]] = {k: [] for k in ("answered", "socket", "resumed", "board")}
    refused = 0
    for person in people:
        events = [(kind, at) for kind, at in person["events"] if start - 5 <= at < until]
        refused += any(kind == "refused" for kind, _ in events)
        back = next((at for kind, at in events if kind == "resumed" and at >= start), None)
        if back is None:
            continue
        for stage, times in stages.items():
            # the last of each before the resume (the attempt that made it), the board after
            ats = [at for kind, at in events if kind == stage and at >= start]
            at = (
                min((a for a in ats if a >= back), default=None)
                if stage == "board"
                else max((a for a in ats if a <= back), default=None)
            )
            if at is not None:
                times.append((at - start) * 1000)
    strokes = [s for p in people for s in p["strokes"]]
    unsent = [u for p in people for u in p["unsent"]]
    before = min(WINDOW[0], int(start - drawing[0]))
    # 20 s past the moment it listened (later than 20 s past its start on a busy machine)
    after = WINDOW[1] + int(what["first_tcp_connect_ms"] // 1000)
    series = latency_series(strokes, unsent, start, before, min(after, int(drawing[1] - start)))
    cpu = load.around(start)
    for row in series:
        row["server_cpu"], row["clients_cpu"] = cpu.get(row["second"], (None, None))
    listened = start + what["first_tcp_connect_ms"] / 1000
    first_10 = [(a - t) * 1000 for t, a in strokes if a is not None and 0 <= t - listened < 10]
    return {
        **{k: v for k, v in what.items() if k not in ("signalled", "started")},
        "stroke_latency_first_10_s_listening_ms": _ms(first_10),
        "resumed_ms": _ms(stages["resumed"]),
        "board_restored_ms": _ms(stages["board"]),
        "people_back": len(stages["resumed"]),
        # on the way back, each person's: a probe of /healthz answered, the new socket open
        "probe_answered_ms": _ms(stages["answered"]),
        "socket_open_ms": _ms(stages["socket"]),
        "people": len(people),
        "resumes_refused": refused,
        "per_second": series,
    }


def _targets(restarts: list[dict[str, Any]], lost: int, errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n, r in enumerate(restarts, 1):
        listening = max(r["first_tcp_connect_ms"], r["first_healthz_ms"])
        resumed, board = r["resumed_ms"].get("p90"), r["board_restored_ms"].get("p90")
        all_back = r["people_back"] == r["people"]
        out[f"restart_{n}"] = {
            "listening_ms": listening,
            "listening_met": listening <= TARGETS["listening_ms"],
            "resumed_p90_ms": resumed,
            "resumed_met": all_back
            and resumed is not None
            and resumed <= TARGETS["resumed_p90_ms"],
            "board_p90_ms": board,
            "board_met": all_back and board is not None and board <= TARGETS["board_p90_ms"],
        }
    out["operations_lost"] = {"value": lost, "met": lost <= TARGETS["operations_lost"]}
    out["server_errors"] = {"value": errors, "met": errors <= TARGETS["server_errors"]}
    return out


async def run(
    rooms: int = ROOMS, gap: float = GAP, after: float = AFTER, before: float = BEFORE,
    processes: int = PROCESSES, profile: bool = False, history: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """The whole run; returns the figures (``main`` writes them into the report)."""
    load_before = os.getloadavg()
    server = bench_server(log_level="INFO")  # the access log: any 5xx answered
    logs = [server.stderr_path]
    profiler = Profile(profile)
    procs: list[Any] = []
    conns: list[Connection] = []
    try:
        made = await Sessions(server).upto(rooms)
        await prefill(Path(server.env["PLAYROOM_DATA_DIR"]), [m[1] for m in made], history)
        jar = await cookies(server.url)
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no loop inherited
        for w in range(processes):
            parent, child = context.Pipe()
            mine = [r for r in made if r[0] % processes == w]
            proc = context.Process(target=serve, args=(child, server.url, jar, mine), daemon=True)
            proc.start()
            procs.append(proc)
            conns.append(parent)
        entered = await asyncio.to_thread(_collect, conns, 120 + 3 * rooms)
        failed = [f for _, _, fs in entered for f in fs]
        load = Load(server, [p.pid for p in procs])
        began = time.monotonic()
        for conn in conns:
            conn.send(Draw())
        await asyncio.sleep(before - PROFILE_SECONDS if profile else before)
        await profiler.sample(server, "steady, before the first restart")
        first = await restart(server, signal.SIGKILL, logs)
        await profiler.sample(server, "the 10 s after a SIGKILL and start")
        await asyncio.sleep(max(0.0, first["signalled"] + gap - time.monotonic()))
        second = await restart(server, signal.SIGTERM, logs)
        await profiler.sample(server, "the 10 s after a SIGTERM and start")
        # the drawing goes on ``after`` s once the server listens again, however long that took
        listening = second["started"] + second["first_tcp_connect_ms"] / 1000
        last = listening + after - (PROFILE_SECONDS if profile else 0.0)
        await asyncio.sleep(max(0.0, last - time.monotonic()))
        await profiler.sample(server, "the last 10 s of the drawing")
        stop_at = time.monotonic()
        for conn in conns:
            conn.send("stop")
        replies = await asyncio.to_thread(_collect, conns, 2 * DRAIN_SECONDS + 60)
        load.task.cancel()
    finally:
        for conn in conns:
            with contextlib.suppress(OSError):  # a process that has reported is gone
                conn.send(None)
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.terminate()
        server.stop()
    load_after = os.getloadavg()
    room_reports = [room for reply in replies for room in json.loads(reply)]
    people = [p for room in room_reports for p in room["people"]]
    stored = await stored_ops(Path(server.env["PLAYROOM_DATA_DIR"]), room_reports)
    sessions = [room["session"] for room in room_reports]
    logs_checked = verify_logs(server.env, sessions)
    errors = server_errors(logs)
    answered_5xx = sum(len(p["statuses"]) for p in people)
    restarts = [
        restart_figures(first, second["signalled"], (began, stop_at), people, load),
        restart_figures(second, float("inf"), (began, stop_at), people, load),
    ]
    lost = stored["lost"] + stored["stored_another_op_at_its_seq"]
    lost += stored["board_elements_not_stored"]
    error_count = errors["error_lines"] + errors["tracebacks"] + errors["answers_5xx"]
    error_count += answered_5xx
    resumes = sum(p["resumes"] for p in people)
    all_strokes = [s for p in people for s in p["strokes"]]

    def latency(since: float, until: float) -> dict[str, Any]:
        times = [(a - t) * 1000 for t, a in all_strokes if a is not None and since <= t < until]
        held = [h for p in people for t, h in p["held"] if since <= t < until]
        return {**_ms(times), "held_in_the_client_for_order_p99": _ms(held).get("p99")}

    print("the server's logs:", " ".join(str(p) for p in logs), flush=True)
    if profiler.text:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "restart_profile.txt").write_text("\n".join(profiler.text))
    return {
        "rooms": rooms,
        "rooms_entered": len(room_reports),
        "rooms_failed_to_enter": failed[:3],
        "gap_s": gap,
        "board_operations_stored_before": history,
        "after_s": after,
        "load_average_1_5_15_before": [round(x, 2) for x in load_before],
        "load_average_1_5_15_after": [round(x, 2) for x in load_after],
        "sigkill": restarts[0],
        "sigterm": restarts[1],
        "strokes": {
            "drawn": len(all_strokes),
            "acknowledged": sum(1 for _, a in all_strokes if a is not None),
            "never_acknowledged": sum(1 for _, a in all_strokes if a is None),
            "not_sent_no_board": sum(len(p["unsent"]) for p in people),
            "board_errors": sorted({e for p in people for e in p["board_errors"]}),
            "people_on_a_data_connection_at_the_end": sum(p["on_data_connection"] for p in people),
        },
        # does the drawing come back to what it was? the 10 s before the first restart, and
        # the last 10 s of the run
        "stroke_latency_ms": {
            "before_the_first_restart": latency(first["signalled"] - 10, first["signalled"]),
            "last_10_s": latency(stop_at - 10, stop_at),
        },
        "operations": stored,
        "session_logs": {
            **logs_checked,
            "resumes": resumes,
            "reconnections_logged": stored["reconnections_logged"],
            "resumes_not_logged": max(0, resumes - stored["reconnections_logged"]),
        },
        "server_errors": {**errors, "5xx_seen_by_people": answered_5xx},
        # probes of /healthz the people gave up unanswered: each one that reached a server
        # starting up was still answered by it, for nobody, among its first work
        "probes_dropped_unanswered": sum(p["probes_dropped"] for p in people),
        "targets": _targets(restarts, lost, error_count),
    }


def _print(figures: dict[str, Any]) -> None:
    for key in ("sigkill", "sigterm"):
        r = figures[key]
        print(
            f"{key}: gone {r['old_process_gone_ms']:.0f} ms; listening "
            f"{r['first_tcp_connect_ms']:.0f} ms (healthz {r['first_healthz_ms']:.0f}); "
            f"resumed {r['resumed_ms']}; board "
            f"{r['board_restored_ms']}; back {r['people_back']}/{r['people']}"
        )
        for row in r["per_second"]:
            print(f"  {row}")
    shown = {k: v for k, v in figures.items() if k not in ("sigkill", "sigterm")}
    print(json.dumps(shown, indent=1))


async def main(rooms: int, gap: float, after: float, profile: bool, history: int) -> dict[str, Any]:
    figures = await run(rooms, gap, after, profile=profile, history=history)
    path = write(
        "restart_storm",
        figures,
        {
            "aiortc": aiortc.__version__,
            "rooms": str(rooms),
            "gap_s": f"{gap:g}",
            "history": str(history),
        },  # fmt: skip
    )
    _print(figures)
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=ROOMS)
    parser.add_argument("--gap", type=float, default=GAP, help="seconds between the restarts")
    parser.add_argument("--after", type=float, default=AFTER, help="drawing after the second")
    parser.add_argument("--profile", action="store_true", help="py-spy the server too")
    parser.add_argument(
        "--history", type=int, default=0, help="strokes on each board before anyone enters"
    )
    args = parser.parse_args()
    began = time.monotonic()
    asyncio.run(main(args.rooms, args.gap, args.after, args.profile, args.history))
    print(f"took {time.monotonic() - began:.0f} s")
