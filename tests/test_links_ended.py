"""A join link after its session ended says so as a goodbye ("This session has ended. See
you next time."), on its page and to a page that joins again over the socket; a link the
therapist withdrew while the session was still on says it was withdrawn."""

from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.access.links import SESSION_ENDED
from server.appkeys import DATABASE, LINKS
from server.storage.models import Link
from tests.client import ProtocolPeer
from tests.factories import join_message
from tests.scenes import Room


async def _link_id(app: web.Application, session: str, role: str) -> str:
    async with app[DATABASE].read() as db:
        found = await db.scalar(
            sa.select(Link.id).where(Link.appointment_id == session, Link.role == role)
        )
    assert found is not None
    return str(found)


async def test_a_link_withdrawn_says_so_and_after_the_end_says_goodbye(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    await app[LINKS].revoke(await _link_id(app, room.session, "parent"))
    withdrawn = await (await client.get(f"/join/{room.parent_token}")).text()
    assert "This link has been withdrawn" in withdrawn and "This link is not working" in withdrawn

    await room.therapist.send({"type": "end_room"})
    await room.therapist.expect("room_ended")
    page = await client.get(f"/join/{room.token}")
    html = await page.text()
    assert "<h1>This session has ended</h1>" in html and "See you next time." in html
    assert "withdrawn" not in html and "not working" not in html
    assert "<title>Session ended" in html

    # a page still open joins again (its place was gone): told the same, in the same words
    outsider = await aiohttp_client(client.server)
    peer = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    await peer.send(join_message(room.token))
    refused = await peer.expect("error")
    assert (refused["code"], refused["message"]) == ("bad_link", SESSION_ENDED)
    await peer.close()
