"""What a start does before it answers: the ``playroom`` command listens before it imports
the application (``server/cli.py``), and opening the database checks its schema without
Alembic (``server/storage/migrate.py``), giving what Alembic gives."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from server.storage.db import Database
from server.storage.migrate import (
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
    upgrade_async,
)
from tests.helpers import ROOT

# what ``serve`` imports only once it listens: the application, its database and media
AFTER_LISTENING = ("server.app", "sqlalchemy.orm", "alembic", "aiortc", "av", "PIL", "redis")


def test_the_command_imports_the_application_only_when_a_command_needs_it() -> None:
    code = "import sys, server.cli; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    imported = set(done.stdout.split())
    assert [name for name in AFTER_LISTENING if name in imported] == []


def test_the_application_imports_the_media_stack_only_for_a_data_connection() -> None:
    """aiortc (with PyAV and dnspython), Alembic and Redis are a third of a second of a
    start, icalendar, qrcode and aiosmtplib 40 ms more: the application itself imports none
    of them, so its first answer does not wait on them (``media/server_peer.py``,
    ``server/live/sdp.py``; a calendar file, a QR code, a letter import theirs); nor does it
    build the API's described bodies, which only its description uses."""
    code = "import sys, server.app; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    imported = set(done.stdout.split())
    later = ("aiortc", "av", "alembic", "redis", "icalendar", "qrcode", "aiosmtplib")
    assert [m for m in later if m in imported] == []
    code = "import server.app, server.views.apibodies as a; print(a.Session.__pydantic_complete__)"
    built = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert built.stdout.split() == ["False"]


def test_the_head_revision_is_alembic_s() -> None:
    assert ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads() == [head_revision()]


async def test_the_database_s_revision_is_what_alembic_reads(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'playroom.db'}"
    db = Database(url)

    def alembic_says(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    try:
        assert await current_revision(db) is None  # nothing yet
        await asyncio.to_thread(upgrade, url, "0018")
        async with db.engine.connect() as conn:
            assert await current_revision(db) == await conn.run_sync(alembic_says) == "0018"
        await upgrade_async(url)
        assert await current_revision(db) == head_revision()
    finally:
        await db.dispose()


async def test_once_started_the_server_freezes_its_heap_and_collects_less_often() -> None:
    """What start-up made stays out of full collections, without a collection first, and a
    young collection waits for 50,000 new objects: what a message makes is freed before a
    collection sees it."""
    import gc

    from aiohttp import web

    from server.cli import GC_THRESHOLDS, _freeze_heap

    before = gc.get_threshold()
    collections: list[int] = []

    def collecting(phase: str, info: dict[str, int]) -> None:
        collections.append(info["generation"])

    gc.disable()  # as ``python -m server`` starts
    gc.callbacks.append(collecting)
    try:
        await _freeze_heap(web.Application())
        assert collections == []  # frozen as it is: no collection for the first answer to wait on
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS == (50_000, 20, 10)
        assert gc.isenabled()
    finally:
        gc.callbacks.remove(collecting)
        gc.enable()
        gc.unfreeze()
        gc.set_threshold(*before)


def test_python_m_server_imports_without_collecting_and_collects_once_a_command_runs(
    tmp_path: Path,
) -> None:
    """The start's imports set off no collection (``server/__main__.py``): from the moment
    the interpreter is ready, none comes before the command's ``main`` exists. A command
    other than ``serve`` runs with the collector on."""
    (tmp_path / "sitecustomize.py").write_text(
        "import atexit, gc, sys\n"
        "early = []\n"
        "def seen(phase, info):\n"
        "    if phase == 'start':\n"
        "        early.append(not hasattr(sys.modules.get('server.cli'), 'main'))\n"
        "gc.collect()  # a count of new objects from nought\n"
        "gc.callbacks.append(seen)\n"
        "atexit.register(lambda: print('collections before main', sum(early), gc.isenabled()))\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    done = subprocess.run(
        [sys.executable, "-m", "server", "checklists-doc", "--check"],
        capture_output=True, text=True, cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    assert done.stdout.splitlines()[-1] == "collections before main 0 True", done.stdout
