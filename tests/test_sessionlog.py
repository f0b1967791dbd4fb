"""The session log: entries are hash-chained and signed, checkpoints sign the head, and
every way of tampering with the database directly is found and named, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import DATABASE, KEYRING, SESSION_LOG
from server.db import Database, utcnow
from server.models import LogCheckpoint, LogEntry, new_id
from server.sealed import seal
from server.sessionlog import Finding, SessionLog, entry_hash, session_stream
from server.settings import Settings
from server.storage import open_storage
from tests.helpers import cli_env, run_cli

KINDS = ["session.scheduled", "link.issued", "room.opened", "participant.joined",
         "participant.admitted", "participant.left"]  # fmt: skip


async def _written(app: web.Application, seal_it: bool = True) -> tuple[SessionLog, str]:
    log = app[SESSION_LOG]
    stream = session_stream(new_id())
    for n, kind in enumerate(KINDS):
        await log.append(stream, kind, "staff:abc", {"n": n, "phone": "07700 900123"})
    if seal_it:
        await log.checkpoint(stream, "end")
    return log, stream


async def _sql(app: web.Application, statement: sa.Executable) -> None:
    async with app[DATABASE].session() as session:
        await session.execute(statement)


def _problems(findings: list[Finding]) -> set[tuple[int | None, str]]:
    return {(f.seq, f.problem) for f in findings}


async def _row(app: web.Application, stream: str, seq: int) -> LogEntry:
    async with app[DATABASE].session() as session:
        row = await session.scalar(
            sa.select(LogEntry).where(LogEntry.stream == stream, LogEntry.seq == seq)
        )
        assert row is not None
        session.expunge(row)
        return row


async def test_an_untouched_log_verifies_and_keeps_personal_details_sealed(
    app: web.Application, client: TestClient
) -> None:
    log, stream = await _written(app)
    report = await log.verify(stream)
    assert report.intact and report.entries == 6 and report.checkpoints == 1
    entries = await log.entries(stream)
    assert [e.kind for e in entries] == KINDS and entries[0].details == {
        "n": 0,
        "phone": "07700 900123",
    }
    row = await _row(app, stream, 1)
    assert b"07700" not in row.details_enc and "07700" not in row.digest


@pytest.mark.hazard("HZ-07")
async def test_an_edited_entry_is_named(app: web.Application, client: TestClient) -> None:
    log, stream = await _written(app)
    await _sql(
        app,
        sa.update(LogEntry)
        .where(LogEntry.stream == stream, LogEntry.seq == 3)
        .values(kind="room.closed"),
    )
    assert _problems((await log.verify(stream)).findings) == {(3, "altered")}


async def test_edited_details_are_named(app: web.Application, client: TestClient) -> None:
    log, stream = await _written(app)
    row = await _row(app, stream, 4)
    seal(app[KEYRING], row, "details_enc", json.dumps({"n": 99}))  # even with the data key
    await _sql(
        app, sa.update(LogEntry).where(LogEntry.id == row.id).values(details_enc=row.details_enc)
    )
    assert _problems((await log.verify(stream)).findings) == {(4, "altered")}


async def test_a_rewritten_entry_with_a_fresh_hash_is_named(
    app: web.Application, client: TestClient
) -> None:
    log, stream = await _written(app)
    row = await _row(app, stream, 2)
    forged = entry_hash(stream, 2, row.at, "link.revoked", row.actor, row.digest, row.prev_hash)
    await _sql(
        app,
        sa.update(LogEntry).where(LogEntry.id == row.id).values(kind="link.revoked", hash=forged),
    )
    assert _problems((await log.verify(stream)).findings) == {(2, "altered")}


@pytest.mark.hazard("HZ-07")
async def test_a_removed_entry_is_named(app: web.Application, client: TestClient) -> None:
    log, stream = await _written(app)
    await _sql(app, sa.delete(LogEntry).where(LogEntry.stream == stream, LogEntry.seq == 3))
    assert _problems((await log.verify(stream)).findings) == {(3, "removed")}


@pytest.mark.hazard("HZ-07")
async def test_the_newest_entry_removed_is_caught_by_the_checkpoint(
    app: web.Application, client: TestClient
) -> None:
    log, stream = await _written(app)
    await _sql(app, sa.delete(LogEntry).where(LogEntry.stream == stream, LogEntry.seq == 6))
    assert _problems((await log.verify(stream)).findings) == {(6, "removed")}


async def _forge(app: web.Application, stream: str, seq: int, prev: str) -> None:
    at = utcnow()
    digest = hashlib.sha256(b"{}").hexdigest()
    row = LogEntry(
        id=new_id(),
        stream=stream,
        seq=seq,
        at=at,
        kind="participant.admitted",
        actor="staff:abc",
        digest=digest,
        prev_hash=prev,
        hash=entry_hash(stream, seq, at, "participant.admitted", "staff:abc", digest, prev),
        signature=os.urandom(64),
    )
    seal(app[KEYRING], row, "details_enc", "{}")
    async with app[DATABASE].session() as session:
        session.add(row)


@pytest.mark.hazard("HZ-07")
async def test_an_inserted_entry_is_named(app: web.Application, client: TestClient) -> None:
    log, stream = await _written(app)
    before = await _row(app, stream, 2)
    for seq in (6, 5, 4, 3):  # make room at 3, as someone slipping an entry in would
        await _sql(
            app,
            sa.update(LogEntry)
            .where(LogEntry.stream == stream, LogEntry.seq == seq)
            .values(seq=seq + 1),
        )
    await _forge(app, stream, 3, before.hash)
    problems = _problems((await log.verify(stream)).findings)
    assert (3, "inserted") in problems
    assert not {p for p in problems if p[1] in ("altered", "removed", "reordered")}


async def test_an_entry_added_after_the_end_is_named(
    app: web.Application, client: TestClient
) -> None:
    log, stream = await _written(app)
    last = await _row(app, stream, 6)
    await _forge(app, stream, 7, last.hash)
    assert _problems((await log.verify(stream)).findings) == {(7, "inserted")}


@pytest.mark.hazard("HZ-07")
async def test_reordered_entries_are_named(app: web.Application, client: TestClient) -> None:
    log, stream = await _written(app)
    three, four = await _row(app, stream, 3), await _row(app, stream, 4)
    await _sql(app, sa.update(LogEntry).where(LogEntry.id == three.id).values(seq=-1))
    await _sql(app, sa.update(LogEntry).where(LogEntry.id == four.id).values(seq=3))
    await _sql(app, sa.update(LogEntry).where(LogEntry.id == three.id).values(seq=4))
    report = await log.verify(stream)
    assert {(3, "reordered"), (4, "reordered")} <= _problems(report.findings)
    assert "written as entry 4" in next(f.detail for f in report.findings if f.seq == 3)


@pytest.mark.hazard("HZ-07")
async def test_a_checkpoint_with_a_wrong_signature_is_reported(
    app: web.Application, client: TestClient
) -> None:
    log, stream = await _written(app)
    await _sql(
        app,
        sa.update(LogCheckpoint)
        .where(LogCheckpoint.stream == stream)
        .values(signature=os.urandom(64)),
    )
    assert _problems((await log.verify(stream)).findings) == {(6, "checkpoint")}


async def test_checkpoints_are_signed_only_when_the_log_grew(
    app: web.Application, client: TestClient
) -> None:
    log, stream = await _written(app, seal_it=False)
    assert stream in await log.unsealed_streams()
    assert await log.checkpoint(stream) is not None
    assert await log.checkpoint(stream) is None  # nothing new
    assert stream not in await log.unsealed_streams()


async def test_two_servers_writing_at_once_take_turns(
    app: web.Application, client: TestClient
) -> None:
    other_db = Database(app[DATABASE].url)  # another server: its own connections and lock
    other = SessionLog(other_db, app[KEYRING])
    log = app[SESSION_LOG]
    stream = session_stream(new_id())
    try:
        await asyncio.gather(
            *(w.append(stream, "participant.joined", "system") for w in (log, other) * 10)
        )
    finally:
        await other_db.dispose()
    report = await log.verify(stream)
    assert report.intact and report.entries == 20


async def test_verify_log_on_the_command_line(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data")
    assert run_cli("migrate", env=env).returncode == 0
    storage = await open_storage(Settings(data_dir=tmp_path / "data"))
    try:
        log = SessionLog(storage.db, storage.ring)
        session_id = new_id()
        stream = session_stream(session_id)
        for kind in KINDS:
            await log.append(stream, kind, "system")
        await log.checkpoint(stream, "end")
        ok = run_cli("verify-log", session_id, env=env)
        assert ok.returncode == 0, ok.stderr
        assert "6 entries, 1 signed checkpoints" in ok.stdout and "Intact" in ok.stdout
        async with storage.db.session() as session:
            await session.execute(
                sa.delete(LogEntry).where(LogEntry.stream == stream, LogEntry.seq == 2)
            )
        bad = run_cli("verify-log", session_id, env=env)
        assert bad.returncode == 1
        assert "REMOVED at entry 2" in bad.stdout and "NOT INTACT" in bad.stdout
        report = json.loads(run_cli("verify-log", session_id, "--json", env=env).stdout)
        assert report["findings"] == [{"seq": 2, "problem": "removed", "detail": "entry 2 missing"}]
    finally:
        await storage.db.dispose()
