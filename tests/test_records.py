"""Session records: every event of a session reaches its signed log, and supervisors (of
that therapist only) and the therapist see the timeline, verify it and export it; every
look is logged."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, DATABASE, RECORDS, SCHEDULE, SESSION_LOG
from server.audit.sessionlog import session_stream, views_stream
from server.care.schedule import NewAppointment
from server.exceptions import NotFound
from server.records.sessions import Filters, describe
from server.settings import Settings
from server.storage.db import utcnow
from server.storage.models import Appointment, Role, new_id
from server.storage.session_models import LogEntry
from tests.client import ProtocolPeer
from tests.conftest import make_staff, sign_in
from tests.factories import new_client, therapist_view
from tests.scenes import Room, join_with


@pytest.fixture
def grace() -> float:
    """How long a dropped place is held: short, so that a loss comes quickly."""
    return 0.5


@pytest.fixture
def settings(settings: Settings, grace: float) -> Settings:
    return settings.model_copy(update={"reconnect_grace_seconds": grace})


async def _held_session(aiohttp_client, client: TestClient, room: Room) -> None:  # type: ignore[no-untyped-def]
    """Join, admission, a loss, an escalation, the end."""
    therapist = room.therapist
    young = await join_with(aiohttp_client, client, room.token, **{"where.place": "home"})
    yid = (await young.expect("joined"))["you"]["id"]
    await therapist.send({"type": "admit", "participant": yid})
    await young.expect("admitted")
    for rtt, loss in ((40, 0.01), (80, 0.03)):  # what the therapist's page measured
        await therapist.send({"type": "quality", "peer": yid, "rtt_ms": rtt, "loss": loss})
    await therapist.send({"type": "quality", "peer": "ab" * 8, "rtt_ms": 5})
    assert (await therapist.expect("error"))["code"] == "unknown_peer"
    await therapist.send({"type": "quality", "peer": yid, "loss": 2})
    assert (await therapist.expect("error"))["code"] == "bad_message"
    await young.close()  # dropped, and not back within the grace window
    await therapist.expect("peer_state", participant=yid, state="lost", within=10)
    await therapist.expect("plan")
    await therapist.send({"type": "plan_step", "case": "lost", "step": "ring_young_person",
                          "outcome": "no_answer"})  # fmt: skip
    await therapist.expect("plan_recorded")
    await therapist.send({"type": "escalate", "concern": "unreachable"})
    await therapist.expect("escalation")
    await therapist.send({"type": "end_room"})
    await therapist.expect("room_ended")


def _listed(html: str) -> list[str]:
    """The sessions a records page lists, in its order."""
    return re.findall(r'href="/records/([0-9a-f]{32})"', html)


async def _supervisor(
    app: web.Application, aiohttp_client, client: TestClient, name: str, team: bool
) -> TestClient:  # type: ignore[no-untyped-def]
    staff = await make_staff(app, name, Role.SUPERVISOR)
    if team:
        await app[ACCOUNTS].supervise(name, "therapist.one")
    browser = await aiohttp_client(client.server)
    await sign_in(browser, staff)
    return browser  # type: ignore[no-any-return]


async def test_the_log_holds_every_event_and_the_team_reads_it(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    await _held_session(aiohttp_client, client, room)
    kinds = [e.kind for e in await app[SESSION_LOG].entries(session_stream(room.session))]
    for kind in ("session.scheduled", "link.issued", "gate.evaluated", "room.opened",
                 "participant.joined", "participant.admitted", "participant.interrupted",
                 "participant.lost", "plan.started", "plan.step", "escalation.raised",
                 "session.ended"):  # fmt: skip
        assert kind in kinds, kind
    assert kinds.index("participant.admitted") < kinds.index("participant.lost")
    assert kinds[-1] == "session.ended"

    sup = await _supervisor(app, aiohttp_client, client, "sup", team=True)
    listing = await (await sup.get("/records?flag=loss")).text()
    assert _listed(listing) == [room.session]  # the filters themselves: see below
    page = await sup.get(f"/records/{room.session}")
    html = await page.text()
    assert page.status == 200
    assert "The young person LOST" in html and "ESCALATION raised: unreachable" in html
    assert "Plan step “ring young person”: no answer" in html and "Admitted the young" in html
    assert (
        "Connection from the therapist to the young person: 60 ms round trip on average "
        "(at most 80 ms), 2.0% packets lost on average (at most 3.0%), 2 measurements"
    ) in html
    verified = await (await sup.get(f"/api/records/{room.session}/verify")).json()
    assert verified["intact"] and verified["entries"] == len(kinds)
    exported = await sup.get(f"/records/{room.session}/export.json")
    assert "attachment" in exported.headers["Content-Disposition"]
    doc = await exported.json()
    assert doc["verification"]["intact"] and doc["summary"]["losses"] == 1
    assert doc["timeline"][-1]["what"] == "Session ended"
    printed = await sup.get(f"/records/{room.session}/print")
    assert "The log is intact" in await printed.text()
    # the therapist reads their own record too
    assert (await client.get(f"/records/{room.session}")).status == 200

    # every look at the record is itself logged, by whom
    views = await app[SESSION_LOG].entries(views_stream(room.session))
    assert {"record.viewed", "record.exported", "record.printed", "record.verified"} <= {
        v.kind for v in views
    }
    assert (await app[SESSION_LOG].verify(views_stream(room.session))).intact


async def test_no_one_outside_the_team_reads_a_record(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    await _held_session(aiohttp_client, client, room)
    outsider = await _supervisor(app, aiohttp_client, client, "other.sup", team=False)
    assert f"/records/{room.session}" not in await (await outsider.get("/records")).text()
    for path in ("", "/export.json", "/print"):
        assert (await outsider.get(f"/records/{room.session}{path}")).status == 403
    assert (await outsider.get(f"/api/records/{room.session}/verify")).status == 403
    other = await make_staff(app, "therapist.two")
    browser = await aiohttp_client(client.server)
    await sign_in(browser, other)
    assert (await browser.get(f"/records/{room.session}")).status == 403


@pytest.mark.hazard("HZ-12")
async def test_the_log_keeps_no_name_or_number_in_clear(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    await _held_session(aiohttp_client, client, room)
    async with app[DATABASE].session() as session:
        rows = list(await session.scalars(sa.select(LogEntry)))
    clear = " ".join(f"{r.kind} {r.actor} {r.digest} {r.prev_hash}" for r in rows)
    for secret in ("Sky", "Pat Parent", "07700", "home", "Therapist.One"):
        assert secret not in clear
        assert all(secret.encode() not in r.details_enc for r in rows)


async def _scheduled(app: web.Application, therapist: str, starts: datetime) -> Appointment:
    """A session of a new client of ``therapist``, through the real service."""
    ther = await therapist_view(app, therapist)
    kid = await new_client(app, ther, display_name="Robin")
    return await app[SCHEDULE].create(ther, kid.id, NewAppointment(starts_at=starts))


async def test_the_filters_list_exactly_the_sessions_that_match(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    await _held_session(aiohttp_client, client, room)  # a loss and an escalation
    quiet = await _scheduled(app, "therapist.one", utcnow() + timedelta(days=3))  # neither
    await make_staff(app, "therapist.two")
    other = await _scheduled(app, "therapist.two", utcnow() + timedelta(minutes=5))
    sup = await _supervisor(app, aiohttp_client, client, "sup", team=True)
    await app[ACCOUNTS].supervise("sup", "therapist.two")
    held = room.session

    async def listed(query: str = "") -> set[str]:
        page = await sup.get(f"/records{query}")
        assert page.status == 200
        return set(_listed(await page.text()))

    assert await listed() == {held, quiet.id, other.id}
    assert await listed("?flag=loss") == {held}
    assert await listed("?flag=escalation") == {held}
    assert await listed("?flag=sign_off") == set()
    ther_two = await therapist_view(app, "therapist.two")
    assert await listed(f"?therapist={ther_two.id}") == {other.id}
    assert await listed(f"?client={quiet.client_id}") == {quiet.id}
    assert await listed(f"?client={quiet.client_id}&flag=loss") == set()
    zone = app[RECORDS].zone
    days = {a.id: a.starts_at.astimezone(zone).date() for a in (quiet, other)}
    async with app[DATABASE].session() as session:
        started = await session.scalar(
            sa.select(Appointment.starts_at).where(Appointment.id == held)
        )
        assert started is not None
        days[held] = started.astimezone(zone).date()
    since = days[quiet.id]  # three days on: only that session
    assert await listed(f"?since={since.isoformat()}") == {quiet.id}
    until = since - timedelta(days=1)
    assert await listed(f"?until={until.isoformat()}") == {held, other.id}
    assert await listed(f"?since={days[held]}&until={days[held]}") == {
        a for a, day in days.items() if day == days[held]
    }


async def test_the_flag_filter_finds_a_session_older_than_the_newest_five_hundred(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    await _held_session(aiohttp_client, client, room)
    newer = await _scheduled(app, "therapist.one", utcnow() + timedelta(days=1))
    later = utcnow() + timedelta(days=2)
    async with app[DATABASE].session() as session:
        session.add_all(
            Appointment(id=new_id(), client_id=newer.client_id, therapist_id=newer.therapist_id,
                        starts_at=later + timedelta(minutes=n), ends_at=later + timedelta(hours=1),
                        status="scheduled", created_at=utcnow())
            for n in range(500)
        )  # fmt: skip
    ther = await therapist_view(app, "therapist.one")
    rows = await app[RECORDS].sessions(ther, Filters(flag="loss"))
    assert [r.appointment.id for r in rows] == [room.session]
    assert {"loss", "escalation"} <= rows[0].flags


async def test_an_over_long_id_names_no_session(
    app: web.Application, client: TestClient, room: Room
) -> None:
    # a trailing newline (``$`` in a Python pattern matches before it) names no session: the
    # path check refuses it, and nothing cuts it off to reach the session it starts with
    for path in ("", "/export.json", "/print"):
        assert (await client.get(f"/records/{room.session}%0A{path}")).status == 404, path
    assert (await client.get(f"/api/records/{room.session}%0A/verify")).status == 404
    ther = await therapist_view(app, "therapist.one")
    for odd in (room.session + "0", room.session[:31], room.session.upper()):
        with pytest.raises(NotFound):
            await app[RECORDS].record(ther, odd)
    assert await app[SESSION_LOG].entries(views_stream(room.session)) == []  # no look logged


@pytest.mark.parametrize("grace", [30.0])  # long enough to come back on a busy machine
async def test_a_young_person_coming_back_is_on_the_timeline(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    young = await join_with(aiohttp_client, client, room.token)
    joined = await young.expect("joined")
    yid = joined["you"]["id"]
    await therapist.send({"type": "admit", "participant": yid})
    await young.expect("admitted")
    await young.close()
    await therapist.expect("peer_state", participant=yid, state="interrupted")
    back = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"))
    await back.send({"type": "resume", "token": joined["resume"]})
    await back.expect("resumed")
    await therapist.expect("peer_state", participant=yid, state="reconnected")
    entries = await app[SESSION_LOG].entries(session_stream(room.session))
    kinds = [e.kind for e in entries]
    assert kinds.index("participant.interrupted") < kinds.index("participant.reconnected")
    back_entry = next(e for e in entries if e.kind == "participant.reconnected")
    assert back_entry.details["participant"] == yid and back_entry.details["cause"] == "resumed"
    assert describe(back_entry) == "The young person: back (resumed)"
    await back.close()
