"""Alembic environment: runs migrations on the async engine from the settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from server.storage import session_models  # noqa: F401 - its tables join Base.metadata
from server.storage.db import make_engine
from server.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A column changed on SQLite rebuilds its table (copy, drop, rename), and dropping a
            # table deletes its rows first: with foreign keys on (``db.py``), every row that
            # refers to it with ON DELETE CASCADE would go too. Off for the migration (the
            # pragma does nothing inside a transaction, so before one), checked after.
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await connection.commit()
        await connection.run_sync(_run)
        await connection.commit()
        if sqlite:
            broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
            await connection.commit()
            if broken:
                raise RuntimeError(f"the migration left rows that refer to nothing: {broken[:5]}")
            await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
