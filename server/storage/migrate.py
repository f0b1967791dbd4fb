"""Schema migrations (Alembic) driven from code, so no alembic.ini is needed.

Opening the database checks its schema is the code's (``opening.py``) without Alembic:
Alembic and the migrations it would import take a tenth of a second that a server starting
again after a restart is better without, so the head revision is read from the migrations'
own text (``tests/test_start.py`` checks it is Alembic's head) and the database's
from its ``alembic_version`` table."""

from __future__ import annotations

import asyncio
import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from server.storage.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# a migration's own line naming its revision, and the one it revises
_REVISION = re.compile(r'^revision(?:: str)? = "([^"]+)"', re.MULTILINE)
_REVISES = re.compile(r'^down_revision(?:: [^=]+)? = (?:"([^"]+)"|None)', re.MULTILINE)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (blocking; runs its own event loop)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str) -> None:
    await asyncio.to_thread(upgrade, url)


@cache
def head_revision() -> str:
    """The revision no migration revises: the schema this code needs."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        found, revises = _REVISION.search(text), _REVISES.search(text)
        if found is None or revises is None:
            continue  # not a migration (``__init__.py``)
        revisions.add(found.group(1))
        if revises.group(1):
            revised.add(revises.group(1))
    heads = sorted(revisions - revised)
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {heads}")
    return heads[0]


async def current_revision(db: Database) -> str | None:
    """The revision the database is at (None before the first migration), as Alembic keeps
    it in ``alembic_version``."""

    def _current(conn: Connection) -> str | None:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
        found = list(versions)
        if len(found) > 1:
            raise RuntimeError(f"the database is at {len(found)} revisions: {found}")
        return str(found[0]) if found else None

    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)
