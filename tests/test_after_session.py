"""After the session: the young person's ending screen gets the plan agreed for after it (only
with their own link, only once their own session has ended), and the therapist's debrief
(sealed, on the record) and flag for the supervisor's attention (on the supervisor's home
until marked seen)."""

from __future__ import annotations

import asyncio
import html
import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, CATALOGUE, DATABASE, EXPORTS, RECORDS, RETENTION, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.care.checklists import Kind
from server.care.plan import AFTER_SESSION
from server.records.sessions import Filters
from server.storage.models import Role
from server.storage.session_models import Debrief, LogEntry
from server.views import sessions as session_views
from server.views.sessions import AFTER_PLAN_MINUTES
from tests.client import ProtocolPeer
from tests.conftest import Staff, make_staff, sign_in
from tests.factories import (
    answer,
    daily_checks,
    give_consent,
    new_client,
    safe_answers,
    therapist_view,
)
from tests.fill import fill_client, remaining
from tests.scenes import enter, join_token, schedule_session

PLAN = "Have a snack and watch something cosy. If it feels heavy, talk to Nan or ring Childline."
NOTE = "Sky spoke about the fight at home; I want to think about it with my supervisor."


async def _client_with_plan(app: web.Application, therapist: Staff, after: str = PLAN) -> str:
    """A client whose gate is open, with a plan for after the session."""
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    catalogue = app[CATALOGUE]
    await answer(app, ther, kid, Kind.SUITABILITY, safe_answers(catalogue[Kind.SUITABILITY]))
    plan = safe_answers(catalogue[Kind.DISCONNECTION_PLAN])
    plan[AFTER_SESSION] = {"answer": after, "rationale": ""}
    await answer(app, ther, kid, Kind.DISCONNECTION_PLAN, plan)
    await give_consent(app, ther, kid)
    await daily_checks(app, ther)
    return kid.id


async def _after(client: TestClient, token: str) -> tuple[int, dict[str, str], str]:
    resp = await client.get(f"/join/{token}/after")
    return resp.status, await resp.json(), resp.headers.get("Cache-Control", "")


async def test_the_young_person_gets_their_plan_only_at_the_end_of_their_own_session(
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff, caplog, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    csrf = await sign_in(client, therapist)
    kid = await _client_with_plan(app, therapist)
    made = await schedule_session(client, csrf, kid, parent_link=True)
    token, parent = join_token(made), join_token(made, "parent")
    # a session of the same client that the young person never came to
    other = await schedule_session(client, csrf, kid, start_in=timedelta(minutes=3))
    stranger = await aiohttp_client(client.server)  # a fresh browser, as the young person's

    t, y = await enter(aiohttp_client, client, made["id"], token)
    status, body, _ = await _after(stranger, token)
    assert (status, body) == (404, {"plan": ""})  # not while the session is on

    await t.send({"type": "end_room"})
    await y.expect("room_ended")
    status, body, cache = await _after(stranger, token)
    assert (status, body) == (200, {"plan": PLAN})
    assert "no-store" in cache
    # the parent's link of the same session, and a forged or altered one: nothing
    assert (await _after(stranger, parent))[:2] == (404, {"plan": ""})
    assert (await _after(stranger, token[:-3] + "AAA"))[:2] == (404, {"plan": ""})

    # a session that ended without the young person: their link shows nothing
    o = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await o.send({"type": "open_room", "session": other["id"]})
    await o.expect("room_opened")
    await o.send({"type": "end_room"})
    await o.expect("room_ended")
    assert (await _after(stranger, join_token(other)))[:2] == (404, {"plan": ""})
    await asyncio.gather(t.close(), y.close(), o.close())

    # nor later than a few minutes after the end
    later = datetime.now(UTC) + timedelta(minutes=AFTER_PLAN_MINUTES + 1)
    monkeypatch.setattr(session_views, "utcnow", lambda: later)
    assert (await _after(stranger, token))[:2] == (404, {"plan": ""})
    monkeypatch.undo()

    # the plan's words are never logged, nor in the session's log
    assert PLAN not in caplog.text
    async with app[DATABASE].read() as db:
        kinds = list(
            await db.scalars(
                sa.select(LogEntry.kind).where(LogEntry.stream == session_stream(made["id"]))
            )
        )
    assert kinds and all("after" not in k for k in kinds)
    entries = await app[SESSION_LOG].entries(session_stream(made["id"]))
    assert all(PLAN not in str(e.details) for e in entries)


async def test_no_plan_agreed_shows_nothing(
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    kid = await _client_with_plan(app, therapist, after="")
    made = await schedule_session(client, csrf, kid)
    token = join_token(made)
    t, y = await enter(aiohttp_client, client, made["id"], token)
    await t.send({"type": "end_room"})
    await y.expect("room_ended")
    stranger = await aiohttp_client(client.server)
    assert (await _after(stranger, token))[:2] == (200, {"plan": ""})
    await asyncio.gather(t.close(), y.close())


async def _supervisor(app: web.Application, username: str, therapist: Staff) -> Staff:
    sup = await make_staff(app, username, Role.SUPERVISOR)
    await app[ACCOUNTS].supervise(username, therapist.username)
    return sup


async def test_debrief_and_flag_sealed_logged_and_seen_by_the_supervisor_only(
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff, caplog
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    csrf = await sign_in(client, therapist)
    kid = await _client_with_plan(app, therapist)
    made = await schedule_session(client, csrf, kid)
    session = made["id"]
    sup = await _supervisor(app, "sup.one", therapist)
    other_sup = await make_staff(app, "sup.two", Role.SUPERVISOR)
    other_ther = await make_staff(app, "therapist.two")
    await app[ACCOUNTS].supervise("sup.two", "therapist.two")

    resp = await client.post(
        f"/sessions/{session}/after",
        data={"csrf_token": csrf, "debrief": NOTE, "flag": "yes"},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    page = await (await client.get(f"/sessions/{session}")).text()
    assert NOTE in page, page[page.find("after-heading") :]
    assert "Flagged for your supervisor" in page

    # sealed at rest
    async with app[DATABASE].read() as db:
        row = (await db.scalars(sa.select(Debrief))).one()
    assert row.flagged and row.seen_at is None
    assert row.note_enc is not None and b"fight" not in row.note_enc
    # the log says a debrief was written and a flag raised, never the words
    entries = await app[SESSION_LOG].entries(session_stream(session))
    kinds = [e.kind for e in entries]
    assert "debrief.written" in kinds and "session.flagged" in kinds
    assert all("fight" not in str(e.details) for e in entries)
    assert "fight" not in caplog.text

    # another therapist cannot write on this session
    other_client = await aiohttp_client(client.server)
    other_csrf = await sign_in(other_client, other_ther)
    refused = await other_client.post(
        f"/sessions/{session}/after",
        data={"csrf_token": other_csrf, "debrief": "not mine", "flag": "yes"},
        allow_redirects=False,
    )
    assert refused.status == 403

    # the supervisor: on their home until seen, and in the record and its export
    sup_client = await aiohttp_client(client.server)
    sup_csrf = await sign_in(sup_client, sup)
    home = await (await sup_client.get("/")).text()
    assert "Flagged for your attention" in home and f"/records/{session}" in home
    assert f"/flags/{row.id}/seen" in home
    record = await (await sup_client.get(f"/records/{session}/export.json")).json()
    assert record["debriefs"][0]["note"] == NOTE and record["debriefs"][0]["flagged"]
    assert any(line["kind"] == "session.flagged" for line in record["timeline"])
    page = await (await sup_client.get(f"/records/{session}")).text()
    debriefs = page.split('id="debriefs"', 1)[1].split("</section>", 1)[0]
    assert html.escape(NOTE, quote=False) in debriefs and "flagged for the supervisor" in debriefs
    flagged_only = await app[RECORDS].sessions(
        await therapist_view(app, "sup.one"),
        Filters(flag="supervisor"),
    )
    assert [r.appointment.id for r in flagged_only] == [session]

    # a supervisor of someone else sees nothing of it and cannot mark it seen
    other_sup_client = await aiohttp_client(client.server)
    other_sup_csrf = await sign_in(other_sup_client, other_sup)
    assert f"/records/{session}" not in await (await other_sup_client.get("/")).text()
    assert (
        await other_sup_client.post(
            f"/flags/{row.id}/seen", data={"csrf_token": other_sup_csrf}, allow_redirects=False
        )
    ).status == 403
    assert (await other_sup_client.get(f"/records/{session}/export.json")).status == 403
    # the therapist cannot mark their own flag seen
    assert (
        await client.post(f"/flags/{row.id}/seen", data={"csrf_token": csrf}, allow_redirects=False)
    ).status == 403

    seen = await sup_client.post(
        f"/flags/{row.id}/seen", data={"csrf_token": sup_csrf}, allow_redirects=False
    )
    assert seen.status == 303
    home = await (await sup_client.get("/")).text()
    assert f"/flags/{row.id}/seen" not in home and "No session is flagged" in home
    kinds = [e.kind for e in await app[SESSION_LOG].entries(session_stream(session))]
    assert kinds.count("session.flag_seen") == 1
    page = await (await client.get(f"/sessions/{session}")).text()
    assert "Sup.One marked it seen" in page


async def test_a_debrief_alone_needs_no_other_answer(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    csrf = await sign_in(client, therapist)
    kid = await _client_with_plan(app, therapist)
    session = (await schedule_session(client, csrf, kid))["id"]
    resp = await client.post(
        f"/sessions/{session}/after",
        data={"csrf_token": csrf, "debrief": "quiet session"},
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    too_long = await client.post(
        f"/sessions/{session}/after",
        data={"csrf_token": csrf, "debrief": "x" * 4001},
        allow_redirects=False,
    )
    assert too_long.status in (400, 422)
    kinds = [e.kind for e in await app[SESSION_LOG].entries(session_stream(session))]
    assert kinds.count("debrief.written") == 1 and "session.flagged" not in kinds
    assert "reflection.written" not in kinds


async def test_debriefs_are_in_the_export_and_go_with_the_record(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    staff_id = (await therapist_view(app, therapist.username)).id
    old = await fill_client(
        app, staff_id, datetime(2000, 3, 1, tzinfo=UTC), name="Robin", age_band="9-11"
    )
    document = await app[EXPORTS].client(old["clients"][0], "staff:" + staff_id)
    debriefs = document["tables"]["debriefs"]
    assert debriefs[0]["note"] == "Robin was quiet today" and debriefs[0]["flagged"]
    assert document["staff"][staff_id]
    counts = await app[RETENTION].purge(now=datetime(2050, 1, 1, tzinfo=UTC))
    assert counts["debriefs"] == 1
    assert not (await remaining(app, old))["debriefs"]
