"""Dropped connections: places held for a grace window, resume tokens, and loss."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import DATABASE, HUB, WHITEBOARDS
from server.settings import Settings
from server.storage.session_models import Place
from tests.client import ProtocolPeer
from tests.factories import join_message
from tests.scenes import Room, admitted, join_token, schedule_session
from tests.test_webrtc import FRAMES

GRACE = 3.0  # long enough for ten resumes at once on a busy machine


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"reconnect_grace_seconds": GRACE})


async def test_a_dropped_young_person_comes_straight_back(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    young, joined = await admitted(aiohttp_client, client, room)
    yid, tid = joined["you"]["id"], therapist.me["id"]  # type: ignore[index]
    await young.wait_for(lambda: young.decoded(tid) >= FRAMES)
    await young.close()  # the connection drops: no goodbye
    state = await therapist.expect("peer_state", participant=yid)
    assert state["state"] == "interrupted"

    outsider = await aiohttp_client(client.server)
    back = ProtocolPeer(await outsider.ws_connect("/ws"))
    await back.send({"type": "resume", "token": joined["resume"]})
    resumed = await back.expect("resumed")
    assert resumed["you"]["id"] == yid and resumed["resume"] != joined["resume"]
    assert (await therapist.expect("peer_state", participant=yid))["state"] == "reconnected"
    assert [p["id"] for p in resumed["present"]] == [tid]  # straight back in: no waiting room
    await back.wait_for(lambda: back.decoded(tid) >= FRAMES)
    await therapist.wait_for(lambda: therapist.decoded(yid) >= FRAMES)

    # the old token was replaced: replaying it is refused, live place or not
    stranger = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"))
    await stranger.send({"type": "resume", "token": joined["resume"]})
    assert (await stranger.expect("error"))["code"] == "bad_resume"
    await asyncio.gather(back.close(), stranger.close())


async def test_not_back_within_the_grace_window_is_lost(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    young, joined = await admitted(aiohttp_client, client, room)
    await young.close()
    yid = joined["you"]["id"]
    await therapist.expect("peer_state", participant=yid, state="interrupted")
    lost = await therapist.expect("peer_state", participant=yid, state="lost", within=GRACE + 5)
    assert lost["role"] == "young_person"
    late = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"))
    await late.send({"type": "resume", "token": joined["resume"]})
    assert (await late.expect("error"))["code"] == "bad_resume"
    # the link itself still works: they can join again through the waiting room
    await late.send(join_message(room.token))
    await late.expect("joined")
    await late.expect("waiting")
    await late.close()


@pytest.mark.hazard("HZ-04")
async def test_the_therapist_resumes_with_their_cookie(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    young, _ = await admitted(aiohttp_client, client, room)
    tid = therapist.me["id"]  # type: ignore[index]
    resume = therapist.opened["resume"]  # type: ignore[attr-defined]
    await therapist.close()
    await young.expect("peer_state", participant=tid, state="interrupted")
    outsider = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"))
    await outsider.send({"type": "resume", "token": resume})
    assert (await outsider.expect("error"))["code"] == "bad_resume"  # no staff cookie
    back = ProtocolPeer(await client.ws_connect("/ws"))
    await back.send({"type": "resume", "token": resume})
    await back.expect("resumed")
    assert (await young.expect("peer_state", participant=tid))["state"] == "reconnected"
    await back.wait_for(lambda: len(back.pcs) == 1)
    await asyncio.gather(young.close(), outsider.close(), back.close())


@pytest.mark.hazard("HZ-01")
async def test_a_lost_young_person_starts_the_plan_and_its_steps_are_recorded(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from server.appkeys import DATABASE
    from server.storage.session_models import PlanStep

    therapist = room.therapist
    young, joined = await admitted(aiohttp_client, client, room)
    await young.close()
    plan = await therapist.expect("plan", within=GRACE + 5)
    assert plan["case"] == "lost" and plan["participant"] == joined["you"]["id"]
    steps = {step["id"]: step for step in plan["steps"]}
    assert list(steps)[0] == "wait"
    assert steps["ring_parent"]["phone"] == "07700 900123"  # from the agreed plan
    assert steps["ring_parent"]["after_seconds"] == 5 * 60
    for step, outcome in (("wait", "done"), ("ring_parent", "no_answer"), ("escalate", "reached")):
        await therapist.send(
            {"type": "plan_step", "case": "lost", "step": step, "outcome": outcome}
        )
        assert (await therapist.expect("plan_recorded", step=step))["outcome"] == outcome
    async with app[DATABASE].session() as session:
        rows = (await session.scalars(select(PlanStep).order_by(PlanStep.created_at))).all()
    assert [(r.step, r.outcome) for r in rows] == [
        ("wait", "done"),
        ("ring_parent", "no_answer"),
        ("escalate", "reached"),
    ]


@pytest.mark.hazard("HZ-01", "HZ-11")
async def test_not_private_and_leaving_start_their_own_plans(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    young, _ = await admitted(aiohttp_client, client, room)
    await young.send({"type": "flag", "kind": "not_private"})
    flag = await therapist.expect("flag")
    assert flag["kind"] == "not_private"
    plan = await therapist.expect("plan", case="not_private")
    assert plan["steps"][0]["id"] == "agreed"
    await young.send({"type": "plan_step", "case": "lost", "step": "wait", "outcome": "done"})
    assert "Only the therapist" in (await young.expect("error"))["message"]
    await young.send({"type": "leave"})
    assert (await therapist.expect("plan", case="left"))["steps"][0]["id"] == "wait"
    await young.close()


async def test_a_reconnect_storm_is_absorbed(
    app: web.Application, aiohttp_client, client: TestClient, therapist
) -> None:  # type: ignore[no-untyped-def]
    """Ten rooms lose their young people at the same moment; all come straight back."""

    from tests.conftest import sign_in
    from tests.factories import ready_client, therapist_view

    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    rooms = []
    for n in range(10):
        kid = await ready_client(app, ther, display_name=f"Kid {n}")
        made = await schedule_session(client, csrf, kid.id)
        host = ProtocolPeer(await client.ws_connect("/ws"), media=False)
        await host.send({"type": "open_room", "session": made["id"]})
        await host.expect("room_opened")
        token = join_token(made)
        young = ProtocolPeer(
            await (await aiohttp_client(client.server)).ws_connect("/ws"), media=False
        )
        await young.send(join_message(token))
        joined = await young.expect("joined")
        await host.send({"type": "admit", "participant": joined["you"]["id"]})
        await young.expect("admitted")
        rooms.append((host, young, joined))

    await asyncio.gather(*(young.close() for _, young, _ in rooms))  # all drop at once
    for host, _, joined in rooms:
        await host.expect("peer_state", participant=joined["you"]["id"], state="interrupted")

    async def come_back(joined: dict) -> ProtocolPeer:  # type: ignore[type-arg]
        peer = ProtocolPeer(
            await (await aiohttp_client(client.server)).ws_connect("/ws"), media=False
        )
        await peer.send({"type": "resume", "token": joined["resume"]})
        assert (await peer.expect("resumed"))["present"]
        return peer

    back = await asyncio.gather(*(come_back(joined) for _, _, joined in rooms))
    for host, _, joined in rooms:
        await host.expect("peer_state", participant=joined["you"]["id"], state="reconnected")
    await asyncio.gather(*(p.close() for p in back), *(host.close() for host, _, _ in rooms))


@pytest.mark.hazard("HZ-04")
async def test_the_therapist_gets_back_in_without_a_token_and_ending_over_http_ends_the_room(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    young, joined = await admitted(aiohttp_client, client, room)
    await room.therapist.close()  # the page was reloaded: its token is gone
    await young.expect("peer_state", state="interrupted")
    again = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await again.send({"type": "open_room", "session": room.session})
    assert (await again.expect("room_opened"))["you"]["role"] == "therapist"
    # the session ended from its page: the live room ends too, and resuming is refused
    from tests.conftest import csrf_from

    token = csrf_from(await (await client.get("/")).text())
    resp = await client.post(f"/api/sessions/{room.session}/end", headers={"X-CSRF-Token": token})
    assert resp.status == 200
    await young.expect("room_ended")
    back = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"), media=False)
    await back.send({"type": "resume", "token": joined["resume"]})
    assert (await back.expect("error"))["code"] == "bad_resume"
    await asyncio.gather(young.close(), again.close(), back.close())


@pytest.mark.hazard("HZ-02")
async def test_a_withdrawn_link_cannot_resume(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    from server.appkeys import SCHEDULE, SESSION_LOG
    from server.audit.sessionlog import session_stream
    from tests.conftest import csrf_from

    young, joined = await admitted(aiohttp_client, client, room)
    link, _ = await app[SCHEDULE].by_join_token(room.token)
    await young.close()
    await room.therapist.expect("peer_state", state="interrupted")
    csrf = csrf_from(await (await client.get("/")).text())
    withdrawn = await client.post(
        f"/links/{link.id}/revoke", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert withdrawn.status == 303  # the therapist's "Withdraw link" button
    entries = await app[SESSION_LOG].entries(session_stream(room.session))
    assert entries[-1].kind == "link.revoked" and entries[-1].details["role"] == "young_person"
    back = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"), media=False)
    await back.send({"type": "resume", "token": joined["resume"]})
    assert (await back.expect("error"))["code"] == "bad_resume"
    await back.close()


async def test_an_ended_room_holds_no_place_and_leaves_memory(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    young, joined = await admitted(aiohttp_client, client, room)
    hub = app[HUB]
    assert len(hub.resumable) == 2
    await room.therapist.send({"type": "end_room"})
    await young.expect("room_ended")
    await young.wait_for(lambda: young.ws.closed)  # closed once the room is let go
    assert hub.resumable == {} and hub.rooms.by_session == {}
    assert app[WHITEBOARDS].boards == {}
    async with app[DATABASE].session() as session:
        assert (await session.scalar(sa.select(sa.func.count()).select_from(Place))) == 0
    # and the token of an ended room resumes nothing
    again = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"))
    await again.send({"type": "resume", "token": joined["resume"]})
    assert (await again.expect("error"))["code"] == "bad_resume"
    await again.close()


async def test_a_forged_resume_token_is_refused_and_the_place_is_kept(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    import secrets

    young, joined = await admitted(aiohttp_client, client, room)
    yid, real = joined["you"]["id"], joined["resume"]
    await young.close()
    await room.therapist.expect("peer_state", participant=yid, state="interrupted")
    held = dict(app[HUB].resumable)
    changed = real[:-1] + ("A" if real[-1] != "A" else "B")
    stranger = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"))
    for forged in (secrets.token_urlsafe(32), changed, real + "A", real[1:]):
        await stranger.send({"type": "resume", "token": forged})
        assert (await stranger.expect("error"))["code"] == "bad_resume", forged
    await stranger.send({"type": "resume", "token": "short"})
    assert (await stranger.expect("error"))["code"] == "bad_message"
    assert app[HUB].resumable == held  # nothing changed: the place waits for its token
    await stranger.send({"type": "resume", "token": real})
    assert (await stranger.expect("resumed"))["you"]["id"] == yid
    await stranger.close()


async def test_a_therapists_resume_token_needs_the_therapists_sign_in(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    tid = therapist.me["id"]  # type: ignore[index]
    real = therapist.opened["resume"]  # type: ignore[attr-defined]
    young, _ = await admitted(aiohttp_client, client, room)
    # across rooms: a connection already in one cannot take another place
    await young.send({"type": "resume", "token": real})
    assert (await young.expect("error"))["code"] == "already_joined"
    await therapist.close()
    await young.expect("peer_state", participant=tid, state="interrupted")
    # across roles: the therapist's token on a connection without their sign-in
    outsider = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"))
    await outsider.send({"type": "resume", "token": real})
    error = await outsider.expect("error")
    assert error["code"] == "bad_resume" and "Sign in again" in error["message"]
    # nothing changed: the therapist, signed in, comes back with the same token
    back = ProtocolPeer(await client.ws_connect("/ws"))
    await back.send({"type": "resume", "token": real})
    assert (await back.expect("resumed"))["you"]["id"] == tid
    await asyncio.gather(young.close(), outsider.close(), back.close())
