"""Escalation alerts kept in the database: a due alert is claimed by one node only, however
many ask at once, and an alert still to send outlives the server that raised the escalation.
(Several real nodes, one killed after another: ``test_nodes_escalation.py``.)"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import create_app
from server.appkeys import ACCOUNTS, DATABASE, ESCALATIONS, ROTA
from server.care.repeats import Repeats
from server.settings import Settings
from server.storage.db import Database, utcnow
from server.storage.models import Role
from server.storage.session_models import EscalationRepeat
from tests.client import ProtocolPeer
from tests.conftest import make_staff, sign_in
from tests.scenes import Room


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Alerts repeat every 2 s: the first server stops well before its first repeat."""
    return settings.model_copy(update={"escalation_repeat_seconds": 2.0})


@pytest.mark.hazard("HZ-21")
async def test_a_due_alert_is_claimed_by_one_node_however_many_ask(
    app: web.Application, room: Room, settings: Settings
) -> None:
    """Two nodes (engines of their own on the same database) ask for the same due alert
    at the same moment, again and again: each time exactly one claim is made (theirs, or
    now and then that of this app's own round, a third node)."""
    therapist = await app[ACCOUNTS].find("therapist.one")
    escalation = (await app[ESCALATIONS].raise_concern(therapist, room.session, "unreachable")).id
    url = settings.resolved_database_url
    nodes = [Database(url), Database(url)]
    try:
        claimers = [Repeats(db, 60) for db in nodes]  # claims that hold a minute
        for _ in range(10):
            async with app[DATABASE].session() as session:  # due now
                before = await session.get(EscalationRepeat, escalation)
                assert before is not None
                attempt = before.attempt
                before.due_at = utcnow() - timedelta(seconds=1)
            got = await asyncio.gather(*(c.due(f"node-{i}") for i, c in enumerate(claimers)))
            async with app[DATABASE].read() as session:
                after = await session.get(EscalationRepeat, escalation)
            assert after is not None and after.attempt == attempt + 1  # one claim, no more
            mine = [turn for turns in got for turn in turns]
            assert len(mine) == (0 if after.claimed_by == "local" else 1), got
            assert not await claimers[0].due("node-0")  # claimed: due again only later
    finally:
        for db in nodes:
            await db.dispose()


@pytest.mark.hazard("HZ-21")
async def test_an_alert_still_to_send_outlives_the_server_that_raised_it(
    app: web.Application,
    aiohttp_client: Any,
    client: TestClient,
    room: Room,
    settings: Settings,
) -> None:
    """The server that raised an escalation stops before its first repeat is due: the
    next server on the same database sends it, down the rota, to the supervisor off shift,
    whose dashboard there hears it."""
    staff = {}
    for name in ("own.on", "own.off"):
        staff[name] = await make_staff(app, name, Role.SUPERVISOR)
        await app[ACCOUNTS].supervise(name, "therapist.one")
    await app[ROTA].press((await app[ACCOUNTS].find("own.on")).id, True)
    await room.therapist.send({"type": "escalate", "concern": "risk_to_self"})
    info = (await room.therapist.expect("escalation"))["escalation"]
    assert [a["name"] for a in info["alerted"]] == ["Own.On"]
    async with asyncio.timeout(10):
        while True:  # until the first alert is out (its e-mail and webhook too)
            row = await app[ESCALATIONS].repeats.pending(info["id"])
            if row is None or row.next_index:
                break
            await asyncio.sleep(0.02)  # a condition polled, not a timer waited out
    await room.therapist.close()
    await client.close()  # the server stops: nothing of it is left in memory

    later = await aiohttp_client(create_app(settings))  # the next server, the same database
    await sign_in(later, staff["own.off"])
    dashboard = ProtocolPeer(await later.ws_connect("/ws"), media=False)
    await dashboard.send({"type": "watch"})
    await dashboard.expect("done")  # what is open now, told: then the repeat, when due

    def repeated() -> bool:
        return any(
            m["type"] == "escalation_alert"
            and "Own.Off" in [a["name"] for a in m["escalation"]["alerted"]]
            for m in dashboard.inbox
        )

    await dashboard.wait_for(repeated, within=15)
    kinds = [kind for kind, _, _ in await later.app[ESCALATIONS].events(info["id"])]
    assert kinds[:2] == ["raised", "alerted"] and "alerted_off_shift" in kinds
    await dashboard.close()
