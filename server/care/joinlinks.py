"""A session's join links: issued (one working link per role and person), checked as
someone joins or resumes, and put out of the session by the therapist (removed from the room,
declined from the waiting room) until let back, as the session's log has it.

A young person's link is a capability: signed, expiring, revocable (``access/links.py``).
``Schedule`` has these as its own; they are kept here apart from the scheduling and the gate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from server.access.accounts import StaffView
from server.access.links import SESSION_ENDED, Links, token_of
from server.audit.sessionlog import Entry, SessionLog, session_stream, staff_actor
from server.crypto.keys import KeyRing
from server.exceptions import PlayroomError, SessionEnded
from server.storage.db import Database, batches, utcnow
from server.storage.models import OVER, Appointment, GroupMember, Link, LinkKind
from server.storage.together import Together

JOIN_ROLES = ("young_person", "parent")
# what the session's log says of a join link put out of the session (its holder removed
# from the room or declined from the waiting room), and of one let back
PUT_OUT = {"participant.removed": "removed", "participant.declined": "declined"}
LET_BACK = "participant.let_back"


def put_out_of(entries: Iterable[Entry]) -> dict[str, tuple[str, str]]:
    """``Schedule.put_out`` from a session's log entries in order (those of other kinds are
    passed over): link id -> (role, "removed" or "declined")."""
    out: dict[str, tuple[str, str]] = {}
    for entry in entries:
        link = entry.details.get("link")
        if entry.kind not in (*PUT_OUT, LET_BACK) or not isinstance(link, str):
            continue  # another kind, or an observer removed: no link
        if entry.kind == LET_BACK:
            out.pop(link, None)
        else:
            out[link] = (str(entry.details.get("role", "")), PUT_OUT[entry.kind])
    return out


@dataclass(frozen=True)
class JoinLink:
    link: Link
    token: str


class JoinLinks:
    """The join links of sessions (``Schedule``'s, which gives what these need)."""

    db: Database
    ring: KeyRing
    links: Links
    log: SessionLog
    join_early: timedelta  # how long before its start a session's links work
    get: Callable[[StaffView, str], Awaitable[Appointment]]  # a session the user may see

    def __init__(self) -> None:
        # whether links still work, read for every resume asking at the same moment at once
        self._links_work: Together[tuple[str, str], bool] = Together(self._read_links_work)

    async def issue_join_link(
        self, user: StaffView, appointment_id: str, role: str, member: str | None = None
    ) -> JoinLink:
        """A join link bound to this session and role, valid from shortly before the start
        until the end; any earlier link for the same role is revoked. In a group's session
        the link names the ``member`` it is for (``care/groups.py``), whose gate it opens
        through, and only their earlier link for the role is revoked."""
        if role not in JOIN_ROLES:
            raise PlayroomError("Unknown role for a join link.")
        appointment = await self.get(user, appointment_id)
        if appointment.status in OVER:
            raise PlayroomError("This session has ended.")
        client_id = appointment.client_id or member
        if client_id is None or (
            appointment.client_id is not None and member not in (None, client_id)
        ):
            raise PlayroomError("Say which member of the group the link is for.")
        if appointment.group_id is not None and not await self._in_group(
            appointment.group_id, client_id
        ):
            raise PlayroomError("That young person is not in this group.")
        for old in await self.join_links(user, appointment_id):
            if (
                old.link.role == role
                and old.link.client_id == client_id
                and old.link.revoked_at is None
            ):
                await self.links.revoke(old.link.id)
                await self.log.append(
                    session_stream(appointment_id),
                    "link.revoked",
                    staff_actor(user.id),
                    {"link": old.link.id, "role": role},
                )
        issued = await self.links.issue(
            LinkKind.JOIN,
            client_id,
            role,
            appointment.starts_at - self.join_early,
            appointment.ends_at,
            user.id,
            appointment_id=appointment.id,
        )
        await self.log.append(
            session_stream(appointment.id),
            "link.issued",
            staff_actor(user.id),
            {"link": issued.link.id, "role": role, "expires_at": appointment.ends_at.isoformat()},
        )
        return JoinLink(issued.link, issued.token)

    async def _in_group(self, group_id: str, client_id: str) -> bool:
        async with self.db.read() as session:
            return await session.get(GroupMember, (group_id, client_id)) is not None

    async def join_links(self, user: StaffView, appointment_id: str) -> list[JoinLink]:
        """The session's join links; tokens are re-made from their rows (Ed25519 signatures
        are deterministic), so no token is ever stored."""
        await self.get(user, appointment_id)
        async with self.db.session() as session:
            rows = await session.scalars(
                sa.select(Link)
                .where(Link.appointment_id == appointment_id, Link.kind == LinkKind.JOIN.value)
                .order_by(Link.created_at)
            )
            links = list(rows)
        return [JoinLink(link, token_of(self.ring, link)) for link in links]

    async def by_join_token(
        self, token: str, now: datetime | None = None
    ) -> tuple[Link, Appointment]:
        link = await self.links.verify(token, LinkKind.JOIN, now)
        async with self.db.read() as session:
            appointment = await session.get(Appointment, link.appointment_id or "")
        if appointment is None or appointment.status in OVER:
            raise SessionEnded(SESSION_ENDED)
        return link, appointment

    async def link_still_works(self, link_id: str, appointment_id: str) -> bool:
        """A withdrawn or expired link, or an ended session, stops a resume too. The gate is
        not asked here: someone who comes back to the waiting room of a session that can no
        longer start is told so again at their next ping (``edge/lobby.py``), and a session
        under way goes on until the therapist ends it. Read together with the others asked
        for at the same moment (``storage/together.py``), after it was asked."""
        return await self._links_work.get((link_id, appointment_id))

    async def _read_links_work(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], bool]:
        links: dict[str, Link] = {}
        live: set[str] = set()
        async with self.db.read() as session:
            for some in batches(sorted({link for link, _ in pairs})):
                found = await session.scalars(sa.select(Link).where(Link.id.in_(some)))
                links.update((row.id, row) for row in found)
            for some in batches(sorted({appointment for _, appointment in pairs})):
                query = sa.select(Appointment.id).where(
                    Appointment.id.in_(some), Appointment.status.not_in(OVER)
                )
                live.update(await session.scalars(query))
        now = utcnow()
        return {
            (link_id, appointment_id): (
                (link := links.get(link_id)) is not None
                and link.revoked_at is None
                and now < link.expires_at
                and appointment_id in live
            )
            for link_id, appointment_id in pairs
        }

    async def clients_of_links(self, link_ids: list[str]) -> dict[str, str]:
        """The client each join link names (in a group's session, its member)."""
        if not link_ids:
            return {}
        async with self.db.read() as session:
            rows = await session.execute(
                sa.select(Link.id, Link.client_id).where(Link.id.in_(link_ids))
            )
            return {link_id: client_id for link_id, client_id in rows}

    async def put_out(self, appointment_id: str) -> dict[str, tuple[str, str]]:
        """The session's join links the therapist put out of it (removing their holder from
        the room, or declining them from the waiting room) and has not let back since, as
        the session's log has it: link id -> (role, "removed" or "declined"). Such a link
        joins nothing, and resumes nothing, in this session: after a restart and on every
        node, as the log is kept with the session."""
        return put_out_of(
            await self.log.entries(session_stream(appointment_id), kinds=(*PUT_OUT, LET_BACK))
        )
