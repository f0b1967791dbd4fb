"""``make bench``: every benchmark, one after another, into a fresh report.

Each benchmark runs as its own process (``python -m tests.bench.<name>``), so one that cannot
run (a database or a peer missing) does not stop the others: its section of the report says
that it could not run and why, and the command exits 1 at the end. The previous report is
kept as ``results/previous.json`` and ``previous.md``.
"""

from __future__ import annotations

import subprocess
import sys
import time

from tests.bench.report import RESULTS, failed, fresh

BENCHMARKS = [
    ("signalling_relay_latency", "bench_signalling"),
    ("join_time_chromium", "bench_join"),
    ("live_latency_chromium", "bench_live"),
    ("full_room_chromium", "bench_mesh"),
    ("whiteboard_stroke_latency", "bench_strokes"),
    ("whiteboard_rooms", "bench_rooms"),
    ("reconnect_time_chromium", "bench_reconnect"),
    ("memory_per_room", "bench_memory"),
    ("page_speed", "bench_pages"),
    ("reconnect_time_aiortc", "bench_reconnect_aiortc"),
    ("several_nodes", "bench_nodes"),
    ("shared_pictures", "bench_pictures"),
    ("board_load", "bench_board_load"),
    ("start_time", "bench_start"),
    ("restart_storm", "bench_restart"),
]


def main() -> int:
    fresh()
    started = time.monotonic()
    could_not: list[str] = []
    for name, module in BENCHMARKS:
        command = [sys.executable, "-m", f"tests.bench.{module}"]
        print(f"== {module}", flush=True)
        began = time.monotonic()
        done = subprocess.run(command, stderr=subprocess.PIPE, text=True, check=False)
        sys.stderr.write(done.stderr)
        took = time.monotonic() - began
        if done.returncode != 0:
            last = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:]
            reason = f"exited {done.returncode}: {last[0][:300] if last else 'no message'}"
            failed(name, " ".join(["python", *command[1:]]), reason)
            could_not.append(module)
            print(f"   could not run ({took:.0f} s): {reason}", flush=True)
        else:
            print(f"   done in {took:.0f} s", flush=True)
    total = time.monotonic() - started
    print(f"all benchmarks: {total / 60:.1f} min; report in {RESULTS / 'latest.md'}")
    if could_not:
        print(f"could not run: {', '.join(could_not)}")
    return 1 if could_not else 0


if __name__ == "__main__":
    raise SystemExit(main())
