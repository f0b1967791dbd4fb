"""Shared fixtures: a migrated database on SQLite and on PostgreSQL, the app, and helpers.

Every test that takes ``settings`` runs once per backend. PostgreSQL must be reachable at
``PLAYROOM_TEST_POSTGRES_URL`` (default 127.0.0.1:5432, user postgres, database test); when
it is not, those runs are skipped locally and fail under ``CI=true``. Each run of the suite
creates a database of its own there and drops it at the end.

Passwords are hashed with Argon2 at its lowest cost in the tests' own applications
(``cheap_password_hashing``): at the service's cost (64 MiB, three passes) every account made
and every sign-in took a tenth to a quarter of a second, four of them in most tests. The
service's cost is checked in ``test_accounts.py``; servers started as processes keep it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import create_async_engine

from server.access import accounts as accounts_module
from server.access.accounts import Accounts
from server.app import create_app
from server.appkeys import ACCOUNTS, BUSY
from server.settings import Settings
from server.storage import session_models  # noqa: F401 - its tables join Base.metadata
from server.storage.db import make_engine
from server.storage.migrate import upgrade
from server.storage.models import Base, Role
from tests.helpers import in_thread
from tests.totp import take

CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get(
    "PLAYROOM_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id as the service hashes, at its lowest cost (see the module's docstring)."""
    cheap = functools.partial(PasswordHasher, time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(accounts_module, "PasswordHasher", cheap)


def require(available: bool, what: str) -> None:
    """Skip when a real dependency is missing; under CI that is a failure, never a skip."""
    if available:
        return
    if CI:
        pytest.fail(f"{what} is required under CI=true but is not available", pytrace=False)
    pytest.skip(f"{what} is not available")


def run_database(base_url: str, name: str) -> str:
    """``base_url`` with its database replaced by ``name``."""
    return sa.engine.make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def _create_run_database() -> str | None:
    """A database of this run's own, made beside the configured one: two runs of the suite
    at once (or a benchmark) never share tables."""
    engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"playroom_run_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        return run_database(POSTGRES_URL, name)
    except (OSError, sa.exc.SQLAlchemyError):
        return None
    finally:
        await engine.dispose()


async def _drop_run_database(url: str) -> None:
    engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = sa.engine.make_url(url).database
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is faster)."""
    path = tmp_path_factory.mktemp("template") / "playroom.db"
    in_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """This run's PostgreSQL database, migrated; None when PostgreSQL cannot be reached."""
    url = in_thread(asyncio.run, _create_run_database())
    if url is not None:
        in_thread(upgrade, url)
    yield url
    if url is not None:
        in_thread(asyncio.run, _drop_run_database(url))


async def _truncate_postgres(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {names} CASCADE"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        shutil.copy(template, tmp_path / "playroom.db")
        yield f"sqlite+aiosqlite:///{tmp_path / 'playroom.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    require(url is not None, "PostgreSQL at 127.0.0.1:5432")
    in_thread(asyncio.run, _truncate_postgres(url))
    yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=database_url,
        log_json=True,
        login_rate_per_minute=1000,
        key_reload_seconds=0.05,
        # peers, server and media share one event loop here: pings may wait on video work
        heartbeat_seconds=10,
    )


@pytest.fixture
def app(settings: Settings) -> web.Application:
    app = create_app(settings)
    # a handler slowed by a loaded machine must not slip ``working`` into the answers tests
    # read one after another; ``tests/test_websocket.py`` sets its own
    app[BUSY].after = 60.0
    return app


@pytest.fixture
async def client(aiohttp_client, app: web.Application) -> TestClient:  # type: ignore[no-untyped-def]
    return await aiohttp_client(app)


class Staff:
    """A staff account made for a test, with its password and TOTP secret."""

    def __init__(self, username: str, role: Role, secret: str) -> None:
        self.username, self.role, self.secret = username, role, secret
        self.password = PASSWORD
        self._step = 0

    def code(self) -> str:
        """A code not used before (TOTP codes work once): steps forward within the window."""
        self._step, code = take(self.secret, self._step)
        return code


async def make_staff(app: web.Application, username: str, role: Role = Role.THERAPIST) -> Staff:
    accounts: Accounts = app[ACCOUNTS]
    _, secret = await accounts.create(username, username.title(), role, PASSWORD, enrol_totp=True)
    assert secret is not None
    return Staff(username, role, secret)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


async def sign_in(client: TestClient, staff: Staff) -> str:
    """Sign in through the pages; returns the CSRF token of the signed-in session."""
    page = await client.get("/signin")
    token = csrf_from(await page.text())
    resp = await client.post(
        "/signin",
        data={"username": staff.username, "password": staff.password, "csrf_token": token},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == "/signin/code"
    page = await client.get("/signin/code")
    resp = await client.post(
        "/signin/code",
        data={"code": staff.code(), "csrf_token": csrf_from(await page.text())},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    home = await client.get("/")
    assert home.status == 200
    return csrf_from(await home.text())


@pytest.fixture
async def therapist(app: web.Application, client: TestClient) -> Staff:
    """A therapist with a clinical supervisor on record (without one no room opens)."""
    from tests.factories import give_supervisor

    staff = await make_staff(app, "therapist.one")
    await give_supervisor(app, await app[ACCOUNTS].find(staff.username))
    return staff


from tests.scenes import room, scene  # noqa: E402, F401 - fixtures for the room tests
