"""The server for the rooms benchmark, as ``python -m server``, with its garbage collections
timed: a collection stops the event loop, every room's with it, for as long as it takes.

``python -m tests.bench.gc_server serve --port N`` runs ``server.cli.main`` with a
``gc.callbacks`` hook that writes a line of JSON to standard error for every collection of
the older generations (1 and 2) or of 2 ms and more, and at least once a second, each with
the time (``at``, the epoch's), the generation, how long it took and the running total of
every collection so far (``total_ms``), so that the benchmark can tell what a window of
time spent collecting and how long its longest pause was (``pauses``). The hook costs a
clock reading a collection. ``gc_logged_server`` is ``bench_server`` with this wrapper.

With ``PLAYROOM_BENCH_GC_FREEZE=1`` in its environment the wrapper also moves everything the
server holds once started (modules, models, the sand tray's library: ~170,000 objects) out of
the collector's sight (``gc.collect()`` then ``gc.freeze()``, in an ``on_startup`` hook),
which every collection of the oldest generation otherwise walks: to measure that change to
the server before it is made.

With ``PLAYROOM_BENCH_GC_CENSUS=1`` every full collection of ``CENSUS_MS`` or more is followed
by a line naming the 40 commonest types of what the collector still tracks (``census``, with
``n``, their number): what a long pause walked. Counting them takes as long again; a
diagnosis, not a measurement."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.helpers import ROOT, ServerProcess, cli_env, run_cli, supervise_by_cli

FREEZE = "PLAYROOM_BENCH_GC_FREEZE"
CENSUS = "PLAYROOM_BENCH_GC_CENSUS"
CENSUS_MS = 50.0
SHOWN_MS = 2.0  # a young collection this long is written on its own
EVERY_S = 1.0  # the running total at least this often


def _hook() -> None:
    started = total = 0.0
    last = time.time()

    def timed(phase: str, info: dict[str, Any]) -> None:
        nonlocal started, total, last
        if phase == "start":
            started = time.perf_counter()
            return
        ms = (time.perf_counter() - started) * 1000
        total += ms
        now = time.time()
        if info["generation"] == 2 and ms >= CENSUS_MS and os.environ.get(CENSUS) == "1":
            _census()
        if info["generation"] > 0 or ms >= SHOWN_MS or now - last >= EVERY_S:
            last = now
            line = {"gc": info["generation"], "ms": round(ms, 2), "total_ms": round(total, 1)}
            sys.stderr.write(json.dumps({**line, "at": round(now, 3)}) + "\n")

    gc.callbacks.append(timed)


def _census() -> None:
    """What the collector tracks now, by type: the 40 commonest; and of the cancelled tasks
    and the ``CancelledError``s it still holds, where each was (a task's coroutine, an
    error's innermost frame): what keeps them is found from there."""
    objects = gc.get_objects()
    kinds = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in objects)
    cancelled = Counter(
        getattr(o.get_coro(), "__qualname__", "?")
        for o in objects
        if isinstance(o, asyncio.Task) and o.cancelled()
    )
    errors = Counter(_innermost(o) for o in objects if isinstance(o, asyncio.CancelledError))
    sys.stderr.write(
        json.dumps(
            {
                "census": kinds.most_common(40),
                "n": kinds.total(),
                "cancelled_tasks": cancelled.most_common(10),
                "cancelled_errors": errors.most_common(10),
            }
        )
        + "\n"
    )


def _innermost(error: BaseException) -> str:
    tb = error.__traceback__
    if tb is None:
        return "-"
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    return f"{code.co_filename.rsplit('/', 2)[-1]}:{tb.tb_lineno} {code.co_name}"


class GcLoggedServer(ServerProcess):
    """``playroom serve`` through this module's wrapper."""

    def _start(self) -> subprocess.Popen[str]:
        logs = Path(tempfile.mkdtemp(prefix="playroom-server-"))
        self.stdout_path, self.stderr_path = logs / "stdout.log", logs / "stderr.log"
        command = [sys.executable, "-m", "tests.bench.gc_server", "serve", "--port", str(self.port)]
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            return subprocess.Popen(
                command, env=self.env, cwd=ROOT, stdout=out, stderr=err, text=True
            )

    def collections(self, start: float, stop: float) -> dict[str, float]:
        """What collecting cost between ``start`` and ``stop`` (the epoch's): milliseconds a
        second, the longest pause, and pauses of 50 ms or more."""
        before = after = None
        pauses: list[float] = []
        for text in self.stderr_path.read_text().splitlines():
            if not text.startswith('{"gc"'):
                continue
            doc = json.loads(text)
            if doc["at"] <= start:
                before = doc["total_ms"]
            elif doc["at"] <= stop:
                after = doc["total_ms"]
                pauses.append(doc["ms"])
        spent = (after or before or 0.0) - (before or 0.0)
        return {
            "gc_ms_a_second": round(spent / max(stop - start, 1e-9), 1),
            "gc_longest_ms": round(max(pauses, default=0.0), 1),
            "gc_pauses_over_50ms": sum(1 for p in pauses if p >= 50),
        }


def frozen() -> bool:
    """Whether the server is to freeze what it holds once started (the experiment above)."""
    return os.environ.get(FREEZE) == "1"


def gc_logged_server(**env: str) -> GcLoggedServer:
    """As ``tests.bench.server.bench_server``: a fresh data folder, migrated, with the
    ``bench`` therapist, the server started through the wrapper."""
    from tests.conftest import PASSWORD  # here: the server process imports this module too

    settings = cli_env(
        Path(tempfile.mkdtemp(prefix="playroom-bench-")) / "data",
        PLAYROOM_LOG_LEVEL="WARNING",
        PLAYROOM_TEST_HOOKS="true",  # as bench_server: pages expose their state to benchmarks
        **({FREEZE: "1"} if frozen() else {}),  # cli_env passes no PLAYROOM_ variable on
        **({CENSUS: "1"} if os.environ.get(CENSUS) == "1" else {}),
        **env,
    )
    assert run_cli("migrate", env=settings).returncode == 0
    made = run_cli(
        "create-user", "--username", "bench", "--role", "therapist", "--password-stdin",
        env=settings, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    supervise_by_cli(settings, "bench", PASSWORD)  # no room opens without a supervisor
    server = GcLoggedServer(settings)
    server.wait_ready()
    return server


def _freeze_once_started() -> None:
    from aiohttp import web

    import server.cli

    made = server.cli.create_app  # type: ignore[attr-defined]

    def create_app(settings: Any) -> web.Application:
        app = made(settings)

        async def freeze(app: web.Application) -> None:
            gc.collect()
            gc.freeze()

        app.on_startup.append(freeze)  # after the resources open (cleanup_ctx)
        return app

    server.cli.create_app = create_app  # type: ignore[attr-defined]


if __name__ == "__main__":
    _hook()
    if frozen():
        _freeze_once_started()
    from server.cli import main

    raise SystemExit(main(sys.argv[1:]))
