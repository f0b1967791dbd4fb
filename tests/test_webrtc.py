"""Real WebRTC between aiortc peers through the real server: the waiting room, admission,
media both ways, ending the room, and every bad input on the way."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta

import pytest
from aiohttp import WSCloseCode, web
from aiohttp.test_utils import TestClient

from server.appkeys import DATABASE, KEYRING, SCHEDULE
from server.crypto.sealed import unseal
from server.live.protocol import MAX_MESSAGE_BYTES
from server.storage.session_models import JoinCheck
from tests.conftest import Staff, sign_in
from tests.factories import ready_client, therapist_view
from tests.scenes import Room, join_token, join_with, schedule_session

FRAMES = 5


async def test_admitted_young_person_and_therapist_exchange_media(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    young = await join_with(
        aiohttp_client,
        client,
        room.token,
        **{"where.place": "home", "privacy.who_else": "a_parent_or_carer"},
    )
    joined = await young.expect("joined")
    assert joined["you"]["role"] == "young_person" and joined["ice"]["iceTransportPolicy"] == "all"
    await young.expect("waiting")
    lobby = await therapist.expect("lobby", waiting=[{**joined["you"]}])
    notice = await therapist.expect("notice", code="checks")
    assert "Young person says:" in notice["message"]
    assert lobby["present"][0]["role"] == "therapist"

    # nobody reaches the room without being admitted: signalling before admission is refused
    await young.send({"type": "signal", "to": therapist.me["id"], "candidate": {"candidate": ""}})  # type: ignore[index]
    assert (await young.expect("error"))["code"] == "not_in_room"
    # and a young person cannot admit themselves
    await young.send({"type": "admit", "participant": joined["you"]["id"]})
    assert "Only the therapist" in (await young.expect("error"))["message"]

    await therapist.send(
        {"type": "waiting_message", "participant": joined["you"]["id"], "text": "Two minutes!"}
    )
    assert (await young.expect("waiting", message="Two minutes!"))["message"] == "Two minutes!"
    await therapist.send({"type": "admit", "participant": joined["you"]["id"]})
    admitted = await young.expect("admitted")
    assert [p["role"] for p in admitted["present"]] == ["therapist"]
    await therapist.expect("peer_joined")

    tid, yid = therapist.me["id"], joined["you"]["id"]  # type: ignore[index]
    await young.wait_for(
        lambda: young.decoded(tid) >= FRAMES and young.decoded(tid, "audio") >= FRAMES
    )
    await therapist.wait_for(
        lambda: therapist.decoded(yid) >= FRAMES and therapist.decoded(yid, "audio") >= FRAMES
    )

    # the young person said where they are: kept sealed for an emergency
    async with app[DATABASE].session() as session:
        from sqlalchemy import select

        row = (await session.execute(select(JoinCheck))).scalar_one()
    assert json.loads(unseal(app[KEYRING], row, "answers_enc") or "{}")["where.place"] == "home"

    await therapist.send({"type": "end_room"})
    await young.expect("room_ended")
    assert young.pcs == {}
    # ending the room invalidates the links
    late = await join_with(aiohttp_client, client, room.token)
    assert (await late.expect("error"))["code"] == "bad_link"
    await asyncio.gather(young.close(), late.close())


async def test_three_people_parent_steps_out_and_back(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    young = await join_with(aiohttp_client, client, room.token)
    parent = await join_with(aiohttp_client, client, room.parent_token)
    yid = (await young.expect("joined"))["you"]["id"]
    pid = (await parent.expect("joined"))["you"]["id"]
    await parent.expect("waiting")
    tid = therapist.me["id"]  # type: ignore[index]
    for who in (pid, yid):
        await therapist.send({"type": "admit", "participant": who})
    await young.expect("admitted")
    await young.wait_for(lambda: young.decoded(tid) >= FRAMES and young.decoded(pid) >= FRAMES)
    await parent.wait_for(lambda: parent.decoded(tid) >= FRAMES and parent.decoded(yid) >= FRAMES)

    # the parent steps out to the waiting room, then comes back
    await therapist.send({"type": "to_waiting", "participant": pid})
    await parent.expect("waiting")
    await young.expect("peer_left", participant=pid)
    await young.wait_for(lambda: pid not in young.pcs)
    await therapist.send({"type": "admit", "participant": pid})
    await parent.expect("admitted")
    await parent.wait_for(lambda: parent.decoded(yid) >= FRAMES and parent.decoded(tid) >= FRAMES)
    await asyncio.gather(young.close(), parent.close())


async def test_bad_input_is_refused_and_the_room_goes_on(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    young = await join_with(aiohttp_client, client, room.token)
    yid = (await young.expect("joined"))["you"]["id"]
    await therapist.send({"type": "admit", "participant": yid})
    tid = therapist.me["id"]  # type: ignore[index]
    await young.wait_for(lambda: young.decoded(tid) >= FRAMES)

    # a second device with the same link is refused, and the therapist is told
    second = await join_with(aiohttp_client, client, room.token)
    assert (await second.expect("error"))["code"] == "link_in_use"
    assert "second device" in (await therapist.expect("notice", code="second_device"))["message"]

    moon = await join_with(aiohttp_client, client, room.parent_token, **{"where.place": "the moon"})
    assert (await moon.expect("error"))["code"] == "bad_checks"
    await moon.close()
    attacker = await join_with(aiohttp_client, client, room.parent_token)
    aid = (await attacker.expect("joined"))["you"]["id"]
    cases = [
        ({"type": "dance"}, "unknown_type"),
        ({"type": "join", "token": room.token}, "already_joined"),
        ({"type": "admit", "participant": 7}, "bad_message"),
        (
            {
                "type": "signal",
                "to": yid,
                "description": {"type": "offer", "sdp": "v=0 garbage that is no SDP"},
            },
            "not_in_room",
        ),
    ]
    for message, code in cases:
        await attacker.send(message)
        assert (await attacker.expect("error"))["code"] == code, message
    # an SDP that does not parse, or offers no usable media, from someone in the room
    for sdp in (
        "this is not a session description",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
    ):
        await young.send(
            {"type": "signal", "to": tid, "description": {"type": "offer", "sdp": sdp}}
        )
        assert (await young.expect("error"))["code"] == "bad_sdp"
    # an ICE candidate for someone who is not in the room
    await young.send(
        {
            "type": "signal",
            "to": aid,
            "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"},
        }
    )
    assert (await young.expect("error"))["code"] == "unknown_peer"
    # a flood: 1,000 messages as fast as possible; then a frame over the limit closes that
    # socket only, with 1009 (one within aiohttp's own read bound, which is read whole and
    # refused by the server, so the closing handshake completes: far larger, aiohttp cuts the
    # connection as the frame begins and the sender may see 1006, docs/protocol.md "Closing")
    for n in range(1000):
        await attacker.send({"type": "ping", "n": n})
    with contextlib.suppress(ConnectionError):  # the server may close while it is being sent
        await attacker.ws.send_str("x" * (MAX_MESSAGE_BYTES + 1024))
    await attacker.wait_for(lambda: attacker.ws.closed)
    assert attacker.ws.close_code == WSCloseCode.MESSAGE_TOO_BIG
    # what was read was answered, over the limit of messages with rate_limited; past 200
    # frames a second the rest was dropped unread, unanswered but for one notice
    answers = [m for m in attacker.inbox if m["type"] in ("pong", "error")]
    assert any(m.get("code") == "rate_limited" and "id" not in m for m in answers)
    assert len(answers) < 1000
    # the room and the others are unaffected: media keeps flowing
    before = young.decoded(tid)
    await young.wait_for(lambda: young.decoded(tid) >= before + FRAMES)
    await asyncio.gather(young.close(), second.close(), attacker.close())


@pytest.mark.hazard("HZ-06")
async def test_a_relay_only_session_tells_browsers_to_relay(
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    token = join_token(await schedule_session(client, csrf, kid.id, relay_only=True))
    young = await join_with(aiohttp_client, client, token)
    assert (await young.expect("joined"))["ice"]["iceTransportPolicy"] == "relay"
    await young.close()


async def test_joining_too_early_or_with_a_bad_link(
    app: web.Application, aiohttp_client, client: TestClient, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    csrf = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    made = await schedule_session(client, csrf, kid.id, start_in=timedelta(hours=3))
    token = join_token(made)
    early = await join_with(aiohttp_client, client, token)
    assert (await early.expect("error"))["code"] == "too_early"
    forged = await join_with(aiohttp_client, client, token[:-4] + "AAAA")
    assert (await forged.expect("error"))["code"] == "bad_link"
    links = await app[SCHEDULE].join_links(ther, made["id"])
    assert links[0].link.revoked_at is None
    await asyncio.gather(early.close(), forged.close())
