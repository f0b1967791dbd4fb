"""Removed or declined means out: the link of someone the therapist removed from the room or
declined from the waiting room joins nothing more in this session, and its resume token is
spent, until the therapist lets them back; then the same link comes to the waiting room
again. The session's log keeps both, so a restart changes nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import DATABASE, SCHEDULE, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.records.sessions import describe
from server.storage.session_models import Place
from tests.client import ProtocolPeer
from tests.conftest import PASSWORD
from tests.factories import join_message
from tests.helpers import serve_with_therapist
from tests.live import LiveStaff, ready_session
from tests.scenes import Room, admitted, join_with

OUT = "Your therapist has asked you to leave this session. They will be in touch."


def _latest(peer: ProtocolPeer, kind: str) -> dict[str, Any] | None:
    return next((m for m in reversed(peer.inbox) if m["type"] == kind), None)


async def _out_shown(therapist: ProtocolPeer, out: list[dict[str, str]]) -> None:
    """The therapist's latest ``lobby`` lists exactly ``out`` (link, role, how)."""

    def shown() -> bool:
        lobby = _latest(therapist, "lobby")
        return (
            lobby is not None
            and [{k: o[k] for k in ("link", "role", "how")} for o in lobby["out"]] == out
        )

    await therapist.wait_for(shown)


async def _refused(aiohttp_client, client: TestClient, token: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The same link again, from a fresh browser: refused."""
    again = await join_with(aiohttp_client, client, token)
    error = await again.expect("error")
    assert not [m for m in again.inbox if m["type"] in ("joined", "waiting")]
    await again.close()
    return error


@pytest.mark.hazard("HZ-02")
async def test_a_removed_young_person_stays_out_until_let_back(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    young, joined = await admitted(aiohttp_client, client, room)
    link, _ = await app[SCHEDULE].by_join_token(room.token)
    await therapist.send({"type": "remove", "participant": joined["you"]["id"], "id": "out"})
    await therapist.expect("done", id="out")
    # the same link: refused kindly, on the socket and on the page; the therapist is told
    refused = await _refused(aiohttp_client, client, room.token)
    assert (refused["code"], refused["message"]) == ("not_let_back", OUT)
    assert (await young.expect("removed"))["message"] == OUT
    await _out_shown(therapist, [{"link": link.id, "role": "young_person", "how": "removed"}])
    async with app[DATABASE].read() as db:  # no place is held for them, here or elsewhere
        places = await db.scalars(sa.select(Place.participant_id))
        assert joined["you"]["id"] not in set(places)
    told = await therapist.expect("notice", code="not_let_back")
    assert "Let them back in" in told["message"]
    page = await (await aiohttp_client(client.server)).get(f"/join/{room.token}")
    html = await page.text()
    assert page.status == 200 and "Your therapist has asked you to leave this session" in html
    assert 'name="where.place"' not in html and "join.js" not in html  # nothing asked, no script
    # and their resume token is spent
    back = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"), media=False)
    await back.send({"type": "resume", "token": joined["resume"]})
    assert (await back.expect("error"))["code"] == "bad_resume"
    await back.close()

    # only the therapist lets back, and only a link that is out
    parent = await join_with(aiohttp_client, client, room.parent_token)
    await parent.expect("waiting")
    await parent.send({"type": "let_back", "link": link.id})
    assert (await parent.expect("error"))["code"] == "refused"
    await therapist.send({"type": "let_back", "link": "ab" * 16})
    assert (await therapist.expect("error"))["message"] == "That link is not out of this session."

    await therapist.send({"type": "let_back", "link": link.id, "id": "back"})
    let_back = await therapist.expect("notice", code="let_back")
    assert let_back["message"] == (
        "The young person can come back with the same link, to the waiting room."
    )
    await therapist.expect("done", id="back")
    await _out_shown(therapist, [])
    again = await join_with(aiohttp_client, client, room.token)
    await again.expect("waiting")  # the same link, back to the waiting room

    entries = await app[SESSION_LOG].entries(session_stream(room.session))
    kinds = [e for e in entries if e.kind in ("participant.removed", "participant.let_back")]
    assert [(e.kind, e.details["link"]) for e in kinds] == [
        ("participant.removed", link.id),
        ("participant.let_back", link.id),
    ]
    assert [describe(e) for e in kinds] == [
        "Removed the young person: their link cannot join again until let back",
        "Let the young person back: their link joins the waiting room again",
    ]
    await asyncio.gather(young.close(), parent.close(), again.close())


@pytest.mark.hazard("HZ-02")
async def test_a_declined_parent_stays_out_until_let_back(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    therapist = room.therapist
    parent = await join_with(aiohttp_client, client, room.parent_token)
    joined = await parent.expect("joined")
    link, _ = await app[SCHEDULE].by_join_token(room.parent_token)
    await therapist.send({"type": "decline", "participant": joined["you"]["id"], "id": "out"})
    await parent.expect("declined")
    await therapist.expect("done", id="out")
    refused = await _refused(aiohttp_client, client, room.parent_token)
    assert refused["code"] == "not_let_back"
    await _out_shown(therapist, [{"link": link.id, "role": "parent", "how": "declined"}])
    back = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"), media=False)
    await back.send({"type": "resume", "token": joined["resume"]})
    assert (await back.expect("error"))["code"] == "bad_resume"

    await therapist.send({"type": "let_back", "link": link.id, "id": "back"})
    await therapist.expect("done", id="back")
    again = await join_with(aiohttp_client, client, room.parent_token)
    await again.expect("waiting")
    entries = await app[SESSION_LOG].entries(session_stream(room.session))
    declined = next(e for e in entries if e.kind == "participant.declined")
    assert describe(declined) == (
        "Declined the parent or carer: their link cannot join again until let back"
    )
    await asyncio.gather(parent.close(), back.close(), again.close())


@pytest.mark.hazard("HZ-02")
async def test_out_holds_across_a_server_restart(tmp_path: Path) -> None:
    """A crash right after a removal: the room rebuilt from the database keeps the young
    person out (their old resume token and their link both refused) and shows the therapist
    who is out, until they let them back."""
    server, env = serve_with_therapist(
        tmp_path / "data", "rio", PASSWORD, PLAYROOM_RECONNECT_GRACE_SECONDS="20"
    )
    staff = LiveStaff(server.url, "rio", PASSWORD)
    outsider = aiohttp.ClientSession()
    ws_url = f"{server.url.replace('http', 'ws', 1)}/ws"
    try:
        await staff.sign_in()
        session, links = await ready_session(staff)
        therapist = ProtocolPeer(await staff.ws(), media=False)
        await therapist.send({"type": "open_room", "session": session})
        t_token = (await therapist.expect("room_opened"))["resume"]
        young = ProtocolPeer(await outsider.ws_connect(ws_url), media=False)
        await young.send(join_message(links["young_person"]))
        joined = await young.expect("joined")
        await therapist.send({"type": "admit", "participant": joined["you"]["id"]})
        await young.expect("admitted")
        await therapist.send({"type": "remove", "participant": joined["you"]["id"], "id": "out"})
        await young.expect("removed")
        await therapist.expect("done", id="out")

        server.crash_and_restart()
        back = ProtocolPeer(await outsider.ws_connect(ws_url), media=False)
        await back.send({"type": "resume", "token": joined["resume"]})
        assert (await back.expect("error"))["code"] == "bad_resume"
        await back.send(join_message(links["young_person"]))
        assert (await back.expect("error"))["code"] == "not_let_back"
        therapist = ProtocolPeer(await staff.ws(), media=False)
        await therapist.send({"type": "resume", "token": t_token})
        await therapist.expect("resumed")
        await therapist.wait_for(lambda: bool((_latest(therapist, "lobby") or {}).get("out")))
        lobby = _latest(therapist, "lobby")
        assert lobby is not None and [(o["role"], o["how"]) for o in lobby["out"]] == [
            ("young_person", "removed")
        ]
        link = lobby["out"][0]["link"]
        await therapist.send({"type": "let_back", "link": link, "id": "back"})
        await therapist.expect("done", id="back")
        await back.send(join_message(links["young_person"]))
        await back.expect("waiting")
        await asyncio.gather(therapist.close(), back.close(), young.close())
    finally:
        await staff.close()
        await outsider.close()
        server.stop()
