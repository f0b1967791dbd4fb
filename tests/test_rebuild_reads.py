"""What a restarted server rebuilds its rooms from is read in three statements for all of
them, not three a room: each statement is a turn of the event loop to the database and back,
taken while every resume waits for the rebuild."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import DATABASE, HUB, SCHEDULE, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.edge.connection import Connection
from server.edge.continuity import lose_after
from server.edge.rebuilt import PARTICIPANT_KINDS, _Nobody, _read_all, _rebuild_once
from tests.client import ProtocolPeer
from tests.conftest import Staff, sign_in
from tests.factories import ready_client, therapist_view
from tests.scenes import schedule_session

ROOMS = 4


async def test_the_rooms_a_restart_rebuilds_are_read_in_three_statements_for_all(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    csrf = await sign_in(client, therapist)
    view = await therapist_view(app, therapist.username)
    kid = await ready_client(app, view)
    sessions, peers = [], []
    for _ in range(ROOMS):
        made = await schedule_session(client, csrf, kid.id)
        peer = ProtocolPeer(await client.ws_connect("/ws"), media=False)
        await peer.send({"type": "open_room", "session": made["id"]})
        await peer.expect("room_opened")
        sessions.append(made["id"])
        peers.append(peer)
    await app[SCHEDULE].end(view, sessions[-1])  # over: nothing to rebuild
    log = app[SESSION_LOG]
    for n, room in enumerate(sessions):  # what the log says of each room's people, and more
        await log.append(
            session_stream(room), "participant.joined", "system", {"participant": f"p{n}"}
        )
        await log.append(session_stream(room), "plan.step", "system", {"step": n})
        await log.append(
            session_stream(room), "participant.left", "system", {"participant": f"p{n}"}
        )
    places = app[HUB].places
    assert places is not None
    assert sorted(await places.rooms()) == sorted(sessions)  # every room holds a place

    statements: list[str] = []

    def counted(*args: Any) -> None:
        statements.append(str(args[2]))

    engine = app[DATABASE].engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", counted)
    try:
        known = await _read_all(app, sessions)
    finally:
        sa.event.remove(engine, "before_cursor_execute", counted)

    assert len(statements) == 3, statements
    assert sorted(known) == sorted(sessions[:-1])  # the ended session is left out
    for room in sessions[:-1]:  # as a room alone reads them
        appointment, held, said = known[room]
        assert appointment.id == room
        assert {p.token_hash for p in held} == {p.token_hash for p in await places.of_room(room)}
        alone = await log.entries(session_stream(room), PARTICIPANT_KINDS)
        assert [(e.seq, e.kind, e.details) for e in said] == [
            (e.seq, e.kind, e.details) for e in alone
        ]
        assert [e.kind for e in said] == ["participant.joined", "participant.left"]
        assert {e.details["participant"] for e in said} == {f"p{sessions.index(room)}"}
    for peer in peers:
        await peer.close()


async def test_a_rebuilt_room_knows_who_is_out_from_what_its_rebuild_read(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    """The links put out of a session (removed, or declined and not let back) come with the
    room's rebuild, from the entries it read: the resumes that follow read nothing more for
    them, and they are what the log says."""
    csrf = await sign_in(client, therapist)
    view = await therapist_view(app, therapist.username)
    made = await schedule_session(client, csrf, (await ready_client(app, view)).id)
    session = made["id"]
    peer = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await peer.send({"type": "open_room", "session": session})
    await peer.expect("room_opened")
    log, hub, stream = app[SESSION_LOG], app[HUB], session_stream(session)
    young = {"role": "young_person", "participant": "p1"}
    await log.append(stream, "participant.removed", "system", {**young, "link": "L1"})
    await log.append(stream, "participant.declined", "system", {**young, "link": "L2"})
    await log.append(stream, "participant.let_back", "system", {**young, "link": "L2"})
    hub.rooms.discard(hub.rooms.by_session[session])  # as a restarted server finds it

    known = await _read_all(app, [session])
    await _rebuild_once(Connection(app, _Nobody(), None), session, lose_after, known[session])
    room = hub.rooms.by_session[session]
    try:
        assert room.out_known
        assert (
            {link: (o.role.value, o.how) for link, o in room.out.items()}
            == (await app[SCHEDULE].put_out(session))
            == {"L1": ("young_person", "removed")}
        )
    finally:
        for person in room.participants.values():
            task = hub.grace.pop(person.id, None)
            if task is not None:
                task.cancel()
        await peer.close()
