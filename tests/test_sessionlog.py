"""The session log: entries are hash-chained and signed, checkpoints sign the head, and
every way of tampering with the database directly is found and named, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.appkeys import ACCOUNTS, DATABASE, KEYRING, SCHEDULE, SESSION_LOG
from server.audit.sessionlog import Finding, SessionLog, client_stream, entry_hash, session_stream
from server.care.schedule import NewAppointment
from server.crypto.sealed import seal
from server.logs import JsonFormatter
from server.records.retention import delete_client
from server.settings import Settings
from server.storage.db import Database, utcnow
from server.storage.models import Appointment, Role, new_id
from server.storage.opening import open_storage
from server.storage.session_models import LogCheckpoint, LogEntry
from tests.conftest import make_staff, sign_in
from tests.factories import new_client, therapist_view
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


async def _move(app: web.Application, stream: str, moves: dict[int, int]) -> None:
    """Give entries new positions (``{from: to}``), as someone editing the table would."""
    rows = {seq: await _row(app, stream, seq) for seq in moves}
    for seq, row in rows.items():
        await _sql(app, sa.update(LogEntry).where(LogEntry.id == row.id).values(seq=-seq))
    for seq, row in rows.items():
        await _sql(app, sa.update(LogEntry).where(LogEntry.id == row.id).values(seq=moves[seq]))


@pytest.mark.hazard("HZ-07")
async def test_a_three_way_reordering_names_only_the_moved_entry(
    app: web.Application, client: TestClient
) -> None:
    log, stream = await _written(app)
    await _move(app, stream, {5: 3, 3: 4, 4: 5})  # entry 5 moved before entries 3 and 4
    report = await log.verify(stream)
    assert [(f.seq, f.problem, f.detail) for f in report.findings] == [
        (3, "reordered", "written as entry 5, now stored at 3")
    ]


@pytest.mark.hazard("HZ-07")
async def test_a_removed_entry_with_the_later_ones_renumbered_is_one_removal(
    app: web.Application, client: TestClient
) -> None:
    log, stream = await _written(app)
    await _sql(app, sa.delete(LogEntry).where(LogEntry.stream == stream, LogEntry.seq == 4))
    await _move(app, stream, {5: 4, 6: 5})  # closing the gap
    report = await log.verify(stream)
    assert [(f.seq, f.problem, f.detail) for f in report.findings] == [
        (4, "removed", "entry 4 missing")
    ]


async def _session(app: web.Application) -> tuple[SessionLog, str]:
    """A session scheduled through the real service (its log has entries 1 and 2)."""
    await make_staff(app, "ther")
    ther = await therapist_view(app, "ther")
    kid = await new_client(app, ther)
    starts = utcnow() + timedelta(minutes=2)
    made = await app[SCHEDULE].create(ther, kid.id, NewAppointment(starts_at=starts))
    return app[SESSION_LOG], made.id


@pytest.mark.hazard("HZ-07")
async def test_an_ended_sessions_newest_entries_removed_with_its_checkpoint_are_caught(
    app: web.Application, client: TestClient
) -> None:
    log, session_id = await _session(app)
    stream = session_stream(session_id)
    for kind in KINDS[2:]:
        await log.append(stream, kind, "system")
    await app[SCHEDULE].end(await therapist_view(app, "ther"), session_id)  # the end checkpoint
    assert (await log.verify(stream)).intact
    await _sql(app, sa.delete(LogEntry).where(LogEntry.stream == stream, LogEntry.seq >= 5))
    await _sql(app, sa.delete(LogCheckpoint).where(LogCheckpoint.stream == stream))
    report = await log.verify(stream, consult_witness=False)  # the database alone finds it
    assert _problems(report.findings) == {(None, "removed")}
    assert (
        "end-of-session checkpoint is gone (the log ends at entry 4)" in report.findings[0].detail
    )
    assert (5, "removed") in _problems((await log.verify(stream)).findings)  # and the witness


@pytest.mark.hazard("HZ-07")
async def test_a_sessions_whole_log_removed_fails_verify_log(
    app: web.Application, client: TestClient, settings: Settings
) -> None:
    log, session_id = await _session(app)
    stream = session_stream(session_id)
    env = cli_env(settings.data_dir, settings.database_url)
    ok = run_cli("verify-log", session_id, env=env)
    assert ok.returncode == 0 and "Intact" in ok.stdout, ok.stdout + ok.stderr
    await log.checkpoint(stream)
    await _sql(app, sa.delete(LogEntry).where(LogEntry.stream == stream))
    await _sql(app, sa.delete(LogCheckpoint).where(LogCheckpoint.stream == stream))
    bad = run_cli("verify-log", session_id, env=env)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "REMOVED at log: the session exists, but its log is empty" in bad.stdout
    # a log with no session (a client's) is still checked on its own, without anchors
    other = client_stream(new_id())
    await log.append(other, "signoff.recorded", "system")
    assert (await log.verify(other)).intact


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[Path]:
    """The application's JSON log, written to a file as a deployment would keep it."""
    path = tmp_path / "playroom.log"
    handler = logging.FileHandler(path)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("server.audit.sessionlog")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield path
    logger.removeHandler(handler)
    logger.setLevel(level)
    handler.close()


@pytest.mark.hazard("HZ-07")
async def test_an_open_sessions_newest_entries_removed_with_their_checkpoint_need_the_witness(
    app: web.Application, client: TestClient, settings: Settings, witness: Path
) -> None:
    log, session_id = await _session(app)
    stream = session_stream(session_id)
    for kind in KINDS[2:]:
        await log.append(stream, kind, "system")
    cp = await log.checkpoint(stream)
    assert cp is not None
    text = await asyncio.to_thread(witness.read_text)
    lines = [json.loads(line) for line in text.splitlines()]
    logged = [d for d in lines if d.get("event") == "log_checkpoint"]
    assert logged and logged[-1]["seq"] == 6
    assert logged[-1]["head"] == cp.head_hash  # whole, not masked as a token
    assert logged[-1]["stream"] == stream
    assert set(logged[-1]) - {"ts", "level", "logger", "msg"} == {"event", "stream", "seq", "head"}

    await _sql(app, sa.delete(LogEntry).where(LogEntry.stream == stream, LogEntry.seq >= 5))
    await _sql(app, sa.delete(LogCheckpoint).where(LogCheckpoint.stream == stream))
    assert (await log.verify(stream, consult_witness=False)).intact  # the database can't tell
    env = cli_env(settings.data_dir, settings.database_url)
    checked = run_cli(
        "verify-log", session_id, "--no-witness", "--witness", str(witness), env=env
    )  # the application's log alone, without the witness (``test_witness.py``)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "REMOVED at entry 5: entries 5 to 6 missing: a checkpoint kept outside" in checked.stdout


async def test_the_interval_loop_signs_a_log_that_grew(aiohttp_client, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    app = create_app(settings.model_copy(update={"log_checkpoint_seconds": 0.05}))
    await aiohttp_client(app)  # starts the background tasks
    stream = session_stream(new_id())
    signed = asyncio.Event()

    class Seen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if getattr(record, "stream", None) == stream:
                signed.set()

    logger, seen = logging.getLogger("server.audit.sessionlog"), Seen()
    level = logger.level
    logger.addHandler(seen)
    logger.setLevel(logging.INFO)
    try:
        for kind in KINDS[:3]:
            await app[SESSION_LOG].append(stream, kind, "system")
        await asyncio.wait_for(signed.wait(), timeout=30)
    finally:
        logger.removeHandler(seen)
        logger.setLevel(level)
    async with app[DATABASE].session() as session:
        rows = list(
            await session.scalars(sa.select(LogCheckpoint).where(LogCheckpoint.stream == stream))
        )
    assert rows and rows[-1].reason == "interval" and 1 <= rows[-1].seq <= 3


# -- the witness outside the database (``server/audit/witness.py``)


async def _witnessed_session(app: web.Application, ended: bool) -> tuple[SessionLog, str]:
    """A session of six entries, its interval checkpoint sent to the witness as the server
    sends it (and ended, with its end checkpoint, when ``ended``): nothing kept by hand."""
    log, session_id = await _session(app)
    stream = session_stream(session_id)
    for kind in KINDS[2:]:
        await log.append(stream, kind, "system")
    await log.checkpoint(stream)
    if ended:
        await app[SCHEDULE].end(await therapist_view(app, "ther"), session_id)
    report = await log.verify(stream)
    assert report.intact and report.witness is not None, report.as_dict()
    assert report.witness.status == "seen" and report.witness.seen_to == (7 if ended else 6)
    return log, session_id


async def _cut_back(app: web.Application, stream: str) -> None:
    """The newest entries deleted with every checkpoint that signed them."""
    await _sql(app, sa.delete(LogEntry).where(LogEntry.stream == stream, LogEntry.seq >= 5))
    await _sql(app, sa.delete(LogCheckpoint).where(LogCheckpoint.stream == stream))


async def _reopened(app: web.Application, stream: str) -> None:
    await _cut_back(app, stream)
    session_id = stream.partition(":")[2]
    await _sql(
        app, sa.update(Appointment).where(Appointment.id == session_id).values(status="open")
    )


async def _deleted_whole(app: web.Application, stream: str) -> None:
    """The session's row and everything about its client, its logs whole, as retention
    deletes a record, but by hand: the witness is told nothing."""
    session_id = stream.partition(":")[2]
    async with app[DATABASE].session() as session:
        client_id = await session.scalar(
            sa.select(Appointment.client_id).where(Appointment.id == session_id)
        )
        assert client_id is not None
        await delete_client(session, client_id, Counter())


async def _edited(app: web.Application, stream: str) -> None:
    statement = sa.update(LogEntry).where(LogEntry.stream == stream, LogEntry.seq == 3)
    await _sql(app, statement.values(kind="room.closed"))


async def _details_edited(app: web.Application, stream: str) -> None:
    row = await _row(app, stream, 4)
    seal(app[KEYRING], row, "details_enc", json.dumps({"n": 99}))
    await _sql(
        app, sa.update(LogEntry).where(LogEntry.id == row.id).values(details_enc=row.details_enc)
    )


async def _rehashed(app: web.Application, stream: str) -> None:
    row = await _row(app, stream, 2)
    forged = entry_hash(stream, 2, row.at, "link.revoked", row.actor, row.digest, row.prev_hash)
    await _sql(
        app,
        sa.update(LogEntry).where(LogEntry.id == row.id).values(kind="link.revoked", hash=forged),
    )


async def _removed(app: web.Application, stream: str, seq: int) -> None:
    await _sql(app, sa.delete(LogEntry).where(LogEntry.stream == stream, LogEntry.seq == seq))


async def _inserted(app: web.Application, stream: str) -> None:
    before = await _row(app, stream, 2)
    for seq in (6, 5, 4, 3):
        statement = sa.update(LogEntry).where(LogEntry.stream == stream, LogEntry.seq == seq)
        await _sql(app, statement.values(seq=seq + 1))
    await _forge(app, stream, 3, before.hash)


async def _added_after(app: web.Application, stream: str) -> None:
    await _forge(app, stream, 7, (await _row(app, stream, 6)).hash)


async def _bad_checkpoint(app: web.Application, stream: str) -> None:
    statement = sa.update(LogCheckpoint).where(LogCheckpoint.stream == stream)
    await _sql(app, statement.values(signature=os.urandom(64)))


async def _renumbered(app: web.Application, stream: str) -> None:
    await _removed(app, stream, 4)
    await _move(app, stream, {5: 4, 6: 5})


async def _emptied(app: web.Application, stream: str) -> None:
    await _sql(app, sa.delete(LogEntry).where(LogEntry.stream == stream))
    await _sql(app, sa.delete(LogCheckpoint).where(LogCheckpoint.stream == stream))


Tampering = Callable[[web.Application, str], Awaitable[None]]
# (what was done, whether the session had ended, the tampering, whether only the witness
# can tell: the database alone finds every other)
TAMPERINGS: list[tuple[str, bool, Tampering, bool]] = [
    ("newest entries removed with their checkpoint, session open", False, _cut_back, True),
    ("log cut back and the session set back to open", True, _reopened, True),
    ("log, checkpoints and the session's row deleted", True, _deleted_whole, True),
    ("an entry edited", False, _edited, False),
    ("an entry's details edited", False, _details_edited, False),
    ("an entry rewritten with a fresh hash", False, _rehashed, False),
    ("an entry removed", False, lambda app, s: _removed(app, s, 3), False),
    ("the newest entry removed", False, lambda app, s: _removed(app, s, 6), False),
    ("an entry inserted", False, _inserted, False),
    ("an entry added after the newest", False, _added_after, False),
    ("two entries swapped", False, lambda app, s: _move(app, s, {3: 4, 4: 3}), False),
    ("a checkpoint's signature changed", False, _bad_checkpoint, False),
    ("one entry moved two places", False, lambda app, s: _move(app, s, {5: 3, 3: 4, 4: 5}), False),
    ("an entry removed and the rest renumbered", False, _renumbered, False),
    ("an ended session's newest entries removed with its checkpoints", True, _cut_back, False),
    ("a session's whole log removed", False, _emptied, False),
]


@pytest.mark.parametrize(
    ("ended", "tamper", "witness_only"),
    [pytest.param(e, t, w, id=name) for name, e, t, w in TAMPERINGS],
)
@pytest.mark.hazard("HZ-07", "HZ-23")
async def test_every_tampering_is_caught_with_the_witness(
    app: web.Application, client: TestClient, ended: bool, tamper: Tampering, witness_only: bool
) -> None:
    log, session_id = await _witnessed_session(app, ended)
    stream = session_stream(session_id)
    await tamper(app, stream)
    report = await log.verify(stream)
    assert not report.intact, report.as_dict()
    alone = await log.verify(stream, consult_witness=False)
    assert alone.intact is witness_only, alone.as_dict()
    if witness_only:  # what the witness alone shows: entries it countersigned are gone
        (finding,) = report.findings
        assert finding.problem == "removed" and "the witness outside the database" in finding.detail


@pytest.mark.hazard("HZ-23")
async def test_a_session_deleted_whole_is_reported_by_verify_log_and_its_sweep(
    app: web.Application, client: TestClient, settings: Settings
) -> None:
    log, session_id = await _witnessed_session(app, ended=True)
    env = cli_env(settings.data_dir, settings.database_url)
    ok = run_cli("verify-log", "--all", env=env)
    assert ok.returncode == 0 and "0 not" in ok.stdout, ok.stdout + ok.stderr
    await _deleted_whole(app, session_stream(session_id))
    alone = run_cli("verify-log", session_id, "--no-witness", env=env)
    assert alone.returncode == 0, alone.stdout  # the database alone holds nothing to check
    checked = run_cli("verify-log", session_id, env=env)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert (
        "REMOVED at entry 1: entries 1 to 7 missing: the witness outside the database signed "
        "entry 7, but the whole log is gone"
    ) in checked.stdout
    swept = run_cli("verify-log", "--all", "--json", env=env)
    assert swept.returncode == 1
    gone = {r["stream"]: r for r in json.loads(swept.stdout)}[session_stream(session_id)]
    assert gone["entries"] == 0 and gone["findings"][0]["problem"] == "removed"


@pytest.mark.hazard("HZ-23")
async def test_the_record_page_shows_a_log_cut_back_and_set_back_to_open(
    app: web.Application, client: TestClient
) -> None:
    log, session_id = await _witnessed_session(app, ended=True)
    supervisor = await make_staff(app, "sup", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("sup", "ther")
    await sign_in(client, supervisor)
    await _reopened(app, session_stream(session_id))
    page = await (await client.get(f"/records/{session_id}?verified=1")).text()
    assert "The log has been tampered with" in page
    assert "entries 5 to 7 missing: the witness outside the database signed entry 7" in page
    assert "countersigned this log up to entry 7" in page
    verified = await (await client.get(f"/api/records/{session_id}/verify")).json()
    assert not verified["intact"] and verified["witness"]["status"] == "seen"
