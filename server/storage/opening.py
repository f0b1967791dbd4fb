"""Opening the database and the key ring together, as the server and the CLI both do."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, OperationalError

from server.crypto.keys import KeyRing, load_key_ring
from server.exceptions import ConfigurationError
from server.settings import Settings
from server.storage.db import Database, sqlite_path
from server.storage.migrate import current_revision, head_revision
from server.storage.models import User

log = logging.getLogger(__name__)


@dataclass
class Storage:
    db: Database
    ring: KeyRing
    created_keys: bool


async def open_storage(settings: Settings, *, writable: bool = True) -> Storage:
    """Open the database (checked at the current schema) and then the key ring.

    Raises ConfigurationError with a clear message for every way this can fail.
    """
    db = Database(settings.resolved_database_url)
    try:
        try:
            revision = await current_revision(db)
        except (OperationalError, OSError, DBAPIError) as exc:
            where = sqlite_path(db.url) or "the database"
            raise ConfigurationError(f"cannot open {where}: {type(exc).__name__}") from exc
        if revision != head_revision():
            raise ConfigurationError(
                f"the database schema is at {revision or 'nothing'}, the code needs "
                f"{head_revision()}: run 'playroom migrate'"
            )
        if writable:
            await db.check_writable()
        async with db.session() as session:
            has_data = bool(await session.scalar(sa.select(sa.func.count(User.id))))
        ring, created = load_key_ring(
            settings.resolved_key_file,
            settings.keys.get_secret_value() if settings.keys else None,
            has_data,
            settings.key_reload_seconds,
        )
        if created:
            log.info("created a new key file", extra={"event": "keys_created"})
        return Storage(db, ring, created)
    except BaseException:
        await db.dispose()
        raise
