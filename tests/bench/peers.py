"""The comparison servers and clients from npm, installed by the benchmarks themselves into
``tests/bench/.peers`` (git ignores it), once: later runs find them there."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

PEERS = Path(__file__).resolve().parent / ".peers"


def installed(name: str) -> str | None:
    """The version of npm package ``name`` in the cache folder, if it is there."""
    manifest = PEERS / "node_modules" / name / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def npm_install(*packages: str) -> str | None:
    """Install ``name@version`` packages not yet there; None when done, else why not."""
    missing = [p for p in packages if installed(p.rsplit("@", 1)[0]) != p.rsplit("@", 1)[1]]
    if not missing:
        return None
    if shutil.which("npm") is None:
        return "npm is not installed"
    PEERS.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            ["npm", "install", "--prefix", str(PEERS), "--no-audit", "--no-fund", *missing],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "npm install took over 300 s"
    if done.returncode != 0:
        return f"npm install failed: {done.stderr.strip().splitlines()[-1:]}"
    still = [p for p in missing if installed(p.rsplit("@", 1)[0]) != p.rsplit("@", 1)[1]]
    return f"not installed: {', '.join(still)}" if still else None


def wait_port(port: int, within: float = 30.0) -> None:
    """Until something listens on ``port`` (a server just started)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)  # polling for a process to listen
    raise TimeoutError(f"nothing listens on {port}")
