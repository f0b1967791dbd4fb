"""Scheduling, join links and their window, and opening a room through the gate:
by the API, by the pages and by the signalling WebSocket."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from server.appkeys import CONSENTS, DATABASE, HUB, SCHEDULE
from server.care.consent import WithdrawIn
from server.exceptions import TokenError
from server.storage.db import utcnow
from server.storage.models import Link
from tests.conftest import Staff, make_staff, sign_in
from tests.factories import new_client, ready_client, therapist_view
from tests.scenes import schedule_session


@pytest.mark.hazard("HZ-02")
async def test_join_link_works_only_inside_its_window(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    token = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)  # the gate allows the session: the window decides
    later = await schedule_session(
        client, token, kid.id, start_in=timedelta(hours=3), parent_link=True
    )
    assert sorted(link["role"] for link in later["join_links"]) == ["parent", "young_person"]
    url = next(link["url"] for link in later["join_links"] if link["role"] == "young_person")
    path = url.split("127.0.0.1", 1)[1].split("/", 1)[1]
    page = await client.get("/" + path)
    assert page.status == 200 and "It is a bit early" in await page.text()
    join_token = path.rsplit("/", 1)[1]
    with pytest.raises(TokenError, match="expired"):
        await app[SCHEDULE].by_join_token(join_token, now=utcnow() + timedelta(hours=5))
    # ending the session stops its links at once
    resp = await client.post(f"/api/sessions/{later['id']}/end", headers={"X-CSRF-Token": token})
    assert resp.status == 200
    page = await client.get("/" + path)
    assert page.status == 403 and "This session has ended" in await page.text()


async def test_a_new_link_revokes_the_old_one(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    token = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    made = await schedule_session(client, token, kid.id)
    old = made["join_links"][0]["url"].split("/join/", 1)[1]
    resp = await client.post(
        f"/sessions/{made['id']}/links/young_person",
        data={"csrf_token": token},
        allow_redirects=False,
    )
    assert resp.status == 303
    with pytest.raises(TokenError, match="withdrawn"):
        await app[SCHEDULE].by_join_token(old)
    links = await app[SCHEDULE].join_links(ther, made["id"])
    live = [j for j in links if j.link.revoked_at is None]
    assert len(live) == 1
    await app[SCHEDULE].by_join_token(live[0].token)


async def test_a_blocked_room_does_not_open(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    token = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    made = await schedule_session(client, token, kid.id)
    resp = await client.post(f"/api/sessions/{made['id']}/open", headers={"X-CSRF-Token": token})
    assert resp.status == 409
    gate = (await resp.json())["error"]["gate"]
    assert gate["status"] == "blocked" and gate["reasons"]


@pytest.mark.hazard("HZ-03")
async def test_consent_withdrawn_after_scheduling_stops_the_room(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    token = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    made = await schedule_session(client, token, kid.id)

    consent = (await app[CONSENTS].history(kid.id))[-1]
    async with app[DATABASE].session() as session:
        link = await session.get(Link, consent.link_id)
    assert link is not None
    await app[CONSENTS].withdraw(
        link, WithdrawIn(typed_name="Pat Parent", signed_on=utcnow().date())
    )
    resp = await client.post(f"/sessions/{made['id']}/open", data={"csrf_token": token})
    html = await resp.text()
    assert "The room cannot open yet" in html and "withdrawn consent" in html
    resp = await client.post(f"/api/sessions/{made['id']}/open", headers={"X-CSRF-Token": token})
    assert resp.status == 409
    assert [r["code"] for r in (await resp.json())["error"]["gate"]["reasons"]] == [
        "consent_withdrawn"
    ]


async def test_an_open_gate_opens_the_room(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    token = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    made = await schedule_session(client, token, kid.id)
    resp = await client.post(f"/api/sessions/{made['id']}/open", headers={"X-CSRF-Token": token})
    assert resp.status == 200 and (await resp.json())["status"] == "open"


async def test_home_names_the_client_of_each_session_today(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    """The therapist's "Today" says whose each session is, not only when."""
    token = await sign_in(client, therapist)
    kid = await ready_client(app, await therapist_view(app, therapist.username))
    await schedule_session(client, token, kid.id)
    home = await (await client.get("/")).text()
    today = home[home.index('id="today-heading"') :]
    assert f": {kid.display_name}</a>" in today[: today.index("</ul>")]


@pytest.mark.hazard("HZ-08")
async def test_signalling_refuses_to_open_a_blocked_room(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    token = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    blocked = await new_client(app, ther)
    ready = await ready_client(app, ther, display_name="Rue")
    blocked_session = await schedule_session(client, token, blocked.id)
    ready_session = await schedule_session(client, token, ready.id)
    async with client.ws_connect("/ws") as ws:
        await ws.send_str(
            json.dumps({"v": 1, "type": "open_room", "session": blocked_session["id"]})
        )
        reply = await ws.receive_json()
        assert reply["type"] == "error" and reply["code"] == "gate_closed"
        assert reply["detail"]["status"] == "blocked"
        # bad frames are answered and the connection stays up
        for frame, code in [
            ("{not json", "bad_json"),
            ("[1, 2]", "bad_message"),
            (json.dumps({"v": 2, "type": "ping"}), "bad_version"),
            (json.dumps({"v": 1, "type": "admit_myself"}), "unknown_type"),
            (json.dumps({"v": 1, "type": "open_room", "session": 42}), "bad_message"),
            (json.dumps({"v": 1, "type": "open_room", "session": "x" * 40}), "bad_message"),
            (json.dumps({"v": 1, "type": "open_room", "session": "0" * 32}), "refused"),
        ]:
            await ws.send_str(frame)
            reply = await ws.receive_json()
            assert (reply["type"], reply["code"]) == ("error", code), frame
        await ws.send_str(json.dumps({"v": 1, "type": "open_room", "session": ready_session["id"]}))
        opened = await ws.receive_json()
        assert (opened["type"], opened["session"]) == ("room_opened", ready_session["id"])
        assert opened["you"]["role"] == "therapist"


async def test_signalling_needs_a_signed_in_user_from_this_site(
    app: web.Application, client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    from aiohttp import WSServerHandshakeError

    async with client.ws_connect("/ws") as ws:  # anyone may connect: a link is checked on join
        await ws.send_str(json.dumps({"v": 1, "type": "open_room", "session": "ab" * 16}))
        reply = await ws.receive_json()
        assert (reply["code"], reply["message"]) == (
            "refused",
            "Only the session's therapist opens the room.",
        )
    await sign_in(client, therapist)
    with pytest.raises(WSServerHandshakeError) as info:
        await client.ws_connect("/ws", headers={"Origin": "https://evil.example"})
    assert info.value.status == 403


@pytest.mark.hazard("HZ-09")
async def test_another_therapists_room_is_refused_on_the_socket(
    app: web.Application, client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    token = await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await ready_client(app, ther)
    made = await schedule_session(client, token, kid.id)
    other = await make_staff(app, "other")
    second = await aiohttp_client(client.server)
    await sign_in(second, other)
    async with second.ws_connect("/ws") as ws:
        await ws.send_str(json.dumps({"v": 1, "type": "open_room", "session": made["id"]}))
        reply = await ws.receive_json()
        assert reply["code"] == "refused" and "not yours" in reply["message"]


async def test_a_flood_of_messages_is_rate_limited_not_fatal(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    await sign_in(client, therapist)
    async with client.ws_connect("/ws") as ws:
        for n in range(200):
            await ws.send_str(json.dumps({"v": 1, "type": "ping", "n": n}))
        replies = [await ws.receive_json() for _ in range(200)]
        assert {r["type"] for r in replies} == {"pong", "error"}
        assert any(r.get("code") == "rate_limited" for r in replies)
        await ws.send_str("x" * (70 * 1024))  # over the frame limit: the socket is closed
        closing = await ws.receive()
        assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)


@pytest.mark.hazard("HZ-02")
@pytest.mark.parametrize("role", ["young_person", "parent"])
async def test_join_links_forged_foreign_or_for_another_role_are_refused(
    app: web.Application, aiohttp_client, client: TestClient, room, role: str
) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from server.access import tokens
    from server.access.tokens import Claims
    from server.appkeys import KEYRING, LINKS
    from server.crypto.keys import KeyMaterial, KeyRing
    from server.storage.models import LinkKind
    from tests.scenes import join_with

    token = room.token if role == "young_person" else room.parent_token
    link, appointment = await app[SCHEDULE].by_join_token(token)
    body, signature = token.split(".")
    claims = Claims("join", link.id, role, link.not_before, link.expires_at)
    other_role = "parent" if role == "young_person" else "young_person"
    consent = await app[LINKS].issue(
        LinkKind.CONSENT,
        appointment.client_id,
        "parent",
        utcnow(),
        link.expires_at,
        link.created_by,
    )
    cases = [
        (body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature, "not valid"),
        (body + "." + signature[:-1] + ("A" if signature[-1] != "A" else "B"), "not valid"),
        (tokens.issue(KeyRing(KeyMaterial.generate()), claims), "not valid"),  # another key
        (tokens.issue(app[KEYRING], replace(claims, role=other_role)), "not valid"),
        (tokens.issue(app[KEYRING], replace(claims, role="therapist")), "not valid"),
        (consent.token, "for something else"),  # a consent link is no way in
        (tokens.issue(app[KEYRING], replace(claims, expires_at=utcnow())), "expired"),
    ]
    fresh = await aiohttp_client(client.server)  # a browser without the therapist's cookie
    for bad, message in cases:
        page = await fresh.get(f"/join/{bad}")
        assert page.status == 403 and message in await page.text(), bad[:20]
        peer = await join_with(aiohttp_client, client, bad)
        error = await peer.expect("error")
        assert error["code"] == "bad_link" and message in error["message"]
        await peer.close()
    with pytest.raises(TokenError, match="expired"):
        await app[SCHEDULE].by_join_token(token, now=link.expires_at)
    # nothing changed: no link was revoked, nobody is in the room, the real link works once
    async with app[DATABASE].session() as session:
        assert (await session.get(Link, link.id)).revoked_at is None  # type: ignore[union-attr]
    assert [p.role.value for p in app[HUB].rooms.get(room.session).participants.values()] == [
        "therapist"
    ]
    first = await join_with(aiohttp_client, client, token)
    assert (await first.expect("joined"))["you"]["role"] == role
    second = await join_with(aiohttp_client, client, token)  # the same link on a second device
    assert (await second.expect("error"))["code"] == "link_in_use"
    await room.therapist.expect("notice", code="second_device")
    await asyncio.gather(first.close(), second.close())


async def test_a_join_link_does_not_outlive_its_session_into_the_next(
    app: web.Application, aiohttp_client, client: TestClient, room
) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import csrf_from
    from tests.scenes import join_token, join_with

    link, appointment = await app[SCHEDULE].by_join_token(room.token)
    csrf = csrf_from(await (await client.get("/")).text())
    following = await schedule_session(
        client, csrf, appointment.client_id, start_in=timedelta(minutes=10)
    )
    resp = await client.post(f"/api/sessions/{room.session}/end", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    for old in (room.token, room.parent_token):
        peer = await join_with(aiohttp_client, client, old)
        assert (await peer.expect("error"))["code"] == "bad_link"
        await peer.close()
    with pytest.raises(TokenError, match="This session has ended"):
        await app[SCHEDULE].by_join_token(room.token)
    # the next session's own link is untouched, and is the only way into it
    new_link, new_appointment = await app[SCHEDULE].by_join_token(join_token(following))
    assert new_appointment.id == following["id"] != room.session
    assert new_link.revoked_at is None and new_link.id != link.id
