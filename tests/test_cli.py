"""The ``playroom`` command as a newcomer runs it, and the start-up errors it must explain."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import PASSWORD
from tests.helpers import ServerProcess, cli_env, run_cli


@pytest.fixture
def fresh(tmp_path: Path) -> dict[str, str]:
    """A new data folder with the embedded SQLite default, migrated."""
    env = cli_env(tmp_path / "data")
    result = run_cli("migrate", env=env)
    assert result.returncode == 0, result.stderr
    return env


def test_migrate_then_demo_then_serve_and_stop_gracefully(fresh: dict[str, str]) -> None:
    demo = run_cli("demo", env=fresh)
    assert demo.returncode == 0, demo.stderr
    assert "username demo-therapist" in demo.stdout and "TOTP key" in demo.stdout
    again = run_cli("demo", env=fresh)
    assert "no demo accounts were made" in again.stdout
    code = run_cli("demo-code", "demo-therapist", env=fresh)
    assert code.returncode == 0 and code.stdout.strip().isdigit()
    keyfile = Path(fresh["PLAYROOM_DATA_DIR"]) / "keys.json"
    assert keyfile.stat().st_mode & 0o777 == 0o600
    server = ServerProcess(fresh)
    try:
        server.wait_ready()
        status, _, body = server.get("/readyz")
        assert status == 200 and json.loads(body)["database"] == "ok"
    finally:
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(15) == 0
    out = server.stdout()
    assert f"serving on http://127.0.0.1:{server.port}/" in out


def test_create_user_and_supervise(fresh: dict[str, str]) -> None:
    made = run_cli(
        "create-user",
        "--username",
        "jo",
        "--role",
        "therapist",
        "--password-stdin",
        env=fresh,
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    assert PASSWORD not in made.stdout
    sup = run_cli(
        "create-user",
        "--username",
        "pat",
        "--role",
        "supervisor",
        "--email",
        "pat@example.org",
        env=fresh,
    )
    assert "Password: " in sup.stdout  # generated and shown once when not given
    linked = run_cli("supervise", "pat", "jo", env=fresh)
    assert linked.returncode == 0 and "now supervises" in linked.stdout
    short = run_cli(
        "create-user",
        "--username",
        "x",
        "--role",
        "admin",
        "--password-stdin",
        env=fresh,
        stdin="short\n",
    )
    assert short.returncode == 2 and "at least 12" in short.stderr
    refused = run_cli("demo-code", "jo", env=fresh)
    assert refused.returncode == 2 and "only shown for demo accounts" in refused.stderr


def test_rotate_keys_command(fresh: dict[str, str]) -> None:
    run_cli("demo", env=fresh)
    env = {**fresh, "PLAYROOM_KEY_RELOAD_SECONDS": "0.1"}
    rotated = run_cli("rotate-keys", env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert "New data key 2 is active; re-encrypted 6 values." in rotated.stdout
    assert run_cli("demo-code", "demo-therapist", env=fresh).returncode == 0


def test_unmigrated_database_says_what_to_run(tmp_path: Path) -> None:
    result = run_cli("demo", env=cli_env(tmp_path / "data"))
    assert result.returncode == 2
    assert "run 'playroom migrate'" in result.stderr


def test_corrupted_key_file_stops_start_up_and_is_kept(fresh: dict[str, str]) -> None:
    run_cli("demo", env=fresh)
    keyfile = Path(fresh["PLAYROOM_DATA_DIR"]) / "keys.json"
    keyfile.write_text('{"version": 1, "active": 1, "data_keys": [')
    server = ServerProcess(fresh)
    assert server.proc.wait(30) != 0
    err = server.stderr()
    assert f"key file {keyfile} is not valid JSON" in err
    assert keyfile.read_text() == '{"version": 1, "active": 1, "data_keys": ['


def test_missing_key_file_with_data_is_never_regenerated(fresh: dict[str, str]) -> None:
    run_cli("demo", env=fresh)
    keyfile = Path(fresh["PLAYROOM_DATA_DIR"]) / "keys.json"
    keyfile.unlink()
    result = run_cli("demo-code", "demo-therapist", env=fresh)
    assert result.returncode == 2
    assert "missing but the database already holds encrypted data" in result.stderr
    assert not keyfile.exists()


def test_read_only_database_is_a_clear_error(fresh: dict[str, str]) -> None:
    run_cli("demo", env=fresh)
    db = Path(fresh["PLAYROOM_DATA_DIR"]) / "playroom.db"
    db.chmod(0o444)
    # root ignores permission bits; the immutable attribute binds root too
    if os.getuid() == 0:
        subprocess.run(["chattr", "+i", str(db)], check=True)
    try:
        before = db.read_bytes()
        result = run_cli("demo-code", "demo-therapist", env=fresh)
        assert result.returncode == 2, result.stderr
        assert f"{db} is read-only" in result.stderr
        assert db.read_bytes() == before
    finally:
        if os.getuid() == 0:
            subprocess.run(["chattr", "-i", str(db)], check=True)


def test_self_signed_tls_serves_https_with_hsts(fresh: dict[str, str]) -> None:
    server = ServerProcess(fresh, "--tls-self-signed", scheme="https")
    try:
        server.wait_ready()
        cert = Path(fresh["PLAYROOM_DATA_DIR"]) / "tls" / "self-signed.crt"
        context = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(
            server.url.replace("127.0.0.1", "localhost") + "/healthz", context=context
        ) as resp:
            assert resp.status == 200
            assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
    finally:
        assert server.stop() == 0


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not installed on Windows")
def test_the_server_runs_on_uvloop_where_it_is_installed() -> None:
    """``serve`` runs on uvloop's event loop (8% less CPU a drawing room), not silently on
    asyncio's own because uvloop went missing from the install."""
    from server.cli import _event_loop

    loop = _event_loop()
    assert loop is not None
    try:
        assert type(loop).__module__.split(".")[0] == "uvloop"
    finally:
        loop.close()
