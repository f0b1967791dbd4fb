"""After a crash the session's log says who was cut off, since when they were last known
connected, and what became of each (back, or lost); and ``verify`` names anyone a restored
room expected back whom no later entry accounts for, apart from any tampering."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import SESSION_LOG
from server.audit.sessionlog import Entry, SessionLog, session_stream
from server.edge.rebuilt import CRASH, cut_off, gone
from server.records.sessions import describe, summarise
from server.settings import Settings
from server.storage.models import Appointment, new_id
from server.storage.opening import open_storage
from server.storage.session_models import Place
from tests.client import ProtocolPeer
from tests.conftest import PASSWORD
from tests.helpers import serve_with_therapist
from tests.live import LiveStaff, enter_room, ready_session


async def _log_of(data: Path, session: str) -> tuple[list[Entry], SessionLog]:
    storage = await open_storage(Settings(data_dir=data), writable=False)
    log = SessionLog(storage.db, storage.ring)
    return await log.entries(session_stream(session)), log


@pytest.mark.hazard("HZ-25")
async def test_after_a_crash_the_log_says_who_was_cut_off_since_when_and_their_return(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server, env = serve_with_therapist(data, "rio", PASSWORD)
    staff = LiveStaff(server.url, "rio", PASSWORD)
    outsider = aiohttp.ClientSession()
    ws_url = f"{server.url.replace('http', 'ws', 1)}/ws"
    log: SessionLog | None = None
    try:
        await staff.sign_in()
        session, links = await ready_session(staff)
        entered = await enter_room(staff, session, links["young_person"], outsider)
        tid, t_token = entered.therapist_id, entered.therapist_token
        yid, y_token = entered.young_id, entered.young_token
        before_crash = datetime.now(UTC)

        server.crash_and_restart()  # SIGKILL: nothing is written on the way down
        for token, ws in (
            (t_token, await staff.ws()),
            (y_token, await outsider.ws_connect(ws_url)),
        ):
            back = ProtocolPeer(ws, media=False)
            await back.send({"type": "resume", "token": token})
            await back.expect("resumed")
            await back.close()

        entries, log = await _log_of(data, session)
        kinds = [(e.kind, e.details.get("participant")) for e in entries]
        restored = next(i for i, e in enumerate(entries) if e.kind == "room.restored")
        expected = entries[restored].details["expected"]
        assert sorted(p["participant"] for p in expected) == sorted([tid, yid])
        for pid, role in ((tid, "therapist"), (yid, "young_person")):
            cut = next(
                e for e in entries[:restored]
                if e.kind == "participant.interrupted" and e.details["participant"] == pid
            )  # fmt: skip
            assert cut.details["cause"] == CRASH and cut.details["role"] == role
            since = datetime.fromisoformat(cut.details["since"])
            assert since <= before_crash  # last known connected: before the crash, not after
            assert ("participant.reconnected", pid) in kinds[restored:]
        report = await log.verify(session_stream(session), consult_witness=False)
        assert report.intact and report.unaccounted == [], report.as_dict()
    finally:
        if log is not None:
            await log.db.dispose()
        await staff.close()
        await outsider.close()
        server.stop()


def _place(pid: str, role: str, seen: datetime) -> Place:
    return Place(
        token_hash=new_id(),
        appointment_id="a",
        participant_id=pid,
        role=role,
        link_id=None,
        user_id="u1",
        was_waiting=False,
        created_at=seen,
        seen_at=seen,
    )


@pytest.mark.hazard("HZ-25")
def test_a_stop_with_warning_or_a_drop_before_the_crash_is_not_written_twice() -> None:
    now = datetime.now(UTC)
    said = [
        Entry(1, now, "participant.admitted", "x", {"participant": "y", "role": "young_person"}),
        Entry(2, now, "participant.interrupted", "x", {"participant": "y", "cause": "dropped"}),
        Entry(3, now, "participant.reconnected", "x", {"participant": "t", "role": "therapist"}),
    ]
    seen = now - timedelta(seconds=7)
    held = [_place("y", "young_person", seen), _place("t", "therapist", seen)]
    assert cut_off(held, said) == [
        (
            "participant.interrupted",
            "staff:u1",
            {"participant": "t", "role": "therapist", "cause": CRASH, "since": seen.isoformat()},
        )
    ]


@pytest.mark.hazard("HZ-25")
def test_someone_the_log_shows_gone_before_the_crash_is_not_cut_off_by_it() -> None:
    """A crash between "left" (or lost, removed, declined) and their place being let go:
    they are gone, not interrupted, and a restored room does not expect them back."""
    now = datetime.now(UTC)
    said = [
        Entry(1, now, "participant.admitted", "x", {"participant": "y", "role": "young_person"}),
        Entry(2, now, "participant.left", "x", {"participant": "y", "role": "young_person"}),
    ]
    held = [_place("y", "young_person", now)]
    assert cut_off(held, said) == []
    assert gone(held[0], said)


async def _restored(log: SessionLog, stream: str, *people: str) -> None:
    expected = [{"participant": p, "role": "young_person"} for p in people]
    await log.append(stream, "room.opened", "system")
    await log.append(stream, "room.restored", "system", {"after": "x", "expected": expected})


@pytest.mark.hazard("HZ-25")
async def test_someone_expected_back_and_never_accounted_for_is_named_apart_from_tampering(
    app: web.Application, client: TestClient
) -> None:
    log = app[SESSION_LOG]
    stream = session_stream(new_id())
    await _restored(log, stream, "p1", "p2", "p3")
    await log.append(stream, "participant.reconnected", "system", {"participant": "p1"})
    await log.append(stream, "participant.lost", "system", {"participant": "p2"})
    report = await log.verify(stream, consult_witness=False)
    assert report.intact  # nothing was altered or removed: an entry was never written
    assert [(f.seq, f.problem) for f in report.unaccounted] == [(2, "unaccounted")]
    assert "p3" in report.unaccounted[0].detail and "young person" in report.unaccounted[0].detail
    assert report.as_dict()["unaccounted"][0]["seq"] == 2
    await log.append(stream, "session.ended", "system")
    assert (await log.verify(stream, consult_witness=False)).unaccounted == []


@pytest.mark.hazard("HZ-25")
async def test_a_second_restart_carries_who_is_still_expected(
    app: web.Application, client: TestClient
) -> None:
    log = app[SESSION_LOG]
    stream = session_stream(new_id())
    await _restored(log, stream, "p1")
    await log.append(stream, "room.restored", "system", {"after": "x", "expected": []})
    report = await log.verify(stream, consult_witness=False)
    assert [f.seq for f in report.unaccounted] == [2]  # still owed from the first restart


@pytest.mark.hazard("HZ-25")
def test_the_timeline_counts_a_crash_from_when_they_were_last_known_connected() -> None:
    at = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
    since = at - timedelta(seconds=40)
    who = {"participant": "y", "role": "young_person"}
    cut = Entry(5, at, "participant.interrupted", "system",
                {**who, "cause": CRASH, "since": since.isoformat()})  # fmt: skip
    back = Entry(7, at + timedelta(seconds=5), "participant.reconnected", "system",
                 {**who, "cause": "resumed"})  # fmt: skip
    assert describe(cut) == (
        "The young person: connection interrupted (the server stopped without warning), "
        "last known connected at 13:59:20 UTC"
    )
    session = Appointment(starts_at=at - timedelta(minutes=5), ends_at=at + timedelta(minutes=45))
    assert summarise(session, [cut, back]).interrupted_seconds == 45


@pytest.mark.hazard("HZ-25")
async def test_a_room_nobody_comes_back_to_after_a_crash_says_so_and_lets_its_places_go(
    tmp_path: Path,
) -> None:
    """Nobody resumes after the crash: the room rebuilt as the server started says who was
    cut off, and once the grace window is over that they did not come back; the places
    kept for them go, and the room leaves memory."""
    data = tmp_path / "data"
    server, env = serve_with_therapist(
        data,
        "rio",
        PASSWORD,
        PLAYROOM_LOG_LEVEL="INFO",
        PLAYROOM_RECONNECT_GRACE_SECONDS="1",
        PLAYROOM_PLACE_SEEN_SECONDS="0.5",
    )
    staff = LiveStaff(server.url, "rio", PASSWORD)
    outsider = aiohttp.ClientSession()
    log: SessionLog | None = None
    try:
        await staff.sign_in()
        session, links = await ready_session(staff)
        entered = await enter_room(staff, session, links["young_person"], outsider)
        tid, yid = entered.therapist_id, entered.young_id

        server.crash_and_restart()  # and nobody comes back
        deadline = time.monotonic() + 30
        while server.stderr().count("-> lost") < 2:
            assert time.monotonic() < deadline, server.stderr()[-2000:]
            await asyncio.sleep(0.1)  # the server's own log, read until it says so
        assert "rooms_settled" not in server.stderr()  # its own timers closed it

        # the state moves (and says so) just before its entry is committed: the log is read
        # until both entries are there
        entries, log = await _log_of(data, session)
        while sum(e.kind == "participant.lost" for e in entries) < 2:
            assert time.monotonic() < deadline, [e.kind for e in entries]
            await asyncio.sleep(0.05)
            entries = await log.entries(session_stream(session))
        for pid in (tid, yid):
            mine = [e.kind for e in entries if e.details.get("participant") == pid]
            said = [kind for kind in mine if kind.startswith("participant.")]
            assert said[-2:] == ["participant.interrupted", "participant.lost"], mine
        report = await log.verify(session_stream(session), consult_witness=False)
        assert report.intact and report.unaccounted == [], report.as_dict()
        while True:  # each place goes just after its person's entry is written
            async with log.db.read() as db:
                if await db.scalar(sa.select(sa.func.count()).select_from(Place)) == 0:
                    break
            assert time.monotonic() < deadline, "places kept for nobody"
            await asyncio.sleep(0.05)  # the database, read until they are gone
    finally:
        if log is not None:
            await log.db.dispose()
        await staff.close()
        await outsider.close()
        server.stop()
