"""A fresh server process for a benchmark: its own data folder, migrated, with one
therapist account (``bench``, the tests' password), logging at ``log_level`` (WARNING; INFO
adds its access log, each answer's status)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tests.conftest import PASSWORD
from tests.helpers import ServerProcess, cli_env, run_cli, supervise_by_cli


def bench_server(log_level: str = "WARNING", **env: str) -> ServerProcess:
    settings = cli_env(
        Path(tempfile.mkdtemp(prefix="playroom-bench-")) / "data",
        PLAYROOM_LOG_LEVEL=log_level,
        PLAYROOM_TEST_HOOKS="true",  # pages expose their state (window.playroom) to benchmarks
        **env,
    )
    assert run_cli("migrate", env=settings).returncode == 0
    made = run_cli(
        "create-user", "--username", "bench", "--role", "therapist", "--password-stdin",
        env=settings, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    supervise_by_cli(settings, "bench", PASSWORD)  # no room opens without a supervisor
    server = ServerProcess(settings)
    server.wait_ready()
    return server
