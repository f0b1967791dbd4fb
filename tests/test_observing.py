"""A supervisor observing a session: announced to everyone, allowed only by the plan's
recorded agreement and only for the therapist's own supervisors; joining and leaving logged."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection

from server.appkeys import ACCOUNTS, CATALOGUE, CLIENTS, DATABASE, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.care.checklists import Kind
from server.storage.models import Appointment, Role
from tests.client import ProtocolPeer
from tests.conftest import make_staff, sign_in
from tests.factories import answer, safe_answers, therapist_view
from tests.scenes import Room, join_with


async def _supervisor(
    app: web.Application, aiohttp_client, client: TestClient, name: str, team: bool
) -> ProtocolPeer:  # type: ignore[no-untyped-def]
    staff = await make_staff(app, name, Role.SUPERVISOR)
    if team:
        await app[ACCOUNTS].supervise(name, "therapist.one")
    browser = await aiohttp_client(client.server)
    await sign_in(browser, staff)
    return ProtocolPeer(await browser.ws_connect("/ws"), media=False)


async def _young_in_room(
    aiohttp_client, client: TestClient, room: Room
) -> tuple[ProtocolPeer, str]:  # type: ignore[no-untyped-def]
    young = await join_with(aiohttp_client, client, room.token)
    yid = (await young.expect("joined"))["you"]["id"]
    await room.therapist.send({"type": "admit", "participant": yid})
    await young.expect("admitted")
    return young, yid


@pytest.mark.hazard("HZ-13")
async def test_an_announced_observer_joins_and_leaves(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    young, _ = await _young_in_room(aiohttp_client, client, room)
    outsider = await _supervisor(app, aiohttp_client, client, "other.sup", team=False)
    await outsider.send({"type": "observe", "session": room.session})
    assert (await outsider.expect("error"))["code"] == "refused"
    await young.send({"type": "observe", "session": room.session})
    assert (await young.expect("error"))["code"] in ("refused", "already_joined")

    sup = await _supervisor(app, aiohttp_client, client, "sup", team=True)
    await sup.send({"type": "observe", "session": room.session})
    me = (await sup.expect("joined"))["you"]
    assert me["role"] == "observer" and me["name"] == "Sup"
    present = (await sup.expect("admitted"))["present"]
    assert {p["role"] for p in present} == {"therapist", "young_person"}
    for peer in (therapist, young):
        await peer.wait_for(
            lambda p=peer: any(
                m["type"] == "peer_joined" and m["participant"]["role"] == "observer"
                for m in p.inbox
            )
        )
        notice = await peer.expect("notice", code="observer")
        assert "Sup (supervisor) is observing" in notice["message"]
    # an observer watches: no flags, no board, no rating
    await sup.send({"type": "flag", "kind": "break"})
    assert (await sup.expect("error"))["code"] == "refused"
    candidate = {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}
    await sup.send({"type": "server_signal", "candidate": candidate})
    assert (await sup.expect("error"))["code"] == "observer"
    await sup.send({"type": "observer_media", "audio": True, "video": False})
    notice = await young.expect("notice", code="observer", within=5)
    while "microphone on" not in notice["message"]:
        notice = await young.expect("notice", code="observer", within=5)
    await young.send({"type": "observer_media", "audio": True, "video": True})
    assert (await young.expect("error"))["code"] == "refused"
    await sup.send({"type": "leave"})
    await therapist.expect("peer_left", participant=me["id"])
    kinds = [e.kind for e in await app[SESSION_LOG].entries(session_stream(room.session))]
    assert "observer.joined" in kinds and "observer.media" in kinds
    left = [e for e in await app[SESSION_LOG].entries(session_stream(room.session))
            if e.kind == "participant.left"]  # fmt: skip
    assert left[-1].details["role"] == "observer" and left[-1].actor.startswith("staff:")
    await young.close()


@pytest.mark.hazard("HZ-13")
async def test_no_observer_without_the_agreement_in_the_plan(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    young, _ = await _young_in_room(aiohttp_client, client, room)
    async with app[DATABASE].session() as session:
        appointment = await session.get(Appointment, room.session)
        assert appointment is not None
    ther = await therapist_view(app, "therapist.one")
    answers = safe_answers(app[CATALOGUE][Kind.DISCONNECTION_PLAN])
    answers["plan.observation_parent"] = {"answer": "no", "rationale": ""}
    kid = await app[CLIENTS].get(ther, appointment.client_id)  # aged 14-15: a parent must agree
    await answer(app, ther, kid, Kind.DISCONNECTION_PLAN, answers)
    sup = await _supervisor(app, aiohttp_client, client, "sup", team=True)
    await sup.send({"type": "observe", "session": room.session})
    error = await sup.expect("error")
    assert error["code"] == "refused" and "agreed to an observer" in error["message"]
    assert not [m for m in young.inbox if m["type"] == "notice"]
    await young.close()


async def _offer(*sending: str) -> dict[str, str]:
    """A real offer from aiortc: audio and video, sending the kinds named, receiving both."""
    pc = RTCPeerConnection()
    for kind in ("audio", "video"):
        pc.addTransceiver(kind, direction="sendrecv" if kind in sending else "recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return {"type": "offer", "sdp": sdp}


@pytest.mark.hazard("HZ-13")
async def test_an_observer_is_not_seen_or_heard_before_the_room_is_told(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    """The observer's page starts with camera and microphone off; the server holds it to
    that: media of theirs that was not announced to everyone is not relayed."""
    therapist = room.therapist
    young, _ = await _young_in_room(aiohttp_client, client, room)
    sup = await _supervisor(app, aiohttp_client, client, "sup", team=True)
    await sup.send({"type": "observe", "session": room.session})
    await sup.expect("joined")
    present = (await sup.expect("admitted"))["present"]
    tid = next(p["id"] for p in present if p["role"] == "therapist")

    await sup.send({"type": "signal", "to": tid, "description": await _offer()})  # receiving
    assert (await therapist.expect("signal", within=5))["description"]["type"] == "offer"
    await sup.send({"type": "signal", "to": tid, "description": await _offer("audio")})
    assert (await sup.expect("error"))["code"] == "unannounced_media"

    await sup.send({"type": "observer_media", "audio": True, "video": False})
    await young.expect("notice", code="observer", within=5)
    await sup.send({"type": "signal", "to": tid, "description": await _offer("audio")})
    assert (await therapist.expect("signal", within=5))["description"]["type"] == "offer"
    await sup.send({"type": "signal", "to": tid, "description": await _offer("audio", "video")})
    assert (await sup.expect("error"))["code"] == "unannounced_media"  # the camera was not
    # turned off again, the microphone may stay in the descriptions (its track sends nothing)
    await sup.send({"type": "observer_media", "audio": False, "video": False})
    await sup.send({"type": "signal", "to": tid, "description": await _offer("audio")})
    assert (await therapist.expect("signal", within=5))["description"]["type"] == "offer"
    await young.close()
