"""Guests: an interpreter or another professional invited to a session with the young
person's recorded agreement, with their own link; announced to everyone by role; no board
until the therapist gives it; their joining and leaving logged by role, never by name."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import DATABASE, KEYRING, SESSION_LOG, WHITEBOARDS
from server.audit.sessionlog import session_stream
from server.crypto.sealed import unseal
from server.storage.db import utcnow
from server.storage.models import Link
from server.storage.session_models import Guest, LogEntry
from tests.client import ProtocolPeer
from tests.conftest import Staff, sign_in
from tests.factories import join_message, pre_join_answers, ready_client, therapist_view
from tests.scenes import join_token, schedule_session, stroke

NAME = "Sam Rivers"


@dataclass
class Invited:
    session: str
    token: str  # the young person's join link
    csrf: str


def _agreed(**extra: object) -> dict[str, object]:
    today = utcnow().date()
    return {
        "name": NAME,
        "role": "interpreter",
        "young_person_agreed_on": (today - timedelta(days=2)).isoformat(),
        **extra,
    }


async def _invite(client: TestClient, csrf: str, session: str, **extra: object) -> dict:  # type: ignore[type-arg]
    resp = await client.post(
        f"/api/sessions/{session}/guests", json=_agreed(**extra), headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 201, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


def _token(url: str) -> str:
    return url.rsplit("/guest/", 1)[1]


@pytest.fixture
async def invited(app: web.Application, client: TestClient, therapist: Staff) -> Invited:
    csrf = await sign_in(client, therapist)
    kid = await ready_client(app, await therapist_view(app, therapist.username))
    made = await schedule_session(client, csrf, kid.id)
    return Invited(made["id"], join_token(made), csrf)


# -- inviting


@pytest.mark.hazard("HZ-35")
async def test_a_guest_is_invited_with_the_agreement_and_their_own_sealed_link(
    app: web.Application, client: TestClient, invited: Invited
) -> None:
    made = (await _invite(client, invited.csrf, invited.session))["guests"]
    assert len(made) == 1 and made[0]["role"] == "interpreter" and made[0]["session"]
    token = _token(made[0]["url"])
    async with app[DATABASE].read() as db:
        guest = await db.get(Guest, made[0]["id"])
        assert guest is not None
        link = await db.get(Link, guest.link_id)
    assert link is not None and link.kind == "guest" and link.role == "guest"
    assert NAME.encode() not in guest.name_enc  # sealed at rest
    assert unseal(app[KEYRING], guest, "name_enc") == NAME
    assert guest.young_person_agreed_on == utcnow().date() - timedelta(days=2)
    # the guest link ends with its session, and is nobody's join link
    page = await client.get(f"/sessions/{invited.session}")
    html = await page.text()
    assert f"/guest/{token}" in html and "Sam Rivers, interpreter" in html
    assert "The young person agreed on" in html
    joins = await client.get(f"/join/{token}")
    assert joins.status == 403
    # the log names the guest's role and the agreement's date, never the name
    entries = await app[SESSION_LOG].entries(session_stream(invited.session))
    invitation = next(e for e in entries if e.kind == "guest.invited")
    assert invitation.details["guest_role"] == "interpreter"
    assert invitation.details["young_person_agreed_on"] == guest.young_person_agreed_on.isoformat()
    assert NAME not in json.dumps([e.details for e in entries])
    # the guest's page: a camera check and nothing of the young person's questions
    guest_page = await client.get(f"/guest/{token}")
    text = await guest_page.text()
    assert guest_page.status == 200 and "Joining as a guest" in text
    assert "checks-form" not in text and "Where are you" not in text


@pytest.mark.hazard("HZ-35")
async def test_no_guest_link_without_the_agreement(
    app: web.Application, client: TestClient, invited: Invited
) -> None:
    url = f"/api/sessions/{invited.session}/guests"
    headers = {"X-CSRF-Token": invited.csrf}
    no_agreement = {k: v for k, v in _agreed().items() if k != "young_person_agreed_on"}
    tomorrow = (utcnow().date() + timedelta(days=1)).isoformat()
    for body in (
        no_agreement,
        _agreed(young_person_agreed_on=tomorrow),  # not given yet
        _agreed(parent_needed=True),  # the parent's is needed and not recorded
    ):
        resp = await client.post(url, json=body, headers=headers)
        assert resp.status == 400, body
    # the page's form: the faults beside their fields, nothing made
    form = {
        "csrf_token": invited.csrf,
        "name": NAME,
        "role": "interpreter",
        "young_person_agreed_on": "",
        "parent_needed": "yes",
    }
    resp = await client.post(f"/sessions/{invited.session}/guests", data=form)
    html = await resp.text()
    assert resp.status == 400 and "guest-young_person_agreed_on-error" in html
    async with app[DATABASE].read() as db:
        assert not list(await db.scalars(Guest.__table__.select()))
    # with the parent's agreement too, it is made
    made = await _invite(
        client,
        invited.csrf,
        invited.session,
        parent_needed=True,
        parent_agreed_on=utcnow().date().isoformat(),
    )
    assert len(made["guests"]) == 1


async def test_bad_input_is_refused_in_words(
    app: web.Application, client: TestClient, invited: Invited
) -> None:
    url = f"/api/sessions/{invited.session}/guests"
    headers = {"X-CSRF-Token": invited.csrf}
    for body in (
        _agreed(name="S" * 10_000),
        _agreed(name="   "),
        _agreed(role="priest"),
        _agreed(role=None),
        _agreed(young_person_agreed_on="not a date"),
        _agreed(extra="field"),
    ):
        resp = await client.post(url, json=body, headers=headers)
        assert resp.status == 400, body
        assert (await resp.json())["error"]["message"]
    form = {
        "csrf_token": invited.csrf,
        "name": "S" * 10_000,
        "role": "priest",
        "young_person_agreed_on": utcnow().date().isoformat(),
    }
    resp = await client.post(f"/sessions/{invited.session}/guests", data=form)
    html = await resp.text()
    assert resp.status == 400
    assert "guest-name-error" in html and "guest-role-error" in html
    assert "S" * 81 not in html  # what was typed is kept, cut to the field's length
    withdraw = await client.post(
        f"/api/sessions/{invited.session}/guests/{'0' * 32}/withdraw", headers=headers
    )
    assert withdraw.status == 404


@pytest.mark.hazard("HZ-35")
async def test_a_withdrawn_guest_link_and_one_after_its_session_are_refused(
    app: web.Application, aiohttp_client, client: TestClient, invited: Invited
) -> None:  # type: ignore[no-untyped-def]
    first, second = [
        (await _invite(client, invited.csrf, invited.session, name=name))["guests"][0]
        for name in ("Sam Rivers", "Jo Banks")
    ]
    headers = {"X-CSRF-Token": invited.csrf}
    resp = await client.post(
        f"/api/sessions/{invited.session}/guests/{first['id']}/withdraw", headers=headers
    )
    assert resp.status == 200 and (await resp.json())["withdrawn"] is True
    stranger = await aiohttp_client(client.server)
    page = await stranger.get(f"/guest/{_token(first['url'])}")
    assert page.status == 403 and "withdrawn" in await page.text()
    peer = ProtocolPeer(await stranger.ws_connect("/ws"), media=False)
    await peer.send({"type": "guest_join", "token": _token(first["url"])})
    assert (await peer.expect("error"))["code"] == "bad_link"
    # the session ends: the other guest's link says, kindly, that it is over
    ended = await client.post(f"/api/sessions/{invited.session}/end", headers=headers)
    assert ended.status == 200
    page = await stranger.get(f"/guest/{_token(second['url'])}")
    text = await page.text()
    assert page.status == 410 and "This session is over" in text
    await peer.send({"type": "guest_join", "token": _token(second["url"])})
    refused = await peer.expect("error")
    assert refused["code"] == "bad_link" and "over" in refused["message"]
    # a guest's link is nothing but a guest's: it opens no join, and a join link no guest page
    await peer.send({"type": "join", "token": _token(second["url"]), "checks": {}})
    assert (await peer.expect("error"))["code"] == "bad_link"
    assert (await stranger.get(f"/guest/{invited.token}")).status == 403
    entries = await app[SESSION_LOG].entries(session_stream(invited.session))
    assert [e.details["guest_role"] for e in entries if e.kind == "guest.withdrawn"] == [
        "interpreter"
    ]
    await peer.close()


async def test_a_guest_for_the_rest_of_the_series_has_a_link_for_each_session(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    csrf = await sign_in(client, therapist)
    kid = await ready_client(app, await therapist_view(app, therapist.username))
    body = {"starts_at": (utcnow() + timedelta(minutes=5)).isoformat(), "count": 3}
    resp = await client.post(
        f"/api/clients/{kid.id}/series", json=body, headers={"X-CSRF-Token": csrf}
    )
    assert resp.status == 201, await resp.text()
    sessions = [s["id"] for s in (await resp.json())["sessions"]]
    made = (await _invite(client, csrf, sessions[1], series=True))["guests"]
    assert [g["session"] for g in made] == sessions[1:]  # from this one on, not before
    assert len({g["url"] for g in made}) == 2
    async with app[DATABASE].read() as db:
        for g in made:
            guest = await db.get(Guest, g["id"])
            assert guest is not None
            link = await db.get(Link, guest.link_id)
            assert link is not None and link.appointment_id == g["session"]


# -- in the room


async def _open(client: TestClient, session: str) -> ProtocolPeer:
    therapist = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await therapist.send({"type": "open_room", "session": session})
    await therapist.expect("room_opened")
    return therapist


async def _guest_in(
    aiohttp_client, client: TestClient, therapist: ProtocolPeer, token: str
) -> tuple[ProtocolPeer, str]:  # type: ignore[no-untyped-def]
    browser = await aiohttp_client(client.server)
    guest = ProtocolPeer(await browser.ws_connect("/ws"), media=False, board="socket")
    await guest.send({"type": "guest_join", "token": token})
    gid = (await guest.expect("joined"))["you"]["id"]
    await guest.expect("waiting")
    await therapist.send({"type": "admit", "participant": gid})
    await guest.expect("admitted")
    assert (await guest.expect("guest_board", participant=gid))["on"] is False  # not yet
    return guest, gid


@pytest.mark.hazard("HZ-35")
async def test_a_guest_waits_is_admitted_and_announced_by_role_and_never_sees_the_answers(
    app: web.Application, aiohttp_client, client: TestClient, invited: Invited
) -> None:  # type: ignore[no-untyped-def]
    token = _token((await _invite(client, invited.csrf, invited.session))["guests"][0]["url"])
    therapist = await _open(client, invited.session)
    outsider = await aiohttp_client(client.server)
    young = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    await young.send(join_message(invited.token))
    yid = (await young.expect("joined"))["you"]["id"]
    await therapist.expect("notice", code="checks")  # the therapist's alone
    await therapist.send({"type": "admit", "participant": yid})
    await young.expect("admitted")
    await young.send({"type": "chat", "text": "I had a bad week at school"})
    await young.expect("chat")

    browser = await aiohttp_client(client.server)
    guest = ProtocolPeer(await browser.ws_connect("/ws"), media=False, board="socket")
    await guest.send({"type": "guest_join", "token": token})
    me = (await guest.expect("joined"))["you"]
    assert me["role"] == "guest" and me["guest_role"] == "interpreter" and me["name"] == NAME
    await guest.expect("waiting")  # waits for the therapist, like anyone else
    lobby = await therapist.expect("lobby", within=5)
    while not any(p["role"] == "guest" for p in lobby["waiting"]):
        lobby = await therapist.expect("lobby", within=5)
    assert lobby["waiting"] == [{**me, "state": "waiting"}]
    # a second device with the same link is refused
    again = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"))
    await again.send({"type": "guest_join", "token": token})
    assert (await again.expect("error"))["code"] == "link_in_use"
    await again.close()

    await therapist.send({"type": "admit", "participant": me["id"]})
    present = (await guest.expect("admitted"))["present"]
    assert {p["role"] for p in present} == {"therapist", "young_person"}
    assert (await guest.expect("guest_board"))["on"] is False
    for peer in (therapist, young):

        def announced(peer: ProtocolPeer = peer) -> list[dict]:  # type: ignore[type-arg]
            return [
                m["participant"]
                for m in peer.inbox
                if m["type"] == "peer_joined" and m["participant"]["id"] == me["id"]
            ]

        await peer.wait_for(lambda announced=announced: bool(announced()))
        joined = {"participant": announced()[0]}
        assert joined["participant"]["role"] == "guest"
        assert joined["participant"]["guest_role"] == "interpreter"
        assert joined["participant"]["name"] == NAME
    # the young person comes back: their answers again go to the therapist alone
    await young.send({"type": "leave"})
    await young.expect("done")
    back = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    await back.send(join_message(invited.token))
    await back.expect("joined")
    await therapist.expect("notice", code="checks")
    await guest.send({"type": "ping", "n": 1})
    await guest.expect("pong")
    said = json.dumps(guest.inbox)
    assert not any(m.get("code") == "checks" for m in guest.inbox)
    for answer in pre_join_answers().values():
        if len(answer) > 3:  # "yes" and "no" are words anyone says
            assert answer not in said
    # nor the chat: what was written before or to the room is not a guest's to read
    await guest.send({"type": "chat", "text": "hello"})
    assert (await guest.expect("error"))["code"] == "refused"
    assert not any(m["type"] in ("chat", "chat_history") for m in guest.inbox)
    # leaving: told to the others, logged by role
    await guest.send({"type": "leave"})
    await guest.expect("done")
    await therapist.expect("peer_left", participant=me["id"])
    entries = await app[SESSION_LOG].entries(session_stream(invited.session))
    mine = [e for e in entries if e.details.get("participant") == me["id"]]
    assert [e.kind for e in mine] == [
        "participant.joined",
        "participant.admitted",
        "participant.left",
    ]
    assert all(e.details["role"] == "guest" for e in mine)
    assert all(e.details["guest_role"] == "interpreter" for e in mine)
    assert all(e.actor.startswith(("guest:", "staff:")) for e in mine)
    async with app[DATABASE].read() as db:
        rows = list(await db.scalars(LogEntry.__table__.select()))
    assert NAME not in json.dumps([str(r) for r in rows])
    assert NAME not in json.dumps([e.details for e in entries])
    for peer in (therapist, young, back, guest):
        await peer.close()


@pytest.mark.hazard("HZ-35")
async def test_a_guest_draws_nothing_until_given_the_board(
    app: web.Application, aiohttp_client, client: TestClient, invited: Invited
) -> None:  # type: ignore[no-untyped-def]
    token = _token((await _invite(client, invited.csrf, invited.session))["guests"][0]["url"])
    therapist = await _open(client, invited.session)
    therapist.board_over = "socket"
    guest, gid = await _guest_in(aiohttp_client, client, therapist, token)
    await asyncio.gather(therapist.open_board(), guest.open_board())
    # refused by the server: an operation, a picture, a hand in motion
    for op in stroke("g1", 100):
        guest.draw(op)
    await guest.wait_for(lambda: any(e["code"] == "no_board" for e in guest.board_errors))
    await guest.send({"type": "objects", "message": {"type": "begin", "id": "p1", "size": 10}})
    live = {"type": "live", "to": [gid], "messages": [{"kind": "end", "id": "g1"}]}
    await guest.send(live)
    assert (await guest.expect("error"))["code"] == "no_board"
    board = app[WHITEBOARDS].boards[invited.session]
    assert "g1" not in board.board.elements and board.board.seq == 0
    # only the therapist gives the board; it is logged and told to everyone
    await guest.send({"type": "guest_board", "participant": gid, "on": True})
    assert (await guest.expect("error"))["code"] == "refused"
    await therapist.send({"type": "guest_board", "participant": gid, "on": True})
    assert (await therapist.expect("guest_board"))["on"] is True
    assert (await guest.expect("guest_board", participant=gid))["on"] is True
    for op in stroke("g2", 200):
        guest.draw(op)
    await therapist.wait_for(lambda: "g2" in therapist.board.elements)
    # and takes it back
    await therapist.send({"type": "guest_board", "participant": gid, "on": False})
    await guest.expect("guest_board", on=False)
    errors = len(guest.board_errors)
    guest.draw({"op": "erase", "id": "g2"})
    await guest.wait_for(lambda: len(guest.board_errors) > errors)
    assert guest.board_errors[-1]["code"] == "no_board"
    assert "g2" in board.board.elements and board.board.elements["g2"].visible
    entries = await app[SESSION_LOG].entries(session_stream(invited.session))
    given = [e.details for e in entries if e.kind == "guest.board"]
    assert [(d["on"], d["guest_role"]) for d in given] == [(True, "interpreter")] + [
        (False, "interpreter")
    ]
    for peer in (therapist, guest):
        await peer.close()


@pytest.mark.hazard("HZ-35")
async def test_a_seventh_person_is_refused_clearly(
    app: web.Application, aiohttp_client, client: TestClient, invited: Invited
) -> None:  # type: ignore[no-untyped-def]
    links = [
        _token(
            (await _invite(client, invited.csrf, invited.session, name=f"Guest {n}"))["guests"][0][
                "url"
            ]
        )
        for n in range(6)
    ]
    therapist = await _open(client, invited.session)
    guests = [await _guest_in(aiohttp_client, client, therapist, t) for t in links[:5]]
    # six in the room: a guest who comes now is refused at once
    browser = await aiohttp_client(client.server)
    seventh = ProtocolPeer(await browser.ws_connect("/ws"), media=False)
    await seventh.send({"type": "guest_join", "token": links[5]})
    refused = await seventh.expect("error")
    assert refused["code"] == "room_full" and "at most 6 people" in refused["message"]
    # someone already waiting is not admitted past six
    young = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"), media=False)
    await young.send(join_message(invited.token))
    yid = (await young.expect("joined"))["you"]["id"]
    await therapist.send({"type": "admit", "participant": yid})
    refused = await therapist.expect("error")
    assert refused["code"] == "room_full" and "at most 6 people" in refused["message"]
    for peer in [therapist, seventh, young, *(g for g, _ in guests)]:
        await peer.close()
