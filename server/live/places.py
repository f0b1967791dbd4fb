"""Places in live rooms, kept in the database beside the in-memory hub, so that a server
restarted mid-session takes everyone straight back when their pages resume; and the live
room's settings (its lock, whether the others may clear the board), kept on its session for
the same reason.

A place is found by the SHA-256 of its resume token (the token itself is never stored) and
names the participant, their role and their link or staff account: nothing personal. It
also says when its person was last known to be connected (``seen_at``, refreshed every
``SEEN_EVERY`` seconds while they are): after a crash, which gave nobody a goodbye, that is
when the log says they were cut off.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.exceptions import STORAGE_FAILURES
from server.live.rooms import Participant, Room
from server.storage.db import Database, batches, utcnow
from server.storage.groupcommit import GroupCommit
from server.storage.models import Appointment
from server.storage.session_models import Place

log = logging.getLogger(__name__)
# how often the places of those connected are marked as seen: the precision of when, after a
# crash, the log says they were cut off (one write a process, whatever its rooms)
SEEN_EVERY = 10.0


async def keep_settings(db: Database, appointment_id: str, **values: bool) -> bool:
    """Store a live room's settings (``room_locked``, ``board_clear_allowed``, ``chat_on``) on
    its session, so that the room rebuilt after a restart or on another node has them. False
    when storage did not take them: the setting holds in this process all the same, and is
    stored again the next time it changes."""
    try:
        async with db.session() as session:
            await session.execute(
                sa.update(Appointment).where(Appointment.id == appointment_id).values(**values)
            )
    except STORAGE_FAILURES:
        log.warning("room setting not stored", extra={"event": "room_setting_failed"})
        return False
    return True


# a session's info: whose places a batch of the group commit has let go of already
_CLEARED = "places_cleared"


async def _clear_all(session: AsyncSession, units: list[_Hold]) -> None:
    """For a batch of the group commit: the places its units replace, deleted in one
    statement (the rows others of the batch add are written at its commit, in one INSERT a
    table)."""
    ids = sorted({unit.place.participant_id for unit in units})
    with session.no_autoflush:
        for some in batches(ids):
            await session.execute(sa.delete(Place).where(Place.participant_id.in_(some)))
    session.info[_CLEARED] = set(ids)


class _Hold:
    """A unit of the group commit: ``place`` replaces the one its participant held."""

    prepare = staticmethod(_clear_all)  # once for all of a batch's places

    def __init__(self, place: Place) -> None:
        self.place = place

    async def __call__(self, session: AsyncSession) -> None:
        whose = self.place.participant_id
        cleared: set[str] = session.info.get(_CLEARED, set())
        if whose in cleared:
            cleared.discard(whose)  # a second place of theirs in the batch deletes this one
        else:
            await session.execute(sa.delete(Place).where(Place.participant_id == whose))
        session.add(self.place)


class Places:
    def __init__(
        self, db: Database, seen_every: float = SEEN_EVERY, group: GroupCommit | None = None
    ) -> None:
        self.db = db
        self.seen_every = seen_every  # seconds between the marks of those connected
        self.group = group or GroupCommit(db)  # places written with the process's other rows

    async def hold(self, room: Room, participant: Participant) -> None:
        """Record ``participant``'s current token (their older ones stop working)."""
        assert participant.resume_hash is not None
        now = utcnow()
        place = Place(
            token_hash=participant.resume_hash,
            appointment_id=room.session_id,
            participant_id=participant.id,
            role=participant.role.value,
            link_id=participant.link_id,
            user_id=participant.user_id,
            was_waiting=participant.state.value == "waiting",
            created_at=now,
            seen_at=now,
        )

        await self.group.transaction(_Hold(place))

    async def moved(self, participant_id: str, waiting: bool) -> None:
        """Admitted, or sent back to the waiting room: where a restart takes them back to."""
        async with self.db.session() as session:
            await session.execute(
                sa.update(Place)
                .where(Place.participant_id == participant_id)
                .values(was_waiting=waiting)
            )

    async def seen(self, participant_ids: list[str]) -> None:
        """Those connected now: their places say so (see ``SEEN_EVERY``)."""
        if not participant_ids:
            return
        async with self.db.session() as session:
            for ids in batches(participant_ids):
                await session.execute(
                    sa.update(Place).where(Place.participant_id.in_(ids)).values(seen_at=utcnow())
                )

    async def release(self, participant_id: str) -> None:
        async with self.db.session() as session:
            await session.execute(sa.delete(Place).where(Place.participant_id == participant_id))

    async def release_room(self, appointment_id: str) -> None:
        """Every place of a room nobody came back to (``edge/unreturned.py``)."""
        async with self.db.session() as session:
            await session.execute(sa.delete(Place).where(Place.appointment_id == appointment_id))

    async def rooms(self) -> list[str]:
        """The sessions that places are held for, here or on any node."""
        async with self.db.read() as session:
            return list(await session.scalars(sa.select(Place.appointment_id).distinct()))

    async def find(self, token_hash: str) -> Place | None:
        async with self.db.read() as session:
            return await session.get(Place, token_hash)

    async def of_room(self, appointment_id: str) -> list[Place]:
        return (await self.of_rooms([appointment_id])).get(appointment_id, [])

    async def of_rooms(self, appointment_ids: list[str]) -> dict[str, list[Place]]:
        """``of_room`` for many rooms at once, in one read (a room with none: no key)."""
        held: dict[str, list[Place]] = {}
        async with self.db.read() as session:
            for some in batches(appointment_ids):
                rows = await session.scalars(sa.select(Place).where(Place.appointment_id.in_(some)))
                for row in rows:
                    held.setdefault(row.appointment_id, []).append(row)
        return held
