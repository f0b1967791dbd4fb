"""The migration that adds boards' snapshots makes the table the models describe, and goes
back down and up again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from server.storage import session_models  # noqa: F401 - its tables join Base.metadata
from server.storage.migrate import alembic_config, upgrade
from server.storage.models import Base


def _differences(url: str) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            found = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    return [d for d in found if "board_snapshots" in repr(d)]


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


async def test_board_snapshots_are_made_as_the_models_say_and_go_down_and_up(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'playroom.db'}"  # read here without the async driver
    migrated = url.replace("sqlite://", "sqlite+aiosqlite://")
    await asyncio.to_thread(upgrade, migrated)
    assert "board_snapshots" in _tables(url)
    assert _differences(url) == []
    await asyncio.to_thread(command.downgrade, alembic_config(migrated), "0019")
    assert "board_snapshots" not in _tables(url)
    await asyncio.to_thread(upgrade, migrated)
    assert _differences(url) == []


async def test_series_are_made_as_the_models_say_and_go_down_and_up(tmp_path: Path) -> None:
    """0023: the ``series`` table and the appointments' series, reasons and cancellation."""
    url = f"sqlite:///{tmp_path / 'playroom.db'}"
    migrated = url.replace("sqlite://", "sqlite+aiosqlite://")

    def series_differences() -> list[Any]:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                found = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        finally:
            engine.dispose()
        return [
            d for d in found if "series" in repr(d) or "cancel" in repr(d) or "hours_" in repr(d)
        ]

    def appointment_columns() -> set[str]:
        engine = sa.create_engine(url)
        try:
            return {c["name"] for c in sa.inspect(engine).get_columns("appointments")}
        finally:
            engine.dispose()

    await asyncio.to_thread(upgrade, migrated)
    assert "series" in _tables(url) and series_differences() == []
    await asyncio.to_thread(command.downgrade, alembic_config(migrated), "0022")
    assert "series" not in _tables(url)
    assert not {"series_id", "cancel_reason_enc", "hours_rationale_enc"} & appointment_columns()
    await asyncio.to_thread(upgrade, migrated)
    assert series_differences() == []


async def test_addresses_and_the_outbox_are_made_as_the_models_say_and_go_down_and_up(
    tmp_path: Path,
) -> None:
    from server.storage import mail_models  # noqa: F401 - its tables join Base.metadata

    url = f"sqlite:///{tmp_path / 'playroom.db'}"
    migrated = url.replace("sqlite://", "sqlite+aiosqlite://")
    await asyncio.to_thread(upgrade, migrated)
    assert {"client_contacts", "outbox"} <= _tables(url)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            found = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert [d for d in found if "outbox" in repr(d) or "client_contacts" in repr(d)] == []
    await asyncio.to_thread(command.downgrade, alembic_config(migrated), "0023")
    assert not {"client_contacts", "outbox"} & _tables(url)
    await asyncio.to_thread(upgrade, migrated)
    assert {"client_contacts", "outbox"} <= _tables(url)
