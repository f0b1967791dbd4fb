"""The therapist's ``admit`` asks the gate again: a young person (or a parent) waiting when
consent is withdrawn cannot be let into a room that is already open."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import HUB, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.live.rooms import State
from tests.client import ProtocolPeer
from tests.conftest import Staff, sign_in
from tests.factories import join_message, ready_client, therapist_view, withdraw_consent
from tests.scenes import join_token, schedule_session


@pytest.mark.hazard("HZ-03")
async def test_the_therapist_cannot_admit_anyone_once_consent_is_withdrawn(
    app: web.Application, client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    made = await schedule_session(client, csrf, kid.id)
    host = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await host.send({"type": "open_room", "session": made["id"]})
    await host.expect("room_opened")
    browser = await aiohttp_client(client.server)  # the young person's: no cookie
    young = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await young.send(join_message(join_token(made)))
    joined = await young.expect("joined")
    await young.expect("waiting")

    await withdraw_consent(app, kid.id)
    await host.send({"id": "let-in", "type": "admit", "participant": joined["you"]["id"]})
    refused = await host.expect("error", id="let-in")
    assert refused["code"] == "cannot_admit"
    assert "withdrawn consent" in refused["message"]
    await young.send({"type": "ping", "n": 1})
    await young.expect("pong", n=1)
    assert not [m for m in young.inbox if m["type"] in ("admitted", "peer_joined")]
    room = app[HUB].rooms.get(made["id"])
    assert room is not None
    assert [p.state for p in room.waiting()] == [State.WAITING]  # still waiting, still seen
    # the log keeps that they waited and could not come in
    entries = await app[SESSION_LOG].entries(session_stream(made["id"]))
    refusal = [e for e in entries if e.kind == "participant.not_admitted"]
    assert len(refusal) == 1 and refusal[0].details["role"] == "young_person"
    assert refusal[0].details["cause"] == "gate"
    await asyncio.gather(young.close(), host.close())
