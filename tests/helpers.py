"""Running the real ``playroom`` command and server processes from tests, and making staff
accounts on such a server's data the way the command makes them, in the test's own process
(``make_account``): each command starts an interpreter that imports the server, two to three
seconds apiece, and a browser test made three of them before its first page."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """``count`` ports free now, and different from each other (all are held at once while
    they are picked, so the kernel cannot hand out one of them twice)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def cli_env(data_dir: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYROOM_")}
    env.update({"PLAYROOM_DATA_DIR": str(data_dir), "PLAYROOM_LOG_JSON": "true", **extra})
    if database_url:
        env["PLAYROOM_DATABASE_URL"] = database_url
    return env


def run_cli(
    *args: str, env: dict[str, str], stdin: str | None = None, user: int | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        user=user,
    )


def supervise_by_cli(env: dict[str, str], therapist: str, password: str) -> str:
    """A clinical supervisor on record for ``therapist`` (no room opens without one), made
    as ``playroom create-user`` and ``playroom supervise`` make them (``make_account``);
    returns the supervisor's username."""
    supervisor = f"{therapist}.supervisor"
    make_account(env, supervisor, "supervisor", password, supervises=therapist)
    return supervisor


def make_account(
    env: dict[str, str],
    username: str,
    role: str,
    password: str,
    display_name: str = "",
    supervises: str | None = None,
) -> None:
    """An account on the data of the server whose settings are ``env``, made by the same
    code as ``playroom create-user`` (and, for a supervisor of ``supervises``, ``playroom
    supervise``), in this process; ``tests/test_cli.py`` runs the commands themselves."""
    settings = _settings(env)
    # off any loop this thread runs (Playwright's)
    in_thread(
        asyncio.run, _make_account(settings, username, role, password, display_name, supervises)
    )


def migrate(env: dict[str, str]) -> None:
    """The schema of the server whose settings are ``env``, made as ``playroom migrate``
    makes it, in this process."""
    from server.storage.migrate import upgrade

    settings = _settings(env)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    in_thread(upgrade, settings.resolved_database_url)  # Alembic runs a loop of its own


def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking set-up (which may start its own event loop) off this thread's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


def _settings(env: dict[str, str]) -> Any:
    """The settings a server with the environment ``env`` reads."""
    from server.settings import Settings

    ours = {k: v for k, v in os.environ.items() if k.startswith("PLAYROOM_")}
    for name in ours:
        del os.environ[name]
    os.environ.update({k: v for k, v in env.items() if k.startswith("PLAYROOM_")})
    try:
        return Settings()
    finally:
        for name in [k for k in os.environ if k.startswith("PLAYROOM_")]:
            del os.environ[name]
        os.environ.update(ours)


async def _make_account(
    settings: Any,
    username: str,
    role: str,
    password: str,
    display_name: str,
    supervises: str | None,
) -> None:
    from server.cli import _accounts
    from server.storage.models import Role
    from server.storage.opening import open_storage

    storage = await open_storage(settings)
    try:
        accounts = _accounts(storage, settings)
        await accounts.create(username, display_name, Role(role), password)
        if supervises is not None:
            await accounts.supervise(username, supervises)
    finally:
        await storage.db.dispose()


def serve_with_therapist(
    data_dir: Path, username: str, password: str, **extra: str
) -> tuple[ServerProcess, dict[str, str]]:
    """``playroom serve`` in a child process on a data folder of its own, migrated, with the
    therapist ``username`` made by the ``playroom`` command and their supervisor as it makes
    them (``make_account``); ready, with the environment it runs in (``extra``: settings,
    as ``PLAYROOM_…`` variables)."""
    env = cli_env(data_dir, **{"PLAYROOM_LOG_LEVEL": "WARNING", **extra})
    migrated = run_cli("migrate", env=env)
    if migrated.returncode:
        raise RuntimeError(migrated.stderr)
    made = run_cli(
        "create-user", "--username", username, "--role", "therapist", "--password-stdin",
        env=env, stdin=password + "\n",
    )  # fmt: skip
    if made.returncode:
        raise RuntimeError(made.stderr)
    supervise_by_cli(env, username, password)  # no room opens without a supervisor
    server = ServerProcess(env)
    server.wait_ready()
    return server, env


class ServerProcess:
    """``playroom serve`` in a child process, waited on until it listens (a request made from
    then on waits in the queue until the server answers it)."""

    def __init__(
        self, env: dict[str, str], *extra: str, scheme: str = "http", port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.env = env
        self.extra = extra
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[str]:
        # output goes to files, never to pipes nobody reads: a full pipe would stop the server
        # in the middle of writing a log line, and every request after it would hang
        logs = Path(tempfile.mkdtemp(prefix="playroom-server-"))
        self.stdout_path, self.stderr_path = logs / "stdout.log", logs / "stderr.log"
        with self.stdout_path.open("w") as out, self.stderr_path.open("w") as err:
            return subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--port", str(self.port), *self.extra],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=err,
                text=True,
            )

    def stdout(self) -> str:
        return self.stdout_path.read_text()

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def crash_and_restart(self) -> None:
        """SIGKILL (no goodbye: a crash), then the same server again at the same address."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = self._start()
        self.wait_ready()

    def restart(self) -> None:
        """SIGTERM (a stop that says goodbye: every socket is told when to come back), then
        the same server again at the same address."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(15)
        self.proc = self._start()
        self.wait_ready()

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll the port until this server listens (or the process dies): it says so once its
        own socket is bound, so a port some other process still held is not taken for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.stderr()}")  # type: ignore[union-attr]
            if "is serving on" not in self.stdout_path.read_text():
                time.sleep(0.05)  # its own line, polled
                continue
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("server did not start")

    def get(self, path: str) -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextlib.contextmanager
def running_nodes(env: dict[str, str], count: int = 3) -> Iterator[list[ServerProcess]]:
    """``count`` server processes on the same settings (one database, one bus), each
    answering, all stopped afterwards. Each node's own log ends the test's output, which
    pytest shows only when the test failed: what a node did is how its failure is read."""
    servers = [ServerProcess(env, port=port) for port in free_ports(count)]
    try:
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for n, server in enumerate(servers):
            server.stop()
            print(f"--- node {'ABCDEFGH'[n]} at {server.url} ---\n{server.stderr()[-8000:]}")
