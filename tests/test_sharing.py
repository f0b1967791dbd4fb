"""Screen sharing over the socket: the therapist shares; a young person only once allowed; an
observer never. A share is announced before its media, a description carrying a stream nobody
announced is refused (the sharer answered an error frame, the others told no share of theirs
is on), the therapist stops anyone's share, and a share ends when its sharer leaves, drops or
is sent back to the waiting room. Bad input is refused with its code."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection

from server.appkeys import ACCOUNTS, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.live.rooms import Participant, Role
from server.live.sharing import STARTS_PER_MINUTE, Sharing
from server.storage.models import Role as StaffRole
from tests.client import ProtocolPeer
from tests.conftest import make_staff, sign_in
from tests.factories import join_message
from tests.scenes import Room

SHARE = "3f2a9c1e-share-0001"
CAMERA = "7d1b0a44-camera-0001"


async def _offer(*streams: str) -> dict[str, str]:
    """A real offer from aiortc sending audio and video, each video section's ``a=msid``
    naming the stream given for it in turn (the first also the audio's)."""
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    for _ in streams:
        pc.addTransceiver("video", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    names = iter([streams[0], *streams])
    sdp = re.sub(r"a=msid:\S+ ", lambda _: f"a=msid:{next(names)} ", sdp)
    return {"type": "offer", "sdp": sdp}


async def _young_in(
    aiohttp_client: Any, client: TestClient, room: Room
) -> tuple[ProtocolPeer, str]:
    outsider = await aiohttp_client(client.server)  # a fresh browser: no cookies
    young = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    await young.send(join_message(room.token))
    yid = (await young.expect("joined"))["you"]["id"]
    await room.therapist.send({"type": "admit", "participant": yid})
    await young.expect("admitted")
    return young, yid


async def _kinds(app: web.Application, session: str) -> list[tuple[str, dict[str, Any]]]:
    entries = await app[SESSION_LOG].entries(session_stream(session))
    return [(e.kind, e.details) for e in entries if e.kind.startswith("share.")]


@pytest.mark.hazard("HZ-27")
async def test_a_young_persons_share_is_refused_until_allowed_and_the_therapist_stops_it(
    app: web.Application, aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    therapist = room.therapist
    young, yid = await _young_in(aiohttp_client, client, room)
    tid = therapist.me["id"]  # type: ignore[index]

    # not allowed: an error frame to them, and the therapist told no share of theirs is on
    await young.send({"type": "share_start", "stream": SHARE, "id": "s1"})
    assert (await young.expect("error", id="s1"))["code"] == "share_not_allowed"
    await therapist.expect("share_stopped", participant=yid, reason="refused")
    # their page adding a second stream unannounced: refused, and not relayed
    await young.send({"type": "signal", "to": tid, "description": await _offer(CAMERA, SHARE)})
    assert (await young.expect("error"))["code"] == "unannounced_share"
    await therapist.expect("share_stopped", participant=yid, reason="refused")
    assert not [m for m in therapist.inbox if m["type"] == "signal"]
    # their camera alone goes through
    await young.send({"type": "signal", "to": tid, "description": await _offer(CAMERA)})
    await therapist.expect("signal", within=5)

    # only the therapist allows
    await young.send({"type": "share_allow", "participant": yid, "allowed": True, "id": "a0"})
    assert (await young.expect("error", id="a0"))["code"] == "refused"
    await therapist.send({"type": "share_allow", "participant": yid, "allowed": True, "id": "a1"})
    assert (await therapist.expect("share_allowed", id="a1"))["allowed"] is True
    assert (await young.expect("share_allowed"))["participant"] == yid

    await young.send({"type": "share_start", "stream": SHARE, "id": "s2"})
    assert (await young.expect("share_started", id="s2"))["participant"] == yid
    seen = await therapist.expect("share_started")
    assert (seen["participant"], seen["stream"]) == (yid, SHARE)
    await young.send({"type": "signal", "to": tid, "description": await _offer(CAMERA, SHARE)})
    await therapist.expect("signal", within=5)

    # the young person cannot stop the therapist's share (none is on), the therapist stops theirs
    await young.send({"type": "share_stop", "participant": tid, "id": "x"})
    assert (await young.expect("error", id="x"))["code"] == "refused"
    await therapist.send({"type": "share_stop", "participant": yid})
    for peer in (therapist, young):
        await peer.expect("share_stopped", participant=yid, reason="by_therapist")
    await therapist.send({"type": "share_stop", "participant": yid, "id": "again"})
    assert (await therapist.expect("error", id="again"))["code"] == "no_share"

    # allowed no more: a share of theirs that is on ends
    await young.send({"type": "share_start", "stream": SHARE + "2"})
    await therapist.expect("share_started", participant=yid)
    await therapist.send({"type": "share_allow", "participant": yid, "allowed": False})
    for peer in (therapist, young):
        await peer.expect("share_stopped", participant=yid, reason="not_allowed")
    await young.send({"type": "share_start", "stream": SHARE + "3", "id": "s3"})
    assert (await young.expect("error", id="s3"))["code"] == "share_not_allowed"

    kinds = [kind for kind, _ in await _kinds(app, room.session)]
    assert kinds.count("share.started") == 2 and kinds.count("share.stopped") == 2
    assert kinds.count("share.allowed") == 2
    await young.close()


@pytest.mark.hazard("HZ-27")
async def test_a_share_ends_when_its_sharer_drops_or_goes_to_the_waiting_room(
    app: web.Application, aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    therapist = room.therapist
    young, yid = await _young_in(aiohttp_client, client, room)
    tid = therapist.me["id"]  # type: ignore[index]
    await therapist.send({"type": "share_start", "stream": SHARE})
    await therapist.expect("share_started", participant=tid)
    await young.expect("share_started", participant=tid, stream=SHARE)

    # one share at a time: theirs waits; the therapist's takes the place of theirs
    await therapist.send({"type": "share_allow", "participant": yid, "allowed": True})
    await young.expect("share_allowed")
    await young.send({"type": "share_start", "stream": "theirs", "id": "busy"})
    assert (await young.expect("error", id="busy"))["code"] == "share_busy"
    await therapist.send({"type": "share_stop"})
    await young.expect("share_stopped", participant=tid, reason="stopped")
    await young.send({"type": "share_start", "stream": "theirs"})
    await therapist.expect("share_started", participant=yid)
    await therapist.send({"type": "share_start", "stream": SHARE + "b"})
    await young.expect("share_stopped", participant=yid, reason="replaced")
    await young.expect("share_started", participant=tid)

    # someone let in while it is on is told at once, before any media comes
    parent_browser = await aiohttp_client(client.server)
    parent = ProtocolPeer(await parent_browser.ws_connect("/ws"), media=False)
    await parent.send(join_message(room.parent_token))
    pid = (await parent.expect("joined"))["you"]["id"]
    await therapist.send({"type": "admit", "participant": pid})
    await parent.expect("admitted")
    await parent.expect("share_started", participant=tid, stream=SHARE + "b")

    # the young person shares again and is sent to the waiting room: it ends
    await therapist.send({"type": "share_stop"})
    await young.expect("share_stopped", participant=tid)
    await young.send({"type": "share_start", "stream": "theirs-2"})
    await parent.expect("share_started", participant=yid)
    await therapist.send({"type": "to_waiting", "participant": yid})
    await parent.expect("share_stopped", participant=yid, reason="left")

    # the therapist's share ends when their connection drops
    await therapist.send({"type": "share_start", "stream": SHARE + "c"})
    await parent.expect("share_started", participant=tid)
    await therapist.ws.close()
    await parent.expect("share_stopped", participant=tid, reason="left")
    causes = [d.get("cause") for kind, d in await _kinds(app, room.session)]
    assert "left" in causes and "replaced" in causes
    await young.close()
    await parent.close()


@pytest.mark.hazard("HZ-27")
async def test_a_share_ends_when_its_sharer_comes_back_on_a_new_socket_before_the_old_one_closed(
    app: web.Application, aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    """A page that lost its socket stops its own share; when it resumes on a new socket
    while the server still holds the old one (a take-over, no drop seen), the share must
    end for the others too, not stay on their screens frozen."""
    therapist = room.therapist
    young, yid = await _young_in(aiohttp_client, client, room)
    await therapist.send({"type": "share_allow", "participant": yid, "allowed": True})
    await young.expect("share_allowed")
    await young.send({"type": "share_start", "stream": SHARE})
    await therapist.expect("share_started", participant=yid)
    token = young.resume_token
    browser = await aiohttp_client(client.server)
    back = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await back.send({"type": "resume", "token": token})  # the old socket still open
    await back.expect("resumed")
    await therapist.expect("share_stopped", participant=yid, reason="left")
    await back.close()
    await young.close()


@pytest.mark.hazard("HZ-27")
async def test_an_observer_never_shares(
    app: web.Application, aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    await _young_in(aiohttp_client, client, room)
    staff = await make_staff(app, "sup", StaffRole.SUPERVISOR)
    await app[ACCOUNTS].supervise("sup", "therapist.one")
    browser = await aiohttp_client(client.server)
    await sign_in(browser, staff)
    sup = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await sup.send({"type": "observe", "session": room.session})
    sid = (await sup.expect("joined"))["you"]["id"]
    await sup.expect("admitted")
    await sup.send({"type": "share_start", "stream": SHARE, "id": "o1"})
    assert (await sup.expect("error", id="o1"))["code"] == "share_not_allowed"
    await room.therapist.expect("share_stopped", participant=sid, reason="refused")
    await room.therapist.send(
        {"type": "share_allow", "participant": sid, "allowed": True, "id": "o2"}
    )
    assert (await room.therapist.expect("error", id="o2"))["code"] == "share_not_allowed"
    await sup.close()


BAD = [
    ({"type": "share_start"}, "bad_message"),
    ({"type": "share_start", "stream": ""}, "bad_message"),
    ({"type": "share_start", "stream": "a b"}, "bad_message"),
    ({"type": "share_start", "stream": "x" * 65}, "bad_message"),
    ({"type": "share_start", "stream": 5}, "bad_message"),
    ({"type": "share_start", "stream": SHARE, "audio": True}, "bad_message"),
    ({"type": "share_stop", "participant": "NOT-HEX"}, "bad_message"),
    ({"type": "share_stop", "everyone": True}, "bad_message"),
    ({"type": "share_allow", "participant": "ab", "allowed": "true"}, "bad_message"),
    ({"type": "share_allow", "participant": "ab", "allowed": 1}, "bad_message"),
    ({"type": "share_allow", "allowed": True}, "bad_message"),
    ({"type": "share_allow", "participant": "abcdef", "allowed": True}, "refused"),
]


@pytest.mark.hazard("HZ-27")
async def test_bad_share_messages_are_refused_and_starts_are_bounded(
    app: web.Application, aiohttp_client: Any, client: TestClient, room: Room
) -> None:
    therapist = room.therapist
    for i, (message, code) in enumerate(BAD):
        await therapist.send({**message, "id": f"b{i}"})
        assert (await therapist.expect("error", id=f"b{i}"))["code"] == code, message
    # a share started over and over keeps everyone's screen jumping: a few a minute
    for i in range(STARTS_PER_MINUTE):
        await therapist.send({"type": "share_start", "stream": f"s{i}", "id": f"ok{i}"})
        await therapist.expect("share_started", id=f"ok{i}")
    await therapist.send({"type": "share_start", "stream": "one-more", "id": "many"})
    assert (await therapist.expect("error", id="many"))["code"] == "share_too_often"
    # the share on goes on
    await therapist.send({"type": "share_stop", "id": "end"})
    stopped = await therapist.expect("share_stopped")
    assert stopped["participant"] == therapist.me["id"]  # type: ignore[index]


def test_a_description_may_carry_the_camera_and_the_shares_announced() -> None:
    now = [0.0]
    sharing = Sharing(clock=lambda: now[0])
    therapist = Participant("t1", Role.THERAPIST, "T")
    young = Participant("y1", Role.YOUNG_PERSON, "Y")
    assert sharing.unannounced(young, {CAMERA}) == set()
    assert sharing.unannounced(young, {CAMERA, SHARE}) == {CAMERA, SHARE}
    sharing.start(therapist, SHARE)
    assert sharing.unannounced(therapist, {CAMERA, SHARE}) == set()
    assert sharing.unannounced(therapist, {CAMERA, SHARE, "other"}) == {CAMERA, "other"}
    # a description made just before the share ended may still carry it
    sharing.stop(therapist, None)
    assert sharing.unannounced(therapist, {CAMERA, SHARE}) == set()
    for i in range(10):
        now[0] += 60
        sharing.start(therapist, f"later-{i}")
        sharing.stop(therapist, None)
    assert sharing.unannounced(therapist, {CAMERA, SHARE}) == {CAMERA, SHARE}
