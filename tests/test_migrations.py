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


async def test_a_table_rebuilt_on_sqlite_keeps_the_rows_that_refer_to_it(tmp_path: Path) -> None:
    """0023 and 0027 change ``appointments`` (and ``escalations``), which SQLite does by
    copying the table and dropping the old one: the sessions' links, boards and escalations
    that refer to them with ON DELETE CASCADE stay, and the groups' tables come as the models
    say; going down and up again keeps them too."""
    url = f"sqlite:///{tmp_path / 'playroom.db'}"
    migrated = url.replace("sqlite://", "sqlite+aiosqlite://")
    await asyncio.to_thread(upgrade, migrated, "0022")
    engine = sa.create_engine(url)
    now = "2026-12-01 10:00:00.000000"
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        user: dict[str, Any] = {}
        for column in sa.inspect(conn).get_columns("users"):  # a staff row, whatever it holds
            kind = column["type"]
            user[column["name"]] = (
                False
                if isinstance(kind, sa.Boolean)
                else 0
                if isinstance(kind, sa.Integer)
                else now
                if isinstance(kind, sa.DateTime)
                else b"x"
                if isinstance(kind, sa.LargeBinary)
                else "x"
            )
        user.update(id="u" * 32, role="therapist")

        def insert(table: str, **row: Any) -> None:
            conn.execute(sa.table(table, *map(sa.column, row)).insert(), row)

        insert("users", **user)
        u, c, a = "u" * 32, "c" * 32, "a" * 32
        insert(
            "clients",
            id=c,
            named_worker_id=u,
            display_name_enc=b"x",
            ithrive="getting_help",
            risk_level="low",
            risk_changed_at=now,
            created_at=now,
            retention_hold=False,
        )
        insert(
            "appointments",
            id=a,
            client_id=c,
            therapist_id=u,
            starts_at=now,
            ends_at=now,
            status="ended",
            relay_only=False,
            created_at=now,
            room_locked=False,
            board_clear_allowed=False,
        )
        insert(
            "links",
            id="l" * 32,
            kind="join",
            client_id=c,
            appointment_id=a,
            role="young_person",
            not_before=now,
            expires_at=now,
            created_by=u,
            created_at=now,
        )
        insert(
            "escalations",
            id="e" * 32,
            appointment_id=a,
            therapist_id=u,
            concern="risk_to_self",
            status="closed",
            created_at=now,
        )
    engine.dispose()

    def counts() -> dict[str, int]:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                return {
                    t: conn.execute(
                        sa.select(sa.func.count()).select_from(sa.table(t))
                    ).scalar_one()
                    for t in ("appointments", "links", "escalations")
                }
        finally:
            engine.dispose()

    kept = {"appointments": 1, "links": 1, "escalations": 1}
    await asyncio.to_thread(upgrade, migrated)
    assert counts() == kept
    assert {"groups", "group_members"} <= _tables(url)
    await asyncio.to_thread(command.downgrade, alembic_config(migrated), "0026")
    assert counts() == kept and "groups" not in _tables(url)
    await asyncio.to_thread(upgrade, migrated)
    assert counts() == kept
