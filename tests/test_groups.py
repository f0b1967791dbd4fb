"""Groups: a named set of a therapist's clients meeting in one room, each member with their
own join link and gate. The room opens for those whose gate is open; one member's flags,
plan and escalation are about that member alone and reach the therapist only."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import (
    DATABASE,
    ESCALATIONS,
    EXPORTS,
    GROUPS,
    RECORDS,
    RETENTION,
    SCHEDULE,
    SESSION_LOG,
)
from server.audit.sessionlog import session_stream
from server.care.clients import ClientView
from server.care.groups import NewGroup
from server.care.rhythm import NewSession
from server.exceptions import Forbidden
from server.storage.db import utcnow
from server.storage.models import Appointment, Client, Link
from server.storage.session_models import Escalation, JoinCheck
from tests.client import ProtocolPeer
from tests.conftest import Staff, make_staff, sign_in
from tests.factories import (
    join_message,
    new_client,
    ready_client,
    therapist_view,
    withdraw_consent,
)


async def _post(client: TestClient, csrf: str, path: str, body: Any) -> tuple[int, Any]:
    resp = await client.post(path, json=body, headers={"X-CSRF-Token": csrf})
    return resp.status, await resp.json()


class Group:
    def __init__(self, session: str, group: str, tokens: dict[tuple[str, str], str]) -> None:
        self.session, self.group, self.tokens = session, group, tokens

    def token(self, member: ClientView, role: str = "young_person") -> str:
        return self.tokens[(member.id, role)]


async def _group_session(
    client: TestClient, csrf: str, members: list[ClientView], parent_link: bool = True
) -> Group:
    status, group = await _post(
        client, csrf, "/api/groups", {"name": "Thursday group", "members": [m.id for m in members]}
    )
    assert status == 201, group
    starts = utcnow().isoformat()
    status, made = await _post(
        client,
        csrf,
        f"/api/groups/{group['id']}/sessions",
        {"starts_at": starts, "parent_link": parent_link},
    )
    assert status == 201, made
    tokens = {
        (link["client_id"], link["role"]): link["url"].rsplit("/join/", 1)[1]
        for link in made["join_links"]
    }
    return Group(made["id"], group["id"], tokens)


async def _joins(aiohttp_client, client: TestClient, token: str) -> ProtocolPeer:  # type: ignore[no-untyped-def]
    outsider = await aiohttp_client(client.server)  # a browser of their own: no cookies
    peer = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    await peer.send(join_message(token))
    return peer


async def _admitted(
    aiohttp_client, client: TestClient, therapist: ProtocolPeer, token: str
) -> tuple[ProtocolPeer, str]:  # type: ignore[no-untyped-def]
    peer = await _joins(aiohttp_client, client, token)
    pid = (await peer.expect("joined"))["you"]["id"]
    await therapist.send({"type": "admit", "participant": pid, "id": f"admit-{pid}"})
    await therapist.expect("done", id=f"admit-{pid}")
    await peer.expect("admitted")
    return peer, pid


@pytest.fixture
async def three(app: web.Application, client: TestClient, therapist: Staff):  # type: ignore[no-untyped-def]
    """Two members ready to join, a third whose parent has not consented."""
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    ash = await ready_client(app, ther, display_name="Ash")
    bo = await ready_client(app, ther, display_name="Bo")
    cal = await new_client(app, ther, display_name="Cal")  # no checklist, plan or consent
    return csrf, ash, bo, cal


async def test_a_group_is_a_few_of_the_therapists_own_clients(
    app: web.Application, client: TestClient, three: Any
) -> None:
    csrf, ash, bo, cal = three
    for body, why in (
        ({"name": "One", "members": [ash.id]}, "one member"),
        ({"name": "Twice", "members": [ash.id, ash.id]}, "the same member twice"),
        ({"name": "Many", "members": [ash.id, bo.id, cal.id, "a" * 32, "b" * 32, "c" * 32]}, "six"),
        ({"name": "x" * 10_000, "members": [ash.id, bo.id]}, "a 10 KB name"),
        ({"name": "  ", "members": [ash.id, bo.id]}, "no name"),
    ):
        status, answer = await _post(client, csrf, "/api/groups", body)
        assert status == 400, why
        assert answer["error"]["message"], why
    other = await therapist_view(app, (await make_staff(app, "therapist.two")).username)
    with pytest.raises(Forbidden):  # not their clients
        await app[GROUPS].create(other, NewGroup(name="Theirs", members=[ash.id, bo.id]))
    status, made = await _post(
        client, csrf, "/api/groups", {"name": "Thursday", "members": [ash.id, bo.id, cal.id]}
    )
    assert status == 201
    assert sorted(m["name"] for m in made["members"]) == ["Ash", "Bo", "Cal"]
    with pytest.raises(Forbidden):  # nor see it, nor schedule it
        await app[GROUPS].get(other, made["id"])
    with pytest.raises(Forbidden):
        await app[GROUPS].schedule_session(other, made["id"], NewSession(starts_at=utcnow()))


@pytest.mark.hazard("HZ-33")
async def test_each_member_comes_in_through_their_own_gate(
    app: web.Application, aiohttp_client, client: TestClient, three: Any, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    csrf, ash, bo, cal = three
    group = await _group_session(client, csrf, [ash, bo, cal])
    # the therapist sees who may join and why not
    ready = await (await client.get(f"/api/groups/{group.group}")).json()
    may = {m["name"]: m["may_join"] for m in ready["members"]}
    assert may == {"Ash": True, "Bo": True, "Cal": False}
    cal_reasons = next(m["reasons"] for m in ready["members"] if m["name"] == "Cal")
    assert any(r["code"].startswith("consent") for r in cal_reasons)
    # the session's page offers Cal no link, and says why
    page = await (await client.get(f"/sessions/{group.session}")).text()
    assert page.count("Copy link") == 4  # Ash's and Bo's, each with a parent's
    assert "Cannot join yet" in page
    host = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await host.send({"type": "open_room", "session": group.session})
    await host.expect("room_opened")
    # two young people and a parent, admitted one by one, each named for the therapist
    ash_peer, _ = await _admitted(aiohttp_client, client, host, group.token(ash))
    bo_peer, _ = await _admitted(aiohttp_client, client, host, group.token(bo))
    parent, _ = await _admitted(aiohttp_client, client, host, group.token(ash, "parent"))
    lobby = next(m for m in reversed(host.inbox) if m["type"] == "lobby")
    named = {p["name"] for p in lobby["present"] if p["role"] != "therapist"}
    assert named == {"Ash", "Bo", "Parent or carer of Ash"}
    # Cal's own gate refuses Cal (a link made, never offered), before any answer is kept
    ther = await therapist_view(app, therapist.username)
    links = await app[SCHEDULE].join_links(ther, group.session)
    cal_token = next(
        j.token for j in links if j.link.client_id == cal.id and j.link.role == "young_person"
    )
    cal_peer = await _joins(aiohttp_client, client, cal_token)
    refused = await cal_peer.expect("error")
    assert refused["code"] == "cannot_start"
    assert not [m for m in cal_peer.inbox if m["type"] in ("joined", "waiting")]
    # the log says each came in; Cal's refusal is not logged (a link could flood it)
    kinds = [e.kind for e in await app[SESSION_LOG].entries(session_stream(group.session))]
    assert kinds.count("participant.admitted") == 3
    await asyncio.gather(*(p.close() for p in (host, ash_peer, bo_peer, parent, cal_peer)))


@pytest.mark.hazard("HZ-33")
async def test_a_member_whose_gate_closes_cannot_be_admitted(
    app: web.Application, aiohttp_client, client: TestClient, three: Any
) -> None:  # type: ignore[no-untyped-def]
    """Consent withdrawn between sessions: that member waits, and the therapist cannot let
    them in; the others are not touched."""
    csrf, ash, bo, _ = three
    group = await _group_session(client, csrf, [ash, bo])
    therapist_peer = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await therapist_peer.send({"type": "open_room", "session": group.session})
    await therapist_peer.expect("room_opened")
    bo_peer = await _joins(aiohttp_client, client, group.token(bo))
    bo_id = (await bo_peer.expect("joined"))["you"]["id"]
    await withdraw_consent(app, bo.id)
    app[SCHEDULE].recheck_seconds = 0  # the gate asked again at the next step
    await therapist_peer.send({"type": "admit", "participant": bo_id})
    refused = await therapist_peer.expect("error")
    assert refused["code"] == "cannot_admit"
    ash_peer, _ = await _admitted(aiohttp_client, client, therapist_peer, group.token(ash))
    await asyncio.gather(therapist_peer.close(), bo_peer.close(), ash_peer.close())


@pytest.mark.hazard("HZ-33")
async def test_one_members_flag_and_plan_reach_only_the_therapist(
    app: web.Application, aiohttp_client, client: TestClient, three: Any, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    csrf, ash, bo, _ = three
    group = await _group_session(client, csrf, [ash, bo], parent_link=False)
    host = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await host.send({"type": "open_room", "session": group.session})
    await host.expect("room_opened")
    ash_peer, ash_id = await _admitted(aiohttp_client, client, host, group.token(ash))
    bo_peer, bo_id = await _admitted(aiohttp_client, client, host, group.token(bo))
    lobby = next(m for m in reversed(host.inbox) if m["type"] == "lobby")
    host_id = next(p["id"] for p in lobby["present"] if p["role"] == "therapist")
    await bo_peer.send(
        {"type": "chat", "text": "can I talk to you after", "to": host_id, "id": "c"}
    )
    await bo_peer.expect("chat", id="c")
    await bo_peer.send({"type": "flag", "kind": "not_private", "id": "f"})
    await bo_peer.expect("done", id="f")
    flag = await host.expect("flag")
    assert flag["from"] == bo_id and flag["kind"] == "not_private"
    plan = await host.expect("plan")
    assert plan["participant"] == bo_id and plan["case"] == "not_private"
    # Ash's page hears nothing of it: a ping answered proves everything before it arrived
    await ash_peer.send({"type": "ping", "n": 1})
    await ash_peer.expect("pong")
    assert not [m for m in ash_peer.inbox if m["type"] in ("flag", "plan")]
    assert not [m for m in bo_peer.inbox if m["type"] == "plan"]
    # the quick exit likewise starts that member's plan, about them only
    await ash_peer.send({"type": "flag", "kind": "quick_exit", "id": "q"})
    await ash_peer.expect("done", id="q")
    quick = await host.expect("plan", case="quick_exit")
    assert quick["participant"] == ash_id
    await bo_peer.send({"type": "ping", "n": 2})
    await bo_peer.expect("pong")
    assert not [m for m in bo_peer.inbox if m["type"] in ("flag", "plan")]
    # the supervisor reading the record later sees which member flagged what
    ther = await therapist_view(app, therapist.username)
    record = await app[RECORDS].record(ther, group.session)
    flagged = [line.text for line in record.lines if line.kind == "flag.raised"]
    assert len(flagged) == 2 and "(Bo)" in flagged[0] and "(Ash)" in flagged[1]
    assert [(c.who, c.text) for c in record.chat] == [("Bo", "can I talk to you after")]
    await asyncio.gather(host.close(), ash_peer.close(), bo_peer.close())


@pytest.mark.hazard("HZ-33")
async def test_an_escalation_in_a_group_is_about_one_member(
    app: web.Application, aiohttp_client, client: TestClient, three: Any
) -> None:  # type: ignore[no-untyped-def]
    csrf, ash, bo, _ = three
    group = await _group_session(client, csrf, [ash, bo], parent_link=False)
    therapist = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await therapist.send({"type": "open_room", "session": group.session})
    await therapist.expect("room_opened")
    ash_peer, _ = await _admitted(aiohttp_client, client, therapist, group.token(ash))
    bo_peer, bo_id = await _admitted(aiohttp_client, client, therapist, group.token(bo))
    # without saying whom it is about, refused in words
    await therapist.send({"type": "escalate", "concern": "risk_to_self"})
    assert "Choose the young person" in (await therapist.expect("error"))["message"]
    # Bo leaves by the quick exit: the concern can still be about Bo
    await bo_peer.send({"type": "flag", "kind": "quick_exit", "id": "q"})
    await bo_peer.expect("done", id="q")
    await bo_peer.send({"type": "leave", "id": "bye"})
    await therapist.expect("peer_left", participant=bo_id)
    await therapist.send({"type": "escalate", "concern": "risk_to_self", "about": bo_id})
    info = (await therapist.expect("escalation"))["escalation"]
    assert info["client_name"] == "Bo"
    async with app[DATABASE].read() as db:
        row = await db.scalar(sa.select(Escalation))
    assert row is not None and row.client_id == bo.id
    view = await app[ESCALATIONS].view(row.id)
    assert view.client_name == "Bo"
    await asyncio.gather(therapist.close(), ash_peer.close(), bo_peer.close())


async def test_a_group_session_is_for_the_group_not_one_client(
    app: web.Application, client: TestClient, three: Any
) -> None:
    """Its row names the group; neither member's box holds its board; scenes are refused
    in words; e-mailed invitations are not offered."""
    csrf, ash, bo, _ = three
    group = await _group_session(client, csrf, [ash, bo], parent_link=False)
    async with app[DATABASE].read() as db:
        row = await db.get(Appointment, group.session)
    assert row is not None and row.client_id is None and row.group_id == group.group
    status, body = await _post(
        client, csrf, f"/api/sessions/{group.session}/scenes", {"name": "Our tray"}
    )
    assert status == 400 and "group's board" in body["error"]["message"]
    box = await (await client.get(f"/clients/{ash.id}/box")).text()
    assert group.session not in box
    page = await (await client.get(f"/groups/{group.group}")).text()
    assert "Ash" in page and "Bo" in page and f"/sessions/{group.session}" in page


@pytest.mark.hazard("HZ-33")
async def test_a_members_export_holds_their_own_and_not_the_others(
    app: web.Application, client: TestClient, three: Any, therapist: Staff
) -> None:
    csrf, ash, bo, _ = three
    group = await _group_session(client, csrf, [ash, bo], parent_link=False)
    ther = await therapist_view(app, therapist.username)
    links = {j.link.client_id: j.link for j in await app[SCHEDULE].join_links(ther, group.session)}
    schedule = app[SCHEDULE]
    await schedule.save_join_checks(group.session, links[ash.id].id, {"where.place": "home"})
    await schedule.save_join_checks(group.session, links[bo.id].id, {"where.place": "school"})
    document = await app[EXPORTS].client(ash.id, "system")
    tables = document["tables"]
    assert [g["id"] for g in tables["groups"]] == [group.group]
    assert "Thursday group" not in str(tables)  # its name may name the others
    assert {m["client_id"] for m in tables["group_members"]} == {ash.id}
    assert {row["client_id"] for row in tables["links"]} == {ash.id}
    answers = [str(row["answers"]) for row in tables["join_checks"]]
    assert len(answers) == 1 and "home" in answers[0] and "school" not in str(tables)
    # the group's session (everyone's board, chat and log) is not in one member's export
    assert group.session not in {a["id"] for a in tables["appointments"]}
    # deleting one member's record leaves the group to the other; the last takes it along
    from collections import Counter

    from server.records.retention import delete_client, delete_empty_groups

    counts: Counter[str] = Counter()
    async with app[DATABASE].session() as db:
        await delete_client(db, ash.id, counts)
        assert await delete_empty_groups(db, counts) == []
    async with app[DATABASE].read() as db:
        assert await db.get(Appointment, group.session) is not None
    async with app[DATABASE].session() as db:
        await delete_client(db, bo.id, counts)
        gone = await delete_empty_groups(db, counts)
    assert session_stream(group.session) in gone
    async with app[DATABASE].read() as db:
        assert await db.get(Appointment, group.session) is None
        assert not list(
            await db.scalars(sa.select(Link).where(Link.appointment_id == group.session))
        )


async def test_a_group_session_is_cancelled_but_not_moved(
    app: web.Application, client: TestClient, three: Any
) -> None:
    csrf, ash, bo, _ = three
    group = await _group_session(client, csrf, [ash, bo], parent_link=False)
    later = (utcnow() + timedelta(days=2)).isoformat()
    status, body = await _post(
        client, csrf, f"/api/sessions/{group.session}/move", {"starts_at": later}
    )
    assert status == 400 and "cancel it and schedule another" in body["error"]["message"]
    async with app[DATABASE].read() as db:  # nothing was changed: its links still work
        links = list(await db.scalars(sa.select(Link).where(Link.appointment_id == group.session)))
    assert links and all(link.revoked_at is None for link in links)
    status, body = await _post(
        client, csrf, f"/api/sessions/{group.session}/cancel", {"reason": "Half term"}
    )
    assert status == 200, body
    async with app[DATABASE].read() as db:
        links = list(await db.scalars(sa.select(Link).where(Link.appointment_id == group.session)))
    assert all(link.revoked_at is not None for link in links)


@pytest.mark.hazard("HZ-33")
async def test_one_members_link_cannot_act_for_another(
    app: web.Application, aiohttp_client, client: TestClient, three: Any
) -> None:  # type: ignore[no-untyped-def]
    """A link names one member: on a second device it is refused (the therapist is told),
    and the page holding it cannot let anyone in, nor escalate about anyone."""
    csrf, ash, bo, _ = three
    group = await _group_session(client, csrf, [ash, bo], parent_link=False)
    host = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await host.send({"type": "open_room", "session": group.session})
    await host.expect("room_opened")
    ash_peer, _ = await _admitted(aiohttp_client, client, host, group.token(ash))
    bo_peer = await _joins(aiohttp_client, client, group.token(bo))
    bo_id = (await bo_peer.expect("joined"))["you"]["id"]
    again = await _joins(aiohttp_client, client, group.token(ash))  # Ash's link, elsewhere
    assert (await again.expect("error"))["code"] == "link_in_use"
    told = (await host.expect("notice", code="second_device"))["message"]
    assert "with Ash's link on a second device" in told
    await ash_peer.send({"type": "admit", "participant": bo_id})
    assert (await ash_peer.expect("error"))["code"] in ("refused", "forbidden")
    await ash_peer.send({"type": "escalate", "concern": "risk_to_self", "about": bo_id})
    assert (await ash_peer.expect("error"))["code"] in ("refused", "forbidden")
    lobby = next(m for m in reversed(host.inbox) if m["type"] == "lobby")
    assert [p["name"] for p in lobby["waiting"]] == ["Bo"]  # still waiting: nobody let Bo in
    await asyncio.gather(host.close(), ash_peer.close(), bo_peer.close(), again.close())


@pytest.mark.hazard("HZ-33")
async def test_each_members_answers_in_a_group_go_after_a_week_unless_their_record_is_held(
    app: web.Application, client: TestClient, three: Any, therapist: Staff
) -> None:
    csrf, ash, bo, _ = three
    group = await _group_session(client, csrf, [ash, bo], parent_link=False)
    ther = await therapist_view(app, therapist.username)
    links = {j.link.client_id: j.link for j in await app[SCHEDULE].join_links(ther, group.session)}
    for member in (ash, bo):
        await app[SCHEDULE].save_join_checks(group.session, links[member.id].id, {"where": "home"})
    async with app[DATABASE].session() as db:
        row = await db.get(Appointment, group.session)
        assert row is not None
        row.starts_at = row.ends_at = utcnow() - timedelta(days=30)
        held = await db.get(Client, bo.id)
        assert held is not None
        held.retention_hold = True
    await app[RETENTION].purge()
    async with app[DATABASE].read() as db:
        kept = set(await db.scalars(sa.select(JoinCheck.link_id)))
    assert kept == {links[bo.id].id}  # Ash's went after the week; Bo's record is held


async def test_a_group_sessions_pages(
    app: web.Application, client: TestClient, three: Any, therapist: Staff
) -> None:
    """The room, closed for every member, lists each with what is missing; a withdrawn link
    is made again for its member; a cancellation without a reason comes back with the fault,
    and with one it stops every link."""
    csrf, ash, bo, cal = three
    ther = await therapist_view(app, therapist.username)
    dee = await _another(app, ther)
    closed = await app[GROUPS].create(ther, NewGroup(name="Closed", members=[cal.id, dee]))
    made = await app[GROUPS].schedule_session(ther, closed.id, NewSession(starts_at=utcnow()))
    page = await (await client.get(f"/sessions/{made.id}/room")).text()
    assert "The room cannot open yet" in page and page.count("cannot join yet") == 2
    group = await _group_session(client, csrf, [ash, bo], parent_link=False)
    links = {j.link.client_id: j.link for j in await app[SCHEDULE].join_links(ther, group.session)}
    resp = await client.post(f"/links/{links[bo.id].id}/revoke", data={"csrf_token": csrf})
    assert resp.status == 200
    page = await (await client.get(f"/sessions/{group.session}")).text()
    assert "Make a new link for Bo" in page
    resp = await client.post(
        f"/sessions/{group.session}/links/young_person", data={"csrf_token": csrf, "member": bo.id}
    )
    assert resp.status == 200
    fresh = [
        j for j in await app[SCHEDULE].join_links(ther, group.session) if j.link.client_id == bo.id
    ]
    assert [j.link.revoked_at is None for j in fresh] == [False, True]
    resp = await client.post(
        f"/sessions/{group.session}/cancel", data={"csrf_token": csrf, "reason": ""}
    )
    assert resp.status == 400 and "Not cancelled yet" in await resp.text()
    resp = await client.post(
        f"/sessions/{group.session}/cancel", data={"csrf_token": csrf, "reason": "Half term"}
    )
    assert resp.status == 200 and "Why: Half term" in await resp.text()


async def _another(app: web.Application, therapist: Any) -> str:
    return (await new_client(app, therapist, display_name="Dee")).id
