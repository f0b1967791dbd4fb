"""Start-up: from ``python -m server serve`` being started to the port listening (a TCP
connection is taken) and to the first answer (``GET /healthz`` 200, asked as soon as the port
listens: it waits in the queue until the server answers). One start first, not counted (it
writes the bytecode, where that is allowed), then ``STARTS`` starts; with bytecode written
(the default) or with ``--no-bytecode``: ``PYTHONDONTWRITEBYTECODE=1`` and none written, so
that every start compiles Playroom's modules again. ``--tree DIR`` starts another checkout
(an earlier one, say) on the same data, for a comparison in the same conditions."""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.report import summary, write
from tests.helpers import ROOT, cli_env, free_port, run_cli

STARTS = 5


def start_once(tree: Path, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from the process starting to its port listening, and to its first answer."""
    port = free_port()
    began = time.monotonic()
    command = [sys.executable, "-m", "server", "serve", "--port", str(port)]
    quiet = subprocess.DEVNULL
    proc = subprocess.Popen(command, cwd=tree, env=env, stdout=quiet, stderr=quiet)
    try:
        while True:  # a refused connection comes back at once: ask again
            try:
                socket.create_connection(("127.0.0.1", port), timeout=30).close()
                break
            except ConnectionRefusedError:
                time.sleep(0.001)
        listening = time.monotonic() - began
        asked = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        asked.request("GET", "/healthz")
        answer = asked.getresponse()
        answer.read()
        assert answer.status == 200, answer.status
        return listening, time.monotonic() - began
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-bytecode", action="store_true")
    parser.add_argument("--tree", type=Path, default=ROOT)
    parser.add_argument("--starts", type=int, default=STARTS)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="playroom-start-"))
    env = cli_env(data / "data", PLAYROOM_LOG_LEVEL="WARNING")
    assert run_cli("migrate", env=env).returncode == 0
    if args.no_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        for cache in [
            *args.tree.glob("server/**/__pycache__"),
            *args.tree.glob("media/**/__pycache__"),
        ]:
            shutil.rmtree(cache, ignore_errors=True)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    start_once(args.tree, env)  # not counted
    starts = [start_once(args.tree, env) for _ in range(args.starts)]
    shutil.rmtree(data, ignore_errors=True)
    listening = [round(1000 * s[0]) for s in starts]
    answered = [round(1000 * s[1]) for s in starts]
    figures = {
        "bytecode": "none, PYTHONDONTWRITEBYTECODE=1" if args.no_bytecode else "written",
        "listening_ms": summary(listening),
        "first_answer_ms": summary(answered),
        "load_average": os.getloadavg()[0],
    }
    print(
        f"listening: median {statistics.median(listening)} ms {listening}; "
        f"first answer: median {statistics.median(answered)} ms {answered}"
    )
    if args.tree == ROOT:
        name = "start_no_bytecode" if args.no_bytecode else "start"
        print(f"wrote {write(name, figures, {})}")
    return figures


if __name__ == "__main__":
    main()
