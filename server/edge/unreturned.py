"""Rooms nobody came back to: after a crash or a node's death, a room is rebuilt as a single
server starts, or when the first of its people resumes on a node that took it over
(``rebuilt.py``), and that is when the log is told who the crash cut off; a room rebuilt
that nobody comes back to is closed by its own grace timers. A room rebuilt nowhere (held for
a node that died, its appointment no longer live when the server started, or its window
over) would leave its log with everyone in the room for good, and its places in the
database.

So every node looks, at an interval, for places whose room is held nowhere (not here, and
no other live node has it on the bus) and whose people have had their whole grace window
since they were last known connected (their places' ``seen_at``, refreshed every
``PLAYROOM_PLACE_SEEN_SECONDS`` while they are) and since this process started (a restart gives
everyone a full window to come back to it). For each such room it writes what the crash
could not, the ``participant.interrupted`` entries as a restore would, then each person
``participant.lost``, and lets the places go. A person whom the log already shows gone
(left, lost, removed, declined) gets no second entry."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from server.appkeys import HUB, SESSION_LOG, SETTINGS
from server.audit.sessionlog import session_stream
from server.edge.rebuilt import PARTICIPANT_KINDS, cut_off, gone, place_actor

log = logging.getLogger(__name__)


async def settle(app: web.Application) -> int:
    """Close the log of every room nobody came back to; returns how many rooms."""
    hub = app[HUB]
    places = hub.places
    if places is None:
        return 0
    grace = app[SETTINGS].reconnect_grace_seconds
    now = time.time()
    if now - hub.started < grace:  # this process's own window is not over yet
        return 0
    settled = 0
    for appointment_id in await places.rooms():
        if appointment_id in hub.rooms.by_session or hub.left_of(grace, appointment_id) > 0:
            continue
        try:
            settled += await _settle_room(app, appointment_id, grace, now)
        except Exception:  # one room's fault (the bus, the log) must not keep the others open
            log.exception("room not settled", extra={"event": "room_settle_failed"})
    if settled:
        log.info("rooms nobody came back to", extra={"event": "rooms_settled", "count": settled})
    return settled


async def _settle_room(app: web.Application, appointment_id: str, grace: float, now: float) -> int:
    """One room held for nobody any more: its log closed and its places let go (1), or left
    as it is (0)."""
    hub = app[HUB]
    places = hub.places
    assert places is not None
    held = await places.of_room(appointment_id)
    last_seen = max(((p.seen_at or p.created_at).timestamp() for p in held), default=0.0)
    if now - last_seen < grace + places.seen_every:
        return 0  # a node holding it may have died only lately
    # then claimed: a room live on another node stays there (its own grace timers decide),
    # and of two nodes looking at once, one settles it
    if (await hub.bus.claim(appointment_id)).home != hub.bus.node_id:
        return 0
    stream = session_stream(appointment_id)
    said = await app[SESSION_LOG].entries(stream, PARTICIPANT_KINDS)
    entries: list[tuple[str, str, dict[str, Any]]] = cut_off(held, said)
    cause = f"not back within the {grace:g} s grace window after the server stopped"
    for row in held:
        if gone(row, said):
            continue
        details = {"participant": row.participant_id, "role": row.role, "cause": cause}
        entries.append(("participant.lost", place_actor(row), details))
    if entries:
        await app[SESSION_LOG].append_all(stream, entries)
    await places.release_room(appointment_id)
    return 1
