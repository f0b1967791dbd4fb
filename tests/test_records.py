"""Session records: every event of a session reaches its signed log, and supervisors (of
that therapist only) and the therapist see the timeline, verify it and export it; every
look is logged."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, DATABASE, SESSION_LOG
from server.models import LogEntry, Role
from server.sessionlog import session_stream, views_stream
from server.settings import Settings
from tests.conftest import make_staff, sign_in
from tests.scenes import Room, join_with


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"reconnect_grace_seconds": 0.5})


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
    assert f"/records/{room.session}" in listing and "escalation" in listing
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
