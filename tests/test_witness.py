"""The witness of the session logs (``server/audit/witness.py``): what it takes and what it
refuses, its append-only store shared by processes, its service over HTTP, a server going
on while its witness is down, and retention telling it which logs went whole. The
tamperings it catches are in ``test_sessionlog.py``."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.appkeys import ACCOUNTS, DATABASE, RETENTION, SCHEDULE, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.audit.verify import head_message
from server.audit.witness import (
    FileStore,
    Prior,
    Submission,
    Witness,
    b64,
    load_witness_key,
    open_witness,
    signed_by,
    unb64,
)
from server.audit.witness_service import witness_app
from server.care.schedule import NewAppointment
from server.crypto.keys import KeyMaterial, KeyRing
from server.exceptions import WitnessRefused
from server.settings import Settings, WitnessSettings
from server.storage.db import utcnow
from server.storage.models import Role, new_id
from server.storage.session_models import LogEntry
from tests.conftest import make_staff, sign_in
from tests.factories import new_client, therapist_view
from tests.helpers import cli_env, free_port, run_cli

RING = KeyRing(KeyMaterial.generate())
STREAM = session_stream(new_id())


def _head(n: int, branch: str = "") -> str:
    return hashlib.sha256(f"{branch}{n}".encode()).hexdigest()


def _checkpoint(
    seq: int, branch: str = "", prior: int | None = None, ring: KeyRing = RING
) -> Submission:
    """A checkpoint of ``STREAM`` at ``seq`` as the server signs it; ``prior``: the hash at
    that position shown with it (of the same branch of the log)."""
    at = datetime(2026, 3, 1, 10, seq, tzinfo=UTC).isoformat()
    message = head_message(STREAM, seq, _head(seq, branch), "interval", at)
    return Submission(
        stream=STREAM,
        seq=seq,
        head=_head(seq, branch),
        reason="interval",
        signed_at=at,
        signature=b64(ring.sign(message)),
        server_key=b64(ring.public_key.public_bytes_raw()),
        prior=None if prior is None else Prior(seq=prior, hash=_head(prior, branch)),
    )


@pytest.fixture
def witness(tmp_path: Path) -> Iterator[Witness]:
    made = open_witness(tmp_path / "witness", tmp_path / "keys" / "witness-key.json")
    yield made
    made.store.close()


def _refused(witness: Witness, sub: Submission) -> WitnessRefused:
    with pytest.raises(WitnessRefused) as info:
        witness.submit(sub)
    return info.value


@pytest.mark.hazard("HZ-23")
def test_the_witness_takes_what_extends_its_log_and_refuses_the_rest(witness: Witness) -> None:
    seen = witness.submit(_checkpoint(3))
    key = unb64(witness.public_key)
    assert signed_by(key, seen.countersigned(), seen.countersignature)  # countersigned
    assert witness.submit(_checkpoint(3)) == seen  # the same again: nothing added

    needs = _refused(witness, _checkpoint(6))  # grown, but from where?
    assert (needs.code, needs.size, needs.head) == ("needs_prior", 3, _head(3))
    forked = _refused(witness, _checkpoint(6, "b", prior=3))  # cut back and written again
    assert forked.code == "forks" and "cut back and written again" in str(forked)
    witness.submit(_checkpoint(6, prior=3))  # grown from what it saw

    assert _refused(witness, _checkpoint(4)).code == "behind"  # shorter than it saw
    assert _refused(witness, _checkpoint(3, "b")).code == "forks"  # another entry 3
    assert _refused(witness, _checkpoint(8, prior=3)).code == "needs_prior"  # not its size
    other = KeyRing(KeyMaterial.generate())
    assert _refused(witness, _checkpoint(8, prior=6, ring=other)).code == "unknown_server"
    forged = _checkpoint(8, prior=6).model_copy(update={"signature": _checkpoint(9).signature})
    assert _refused(witness, forged).code == "not_signed"
    assert [s.seq for s in witness.sighting(STREAM).seen] == [3, 6]


def test_the_store_is_append_only_shared_and_survives_a_torn_line(
    witness: Witness, tmp_path: Path
) -> None:
    witness.submit(_checkpoint(2))
    # another process on the same store: it reads what this one appended, and this one
    # reads what it appends, each before it writes
    other = Witness(FileStore(witness.store.path), witness.key)
    assert other.sighting(STREAM).newest == witness.sighting(STREAM).newest
    other.submit(_checkpoint(4, prior=2))
    assert _refused(witness, _checkpoint(3)).code == "behind"
    with witness.store.path.open("ab") as raw:  # a write cut short by a power cut
        raw.write(b'{"type": "seen", "stream": "ses')
    witness.submit(_checkpoint(5, prior=4))
    lines = witness.store.path.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines if line.endswith("}") and '"seq"' in line]
    reopened = open_witness(witness.store.path.parent, tmp_path / "keys" / "witness-key.json")
    try:
        assert [s.seq for s in reopened.sighting(STREAM).seen] == [2, 4, 5]
        assert reopened.store.state.damaged == 1 and reopened.public_key == witness.public_key
    finally:
        reopened.store.close()
        other.store.close()
    assert witness.store.path.stat().st_mode & 0o077 == 0
    assert (tmp_path / "keys" / "witness-key.json").stat().st_mode & 0o077 == 0
    assert load_witness_key(tmp_path / "keys" / "witness-key.json") is not None


async def _scheduled(app: web.Application) -> str:
    await make_staff(app, "ther")
    ther = await therapist_view(app, "ther")
    kid = await new_client(app, ther)
    made = await app[SCHEDULE].create(
        ther, kid.id, NewAppointment(starts_at=utcnow() + timedelta(minutes=2))
    )
    return made.id


@pytest.mark.hazard("HZ-23")
async def test_the_witness_service_over_http_countersigns_and_refuses_a_log_cut_back(
    settings: Settings, aiohttp_client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    service = open_witness(tmp_path / "service", tmp_path / "service-key.json")
    witness_client: TestClient = await aiohttp_client(witness_app(service))
    url = str(witness_client.make_url("")).rstrip("/")
    app = create_app(settings.model_copy(update={"witness": WitnessSettings(url=url)}))
    await aiohttp_client(app)
    log = app[SESSION_LOG]
    session_id = await _scheduled(app)
    stream = session_stream(session_id)
    for kind in ("room.opened", "participant.joined", "participant.admitted", "participant.left"):
        await log.append(stream, kind, "system")
    await log.checkpoint(stream)
    report = await log.verify(stream)
    assert report.intact and report.witness is not None and report.witness.seen_to == 6
    sighting = await (await witness_client.get(f"/logs/{stream}")).json()
    assert [s["seq"] for s in sighting["seen"]] == [6]
    assert (await (await witness_client.get("/key")).json())["public_key"] == service.public_key

    # someone cuts the log back and the server goes on writing after it: the witness
    # refuses the next checkpoint, and the check names what went
    async with app[DATABASE].session() as session:
        await session.execute(
            sa.delete(LogEntry).where(LogEntry.stream == stream, LogEntry.seq > 4)
        )
    for kind in ("participant.joined", "participant.left", "room.closed"):
        await log.append(stream, kind, "system")
    await log.checkpoint(stream)
    report = await log.verify(stream)
    assert report.witness is not None and report.witness.status == "refused"
    assert "The witness refused the checkpoint of entry 7" in report.witness.message
    assert not report.intact and any(f.seq == 6 for f in report.findings)

    # a checkpoint that does not extend what it saw, sent straight to the service
    stale = await (await witness_client.get(f"/logs/{stream}")).json()
    older = {
        **stale["seen"][0],
        "server_key": b64(app[SESSION_LOG].ring.public_key.public_bytes_raw()),
    }
    for name in ("witnessed_at", "countersignature"):
        older.pop(name)
    older.update(seq=5, head=_head(5))
    older["signature"] = b64(
        app[SESSION_LOG].ring.sign(
            head_message(stream, 5, _head(5), "interval", older["signed_at"])
        )
    )
    refused = await witness_client.post("/checkpoints", json=older)
    assert refused.status == 409
    error = (await refused.json())["error"]
    assert (error["code"], error["size"]) == ("behind", 6)
    hostile = await witness_client.post(
        "/checkpoints",
        data=b'{"seq": ' + b"7" * 5000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert hostile.status == 400 and (await hostile.json())["error"]["code"] == "bad_request"
    deep = await witness_client.post("/checkpoints", data=b"[" * 10_000)  # within 16 KiB
    assert deep.status == 400


@pytest.mark.hazard("HZ-23")
async def test_a_session_goes_on_while_its_witness_is_down_and_is_seen_once_it_is_back(
    settings: Settings, aiohttp_client, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    options = WitnessSettings(url=f"http://127.0.0.1:{port}", retry_seconds=0.2, timeout_seconds=1)
    app = create_app(settings.model_copy(update={"witness": options}))
    client = await aiohttp_client(app)
    session_id = await _scheduled(app)
    stream = session_stream(session_id)
    ther = await therapist_view(app, "ther")
    started = asyncio.get_running_loop().time()
    await app[SCHEDULE].end(ther, session_id)  # signs its end checkpoint: nothing waits
    assert asyncio.get_running_loop().time() - started < 1
    supervisor = await make_staff(app, "sup", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("sup", "ther")
    await sign_in(client, supervisor)
    page = await (await client.get(f"/records/{session_id}?verified=1")).text()
    assert "The log is intact" in page
    assert "could not be reached" in page and "has not yet seen the checkpoint of entry 3" in page

    service = open_witness(tmp_path / "service", tmp_path / "service-key.json")
    server = TestServer(witness_app(service), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        for _ in range(200):  # sent again within a retry interval or two
            if service.sighting(stream).seen:
                break
            await asyncio.sleep(0.05)
        assert [s.seq for s in service.sighting(stream).seen] == [3]
        report = await app[SESSION_LOG].verify(stream)
        assert report.witness is not None and report.witness.status == "seen"
        assert report.witness.seen_to == 3
    finally:
        await server.close()


@pytest.mark.hazard("HZ-23")
async def test_a_record_retention_deletes_is_not_taken_for_tampering(
    app: web.Application, client: TestClient, settings: Settings
) -> None:
    session_id = await _scheduled(app)
    stream = session_stream(session_id)
    await app[SESSION_LOG].checkpoint(stream)
    assert (await app[SESSION_LOG].verify(stream)).witness.status == "seen"  # type: ignore[union-attr]
    counts = await app[RETENTION].purge(now=utcnow() + timedelta(days=365 * 60))
    assert counts["log_entries"] >= 2 and counts["appointments"] == 1
    report = await app[SESSION_LOG].verify(stream)
    assert report.intact and report.entries == 0
    assert report.witness is not None and report.witness.status == "retired"
    env = cli_env(settings.data_dir, settings.database_url)
    swept = run_cli("verify-log", "--all", env=env)
    assert swept.returncode == 0, swept.stdout + swept.stderr
