"""Escalation during a session: what the therapist sees at once, the supervisor's live
alert, acknowledgement and closing; and who may not."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient

from media.client import ProtocolPeer
from server.appkeys import ACCOUNTS, ESCALATIONS
from server.models import Role
from tests.conftest import make_staff, sign_in
from tests.scenes import Room, join_with


async def _dashboard(
    app: web.Application, aiohttp_client, client: TestClient, username: str, team: bool
) -> ProtocolPeer:  # type: ignore[no-untyped-def]
    staff = await make_staff(app, username, Role.SUPERVISOR)
    if team:
        await app[ACCOUNTS].supervise(username, "therapist.one")
    browser = await aiohttp_client(client.server)
    await sign_in(browser, staff)
    peer = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await peer.send({"type": "watch"})
    return peer


async def test_an_escalation_reaches_the_supervisor_and_is_acknowledged_and_closed(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    young = await join_with(aiohttp_client, client, room.token, **{"where.place": "school"})
    yid = (await young.expect("joined"))["you"]["id"]
    await therapist.send({"type": "admit", "participant": yid})
    await young.expect("admitted")
    supervisor = await _dashboard(app, aiohttp_client, client, "sup", team=True)
    outsider = await _dashboard(app, aiohttp_client, client, "other.sup", team=False)
    await supervisor.send({"type": "ping", "n": 1})
    await supervisor.expect("pong")  # the dashboard is watching

    # a young person cannot escalate
    await young.send({"type": "escalate", "concern": "risk_to_self"})
    assert "Only the therapist" in (await young.expect("error"))["message"]

    await therapist.send({"type": "escalate", "concern": "risk_to_self"})
    info = (await therapist.expect("escalation"))["escalation"]
    assert info["contacts"] == [
        {"name": "Pat Parent", "relationship": "mum", "phone": "07700 900456"}
    ]
    assert info["location"] == "school"
    assert info["emergency_number"] and info["safeguarding_phone"] == "07700 900123"
    alert = await supervisor.expect("escalation_alert", within=5)
    assert alert["escalation"]["id"] == info["id"] and alert["therapist"] == "Therapist.One"

    # a supervisor outside the team is neither told nor allowed to acknowledge
    await outsider.send({"type": "acknowledge", "escalation": info["id"]})
    assert (await outsider.expect("error"))["code"] == "refused"
    assert not any(m["type"] == "escalation_alert" for m in outsider.inbox)

    await supervisor.send({"type": "acknowledge", "escalation": info["id"]})
    update = await therapist.expect("escalation_update")
    assert update["escalation"]["status"] == "acknowledged"
    await therapist.send({"type": "close_escalation", "escalation": info["id"]})

    def closed_for(peer: ProtocolPeer) -> bool:
        return any(
            m["type"] == "escalation_update" and m["escalation"]["status"] == "closed"
            for m in peer.inbox
        )

    await therapist.wait_for(lambda: closed_for(therapist))
    await supervisor.wait_for(lambda: closed_for(supervisor))
    events = await app[ESCALATIONS].events(info["id"])
    assert [kind for kind, _, _ in events] == ["raised", "acknowledged", "closed"]
    assert events[0][2] <= events[1][2] <= events[2][2]
    await asyncio.gather(young.close(), supervisor.close(), outsider.close())


async def test_a_dashboard_opened_later_sees_what_is_still_open(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    await room.therapist.send({"type": "escalate", "concern": "unreachable"})
    await room.therapist.expect("escalation")
    supervisor = await _dashboard(app, aiohttp_client, client, "late.sup", team=True)
    alert = await supervisor.expect("escalation_alert", within=5)
    assert alert["escalation"]["concern"] == "unreachable"
    await supervisor.close()
