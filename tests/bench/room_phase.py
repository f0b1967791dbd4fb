"""What the rooms benchmark (``bench_rooms.py``) measures around a phase, for Playroom and for
Yjs alike: pinning a process and all its threads to CPUs, the CPU the server and the client
processes use over the measured window (``/proc``), and one phase's figures from the
latencies the clients timed."""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.bench.cpu import cpu_seconds, cpu_seconds_or_none, run_queue, waited
from tests.bench.report import summary

P99_LIMIT_MS = 100.0  # a phase is good when commit p99 is under this, with nothing lost
BUSY = 0.85  # of a core: a process this busy has no room left on it
LOOP_LAG_LIMIT_MS = 25.0  # a client loop this late (p99) times late, whatever its CPU
SERVER_CPU, CLIENT_CPU = 0, 1  # the server's core, and the one every client shares


def pinning() -> bool:
    """Whether there are two cores to pin the server and the clients apart."""
    return (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")


def pin_all(pid: int, cpu: int) -> None:
    """Run every thread of ``pid`` on ``cpu`` (``sched_setaffinity`` moves one thread:
    threads started later inherit from the thread that starts them)."""
    if not pinning():
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), {cpu})
        except (ProcessLookupError, PermissionError):
            continue  # a thread that ended meanwhile


def on_cpu(cpu: int) -> None:
    """For ``preexec_fn``: the child and every thread it starts on ``cpu``."""
    if pinning():
        os.sched_setaffinity(0, {cpu})


def idle_cpu(pid: int, seconds: float = 1.0) -> float:
    """How much of a core ``pid`` uses over ``seconds`` (nobody drawing)."""
    before = cpu_seconds(pid)
    time.sleep(seconds)  # the sampling window
    return (cpu_seconds(pid) - before) / seconds


@dataclass
class Meter:
    """CPU of the server and of the client processes over a window."""

    server: int
    clients: list[int]
    started: float = 0.0
    server_cpu: float = 0.0
    server_queue: dict[str, int] = field(default_factory=dict)
    client_cpu: dict[int, float | None] = field(default_factory=dict)
    client_queue: dict[int, dict[str, int]] = field(default_factory=dict)
    machine: dict[str, tuple[int, int]] = field(default_factory=dict)

    def start(self) -> None:
        self.started = time.monotonic()
        self.machine = _machine()
        self.server_cpu, self.server_queue = cpu_seconds(self.server), run_queue(self.server)
        self.client_cpu = {pid: cpu_seconds_or_none(pid) for pid in self.clients}
        self.client_queue = {pid: _queue(pid) for pid in self.clients}

    def stop(self) -> dict[str, float]:
        seconds = time.monotonic() - self.started
        clients = waits = 0.0
        for pid, before in self.client_cpu.items():
            after = cpu_seconds_or_none(pid)
            if before is not None and after is not None:
                clients += after - before
                waits += waited(self.client_queue[pid], _queue(pid))
        machine = _machine()
        busy = {}
        for cpu, (work, total) in machine.items():
            work0, total0 = self.machine.get(cpu, (0, 0))
            busy[cpu] = (work - work0) / max(1, total - total0)
        return {
            "cpu0_busy": busy.get("cpu0", 0.0),
            "cpu1_busy": busy.get("cpu1", 0.0),
            "seconds": seconds,
            "server_cpu": (cpu_seconds(self.server) - self.server_cpu) / seconds,
            "server_waited": waited(self.server_queue, run_queue(self.server)) / seconds,
            "clients_cpu": clients / seconds,
            "clients_waited": waits / seconds,
        }


def _machine() -> dict[str, tuple[int, int]]:
    """Each CPU's busy and total ticks so far (``/proc/stat``): everyone's work."""
    ticks = {}
    for text in Path("/proc/stat").read_text().splitlines():
        name, *values = text.split()
        if name.startswith("cpu") and name != "cpu":
            n = [int(v) for v in values[:8]]  # guest time is in user already
            ticks[name] = (sum(n) - n[3] - n[4], sum(n))  # all but idle and iowait
    return ticks


def _queue(pid: int) -> dict[str, int]:
    try:
        return run_queue(pid)
    except OSError:
        return {}  # ended


def _ms(values: list[float], key: str) -> float | None:
    return round(summary(values)[key], 1) if values else None


@dataclass
class Observed:
    """What the clients timed in one phase (Playroom's ``Tally``, or a Yjs process's)."""

    commit_ms: list[float]
    fanout_ms: list[float]
    sent: int
    committed: int
    received: int
    op_bytes: float  # a stroke's operation or update, on average
    errors: list[str]
    send_lag_ms: float
    loop_lag_ms: list[float]


def figures(
    rooms: int,
    seen: Observed,
    window: dict[str, float],
    idle: float,
    collections: dict[str, float] | None = None,
) -> dict[str, Any]:
    """One phase: latencies, and the CPU of the server (beyond what it used with the same
    rooms idle, per drawing room) and of the clients, whether it was good and, if not, who
    was the limit; under ``detail``, what is there to check the rest by. ``collections``:
    the server's garbage collections over the window (``gc_server.py``), where known."""
    gc = collections or {}
    added = max(0.0, window["server_cpu"] - idle)
    loop_p99 = _ms(seen.loop_lag_ms, "p99")
    detail: dict[str, Any] = {
        "commit_max_ms": _ms(seen.commit_ms, "max"),
        "strokes": seen.sent,
        "strokes_a_second": round(seen.sent / window["seconds"], 1),
        "uncommitted": seen.sent - seen.committed,  # no confirmation after the drawing + 5 s
        "undelivered": seen.sent - seen.received,
        "errors": ", ".join(f"{k} {n}" for k, n in Counter(seen.errors).most_common()),
        "op_bytes": round(seen.op_bytes),  # a stroke's operation (Yjs: its update)
        "server_cpu_idle": round(idle, 3),  # the same rooms entered, nobody drawing
        "server_waited_for_cpu": round(window["server_waited"], 3),  # seconds a second
        "clients_waited_for_cpu": round(window["clients_waited"], 3),
        "cpu0_busy": round(window["cpu0_busy"], 3),  # the whole machine's, others' work too
        "cpu1_busy": round(window["cpu1_busy"], 3),
        "client_send_lag_max_ms": round(seen.send_lag_ms, 1),
        "client_loop_lag_p99_ms": loop_p99,
    }
    f: dict[str, Any] = {
        "rooms": rooms,
        "commit_p50_ms": _ms(seen.commit_ms, "median"),
        "commit_p99_ms": _ms(seen.commit_ms, "p99"),
        "fanout_p50_ms": _ms(seen.fanout_ms, "median"),
        "fanout_p99_ms": _ms(seen.fanout_ms, "p99"),
        "server_cpu": round(window["server_cpu"], 3),  # of a core
        # CPU milliseconds a second for each drawing room, beyond the idle rooms' cost
        "server_cpu_ms_a_room": round(added / max(1, rooms) * 1000, 3),
        "clients_cpu": round(window["clients_cpu"], 3),  # all of them, sharing one core
        "gc_longest_ms": gc.get("gc_longest_ms"),  # the server's longest pause to collect
    }
    detail["gc_ms_a_second"] = gc.get("gc_ms_a_second")
    detail["gc_pauses_over_50ms"] = gc.get("gc_pauses_over_50ms")
    lost = detail["uncommitted"] or detail["undelivered"] or detail["errors"]
    f["good"] = not lost and (f["commit_p99_ms"] or 1e9) < P99_LIMIT_MS
    f["limited_by"] = "" if f["good"] else _limit(window, loop_p99, gc)
    f["detail"] = detail
    return f


def _limit(window: dict[str, float], loop_p99: float | None, gc: dict[str, float]) -> str:
    """Who had no room left: the server on its core, the clients on theirs; or, when neither
    was busy, the server's pauses to collect garbage (one as long as the limit), or others'
    work on the machine (a client loop or the server kept waiting)."""
    busy = [
        who
        for who, use in (("server", window["server_cpu"]), ("clients", window["clients_cpu"]))
        if use >= BUSY
    ]
    if gc.get("gc_longest_ms", 0) >= P99_LIMIT_MS:
        busy.append("the server's garbage collection")
    if busy:
        return " and ".join(busy)
    if (loop_p99 or 0) > LOOP_LAG_LIMIT_MS or window["server_waited"] > 0.1:
        return "other work on the machine"
    return "neither saturated"


def line(name: str, f: dict[str, Any]) -> str:
    """One phase, for the progress written as the benchmark goes."""
    d = f["detail"]
    lost = "".join(f", {k} {d[k]}" for k in ("uncommitted", "undelivered", "errors") if d[k])
    limit = f" (limited by {f['limited_by']})" if f.get("limited_by") else ""
    return (
        f"  {name:<9} {f['rooms']:>5} rooms: commit p50 {f['commit_p50_ms']} / p99 "
        f"{f['commit_p99_ms']} ms, fan-out p50 {f['fanout_p50_ms']} / p99 "
        f"{f['fanout_p99_ms']} ms; server {f['server_cpu']:.2f} of a core (idle "
        f"{d['server_cpu_idle']:.2f}), {f['server_cpu_ms_a_room']:.2f} ms/s a room; clients "
        f"{f['clients_cpu']:.2f} (loop lag p99 {d['client_loop_lag_p99_ms']} ms); longest GC "
        f"{f['gc_longest_ms']} ms; cpu0 {d['cpu0_busy']:.2f}, cpu1 {d['cpu1_busy']:.2f} busy"
        f"{lost}{limit}"
    )
