"""Escalation during a session: what the therapist sees at once, the supervisor's live
alert, acknowledgement and closing; and who may not."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from server.appkeys import ACCOUNTS, ESCALATIONS, HUB, ROTA
from server.care.notify import SIGNATURE_HEADER, sign
from server.settings import Settings
from server.storage.models import Role
from tests.client import ProtocolPeer
from tests.conftest import PASSWORD, make_staff, sign_in
from tests.factories import join_message, pre_join_answers
from tests.scenes import Room, join_with


async def _dashboard(
    app: web.Application,
    aiohttp_client,
    client: TestClient,
    username: str,
    team: bool,
    on_shift: bool = False,
) -> ProtocolPeer:  # type: ignore[no-untyped-def]
    staff = await make_staff(app, username, Role.SUPERVISOR)
    if team:
        await app[ACCOUNTS].supervise(username, "therapist.one")
    if on_shift:
        await app[ROTA].press((await app[ACCOUNTS].find(username)).id, True)
    browser = await aiohttp_client(client.server)
    await sign_in(browser, staff)
    peer = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await peer.send({"type": "watch"})
    return peer


@pytest.mark.hazard("HZ-05")
async def test_an_escalation_reaches_the_supervisor_and_is_acknowledged_and_closed(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    young = await join_with(aiohttp_client, client, room.token, **{"where.place": "school"})
    yid = (await young.expect("joined"))["you"]["id"]
    await therapist.send({"type": "admit", "participant": yid})
    await young.expect("admitted")
    # a parent joining from elsewhere must not be taken for where the young person is
    parent = await join_with(
        aiohttp_client, client, room.parent_token, **{"where.place": "somewhere_else"}
    )
    await parent.expect("joined")
    supervisor = await _dashboard(app, aiohttp_client, client, "sup", team=True, on_shift=True)
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
    assert info["reached"] == "Alerted, on shift: Sup."  # who it reached, by name
    alert = await supervisor.expect("escalation_alert", within=5)
    assert alert["escalation"]["id"] == info["id"] and alert["therapist"] == "Therapist.One"

    # a supervisor outside the team is neither told nor allowed to acknowledge
    await outsider.send({"type": "acknowledge", "escalation": info["id"]})
    assert (await outsider.expect("error"))["code"] == "refused"
    assert not any(m["type"] == "escalation_alert" for m in outsider.inbox)

    await supervisor.send({"type": "acknowledge", "escalation": info["id"]})
    update = await therapist.expect("escalation_update")
    assert update["escalation"]["status"] == "acknowledged"
    await therapist.send(
        {"type": "close_escalation", "escalation": info["id"], "note": "Rang mum; she is home."}
    )

    def closed_for(peer: ProtocolPeer) -> bool:
        return any(
            m["type"] == "escalation_update" and m["escalation"]["status"] == "closed"
            for m in peer.inbox
        )

    await therapist.wait_for(lambda: closed_for(therapist))
    await supervisor.wait_for(lambda: closed_for(supervisor))
    events = await app[ESCALATIONS].events(info["id"])
    assert [kind for kind, _, _ in events] == ["raised", "alerted", "acknowledged", "closed"]
    assert events[0][2] <= events[1][2] <= events[2][2]
    await asyncio.gather(young.close(), parent.close(), supervisor.close(), outsider.close())


@pytest.mark.hazard("HZ-05")
async def test_a_dashboard_opened_later_sees_what_is_still_open(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    await room.therapist.send({"type": "escalate", "concern": "unreachable"})
    await room.therapist.expect("escalation")
    supervisor = await _dashboard(app, aiohttp_client, client, "late.sup", team=True)
    alert = await supervisor.expect("escalation_alert", within=5)
    assert alert["escalation"]["concern"] == "unreachable"
    await supervisor.close()


class _Inbox:
    """An SMTP server on loopback (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str]] = []
        self.arrived = threading.Condition()  # the SMTP server runs in its own thread

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
        with self.arrived:
            self.messages.append((list(envelope.rcpt_tos), envelope.content.decode()))
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.messages) >= count, timeout)


@pytest.fixture
def mail_and_hook(unused_tcp_port_factory):  # type: ignore[no-untyped-def]
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    port = unused_tcp_port_factory()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port, unused_tcp_port_factory()
    controller.stop()


@pytest.fixture
def settings(settings: Settings, mail_and_hook) -> Settings:  # type: ignore[no-untyped-def]
    _, smtp_port, hook_port = mail_and_hook
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "escalation_repeat_seconds": 0.5,
            "webhook_url": f"http://127.0.0.1:{hook_port}/hook",
            "webhook_secret": SecretStr("hook-secret"),
        }
    )


@pytest.mark.hazard("HZ-05")
async def test_alerts_go_by_mail_and_webhook_and_repeat_down_the_rota(
    app: web.Application, aiohttp_client, client: TestClient, room: Room, mail_and_hook
) -> None:  # type: ignore[no-untyped-def]
    inbox, _, hook_port = mail_and_hook
    received: list[tuple[dict[str, object], str]] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        received.append((json.loads(body), request.headers.get(SIGNATURE_HEADER, "")))
        assert request.headers[SIGNATURE_HEADER] == sign("hook-secret", body)
        return web.Response(text="ok")

    hook_app = web.Application()
    hook_app.router.add_post("/hook", hook)
    runner = web.AppRunner(hook_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", hook_port).start()
    accounts = app[ACCOUNTS]
    for name in ("ann.sup", "bob.sup"):
        await accounts.create(name, name, Role.SUPERVISOR, PASSWORD, email=f"{name}@example.org")
        await accounts.supervise(name, "therapist.one")
    await app[ROTA].press((await accounts.find("ann.sup")).id, True)  # Ann is on shift
    first, second = "ann.sup@example.org", "bob.sup@example.org"  # on shift, then off

    await room.therapist.send({"type": "escalate", "concern": "medical_emergency"})
    info = (await room.therapist.expect("escalation"))["escalation"]
    assert await asyncio.to_thread(inbox.wait_for, 2)  # raised, then repeated down the rota
    assert inbox.messages[0][0] == [first] and inbox.messages[1][0] == [second]
    assert "Medical emergency" in inbox.messages[0][1]
    assert (
        "07700" not in inbox.messages[0][1] and "Sky" not in inbox.messages[0][1]
    )  # nothing personal

    sup = await make_staff(app, "cat.sup", Role.SUPERVISOR)
    await accounts.supervise("cat.sup", "therapist.one")
    browser = await aiohttp_client(client.server)
    await sign_in(browser, sup)
    dashboard = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await dashboard.send({"type": "acknowledge", "escalation": info["id"]})
    await room.therapist.wait_for(
        lambda: any(
            m["type"] == "escalation_update" and m["escalation"]["status"] == "acknowledged"
            for m in room.therapist.inbox
        )
    )
    # the repeating stopped with the acknowledgement
    assert await app[ESCALATIONS].repeats.pending(info["id"]) is None
    kinds = [kind for kind, _, _ in await app[ESCALATIONS].events(info["id"])]
    assert kinds[:2] == ["raised", "alerted"] and "alerted_off_shift" in kinds
    assert kinds[-1] == "acknowledged"
    events = [event["event"] for event, _ in received]
    assert events[0] == "escalation_raised" and "escalation_acknowledged" in events
    await dashboard.close()
    await runner.cleanup()


@pytest.mark.hazard("HZ-05")
async def test_a_young_person_says_where_they_are_before_joining(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    """An escalation shows where the young person said they are today, so the server does
    not let them in without saying it, whatever their page let through; a parent or carer's
    join is not asked the young person's questions."""
    outsider = await aiohttp_client(client.server)
    young = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    answers = pre_join_answers()
    del answers["where.place"]
    await young.send({"type": "join", "token": room.token, "checks": answers})
    refused = await young.expect("error")
    assert refused["code"] == "missing_checks" and "Where are you today?" in refused["message"]
    blank = {**answers, "where.place": ""}
    await young.send({"type": "join", "token": room.token, "checks": blank})
    assert (await young.expect("error"))["code"] == "bad_checks"  # blank is not a place
    assert not app[HUB].rooms.get(room.session).waiting()  # nobody waits, nothing held
    await young.send(join_message(room.token))  # the same page, every question answered
    await young.expect("joined")
    await room.therapist.expect("notice", code="checks")
    parent_browser = await aiohttp_client(client.server)
    parent = ProtocolPeer(await parent_browser.ws_connect("/ws"), media=False)
    await parent.send({"type": "join", "token": room.parent_token})
    assert (await parent.expect("joined"))["you"]["role"] == "parent"
    await asyncio.gather(young.close(), parent.close())
