"""An escalation seen through to its end: the supervisor's card names the young person (by
their chosen name) and keeps the therapist's name after acknowledging; the therapist is told
who acknowledged and when; the supervisor (or the therapist) closes it with a short note,
and the closing is in the session's log, without the note's words."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, DATABASE, RECORDS, SESSION_LOG
from server.audit.sessionlog import session_stream, staff_actor
from server.storage.models import Role
from server.storage.session_models import EscalationEvent, LogEntry
from tests.client import ProtocolPeer
from tests.conftest import make_staff, sign_in
from tests.factories import therapist_view
from tests.scenes import Room

NOTE = "Rang Pat Parent; Sky is safe at home with mum."


async def _dashboard(app: web.Application, aiohttp_client, client: TestClient) -> ProtocolPeer:  # type: ignore[no-untyped-def]
    staff = await make_staff(app, "sam.sup", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("sam.sup", "therapist.one")
    browser = await aiohttp_client(client.server)
    await sign_in(browser, staff)
    peer = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await peer.send({"type": "watch"})
    await peer.expect("done")
    return peer


@pytest.mark.hazard("HZ-05")
async def test_the_card_names_the_child_and_the_therapist_is_told_who_acknowledged(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    supervisor = await _dashboard(app, aiohttp_client, client)
    therapist = room.therapist
    await therapist.send({"type": "escalate", "concern": "risk_to_self"})
    info = (await therapist.expect("escalation"))["escalation"]
    alert = (await supervisor.expect("escalation_alert"))["escalation"]
    assert alert["client_name"] == "Sky" and alert["therapist_name"] == "Therapist.One"
    assert alert["acknowledged_by"] == "" and alert["acknowledged_at"] is None

    await supervisor.send({"type": "acknowledge", "escalation": info["id"]})
    await supervisor.expect("done")
    told = (await therapist.expect("escalation_update"))["escalation"]
    assert told["status"] == "acknowledged" and told["acknowledged_by"] == "Sam.Sup"
    assert datetime.fromisoformat(told["acknowledged_at"]) >= datetime.fromisoformat(
        info["created_at"]
    )
    card = (await supervisor.expect("escalation_update"))["escalation"]
    # the card keeps who it is about and whose it is once acknowledged
    assert card["client_name"] == "Sky" and card["therapist_name"] == "Therapist.One"
    await supervisor.close()


@pytest.mark.hazard("HZ-05")
async def test_a_supervisor_closes_an_escalation_with_a_note(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    supervisor = await _dashboard(app, aiohttp_client, client)
    therapist = room.therapist
    await therapist.send({"type": "escalate", "concern": "unreachable"})
    info = (await therapist.expect("escalation"))["escalation"]
    await supervisor.expect("escalation_alert")

    # a close says what was done
    await supervisor.send({"type": "close_escalation", "escalation": info["id"]})
    assert (await supervisor.expect("error"))["code"] == "bad_message"
    await supervisor.send({"type": "close_escalation", "escalation": info["id"], "note": "  "})
    assert "what was done" in (await supervisor.expect("error"))["message"]

    await supervisor.send({"type": "close_escalation", "escalation": info["id"], "note": NOTE})
    await supervisor.expect("done")
    for peer in (therapist, supervisor):
        closed = (await peer.expect("escalation_update"))["escalation"]
        assert closed["status"] == "closed" and closed["closed_by"] == "Sam.Sup"
        assert closed["note"] == NOTE and closed["closed_at"]
        assert closed["client_name"] == "Sky"

    # the log has the closing, by whom, and not the note; the note is sealed in its event
    sup = await therapist_view(app, "sam.sup")
    entries = await app[SESSION_LOG].entries(session_stream(room.session))
    closing = [e for e in entries if e.kind == "escalation.closed"]
    assert [(e.actor, e.details) for e in closing] == [
        (staff_actor(sup.id), {"escalation": info["id"]})
    ]
    async with app[DATABASE].session() as session:
        event = await session.scalar(
            sa.select(EscalationEvent).where(EscalationEvent.kind == "closed")
        )
        logged = list(await session.scalars(sa.select(LogEntry.details_enc)))
    assert event is not None and event.note_enc is not None and b"Pat Parent" not in event.note_enc
    assert not any(b"Pat Parent" in details for details in logged)
    record = await app[RECORDS].record(sup, room.session)
    assert any(line.text == "Escalation closed" and line.who == "Sam.Sup" for line in record.lines)

    # closed is closed
    await therapist.send({"type": "close_escalation", "escalation": info["id"], "note": "again"})
    assert "already closed" in (await therapist.expect("error"))["message"]
    await asyncio.gather(supervisor.close())
