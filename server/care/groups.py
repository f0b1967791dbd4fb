"""Groups: a named set of a therapist's clients who meet in one room.

A group's session is one appointment that names the group instead of a client. Each member
keeps everything that is theirs: their consent, checklist, sign-off and disconnection plan,
and so their own gate; their own join link (and their parent's), which names the member; their
own answers before joining. The room opens for those whose gate is open, and the therapist
sees for each member whether they may join and, if not, why (``ready``). Nothing of one
member's reaches another member's record: the group's board and pictures stay with the
group's session, never in one child's box."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from server.access.accounts import StaffView
from server.audit.sessionlog import SessionLog, session_stream, staff_actor
from server.care.clients import Clients
from server.care.gate import GateResult
from server.care.joinlinks import JOIN_ROLES, JoinLink
from server.care.rhythm import NewSession
from server.care.schedule import Schedule
from server.care.series import Series
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import Forbidden, NotFound, PlayroomError
from server.storage.db import Database, utcnow
from server.storage.models import Appointment, Group, GroupMember, Role, new_id

# a group's room holds at most 6 people (``live.rooms.MAX_PARTICIPANTS``): the therapist and
# up to 5 others, members, parents or guests
MOST_MEMBERS = 5
FEWEST_MEMBERS = 2


class NewGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    members: Annotated[list[str], Field(min_length=FEWEST_MEMBERS, max_length=MOST_MEMBERS)]

    @field_validator("members")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each young person is in a group once")
        if any(len(v) > 32 for v in value):
            raise ValueError("not a client")
        return value


@dataclass(frozen=True)
class Member:
    client_id: str
    name: str


@dataclass(frozen=True)
class GroupView:
    id: str
    name: str
    members: list[Member]


@dataclass(frozen=True)
class Readiness:
    """Whether a member may join the group's sessions now (their own way in, the gate as
    ``Schedule.joining_gate`` asks it), and if not why."""

    member: Member
    gate: GateResult


@dataclass(frozen=True)
class MemberLinks:
    member: Member
    gate: GateResult
    links: list[JoinLink]


class Groups:
    def __init__(self, db: Database, ring: KeyRing, series: Series) -> None:
        self.db = db
        self.ring = ring
        self.series = series
        self.schedule: Schedule = series.schedule
        self.clients: Clients = self.schedule.clients
        self.log: SessionLog = self.schedule.log

    async def create(self, user: StaffView, data: NewGroup) -> GroupView:
        """A group of the therapist's own clients (each their named worker)."""
        if user.role is not Role.THERAPIST:
            raise Forbidden("Only therapists hold a caseload.")
        for client_id in data.members:
            await self.clients.get(user, client_id, write=True)
        row = Group(id=new_id(), therapist_id=user.id, created_at=utcnow())
        seal(self.ring, row, "name_enc", data.name)
        async with self.db.session() as session:
            session.add(row)
            await session.flush()
            for client_id in data.members:
                session.add(GroupMember(group_id=row.id, client_id=client_id, added_at=utcnow()))
        return await self.get(user, row.id)

    async def get(self, user: StaffView, group_id: str) -> GroupView:
        async with self.db.read() as session:
            row = await session.get(Group, group_id) if len(group_id) <= 32 else None
        if row is None:
            raise NotFound("There is no such group.")
        if user.role is not Role.THERAPIST or row.therapist_id != user.id:
            raise Forbidden("This group is not yours.")
        return await self._view(row)

    async def _view(self, row: Group) -> GroupView:
        async with self.db.read() as session:
            ids = list(
                await session.scalars(
                    sa.select(GroupMember.client_id).where(GroupMember.group_id == row.id)
                )
            )
        members = [Member(i, await self.clients.display_name(i)) for i in ids]
        members.sort(key=lambda m: m.name.casefold())
        return GroupView(row.id, unseal(self.ring, row, "name_enc") or "", members)

    async def list_for(self, user: StaffView) -> list[GroupView]:
        if user.role is not Role.THERAPIST:
            return []
        async with self.db.read() as session:
            rows = list(
                await session.scalars(sa.select(Group).where(Group.therapist_id == user.id))
            )
        groups = [await self._view(r) for r in rows]
        return sorted(groups, key=lambda g: g.name.casefold())

    async def name(self, group_id: str) -> str:
        """The group's name, for a record the caller has already checked access to."""
        async with self.db.read() as session:
            row = await session.get(Group, group_id)
        return (unseal(self.ring, row, "name_enc") or "") if row else ""

    async def ready(self, user: StaffView, group_id: str) -> list[Readiness]:
        """Each member, and whether their own way in is open now."""
        group = await self.get(user, group_id)
        return [Readiness(m, await self.schedule.joining_gate(m.client_id)) for m in group.members]

    async def schedule_session(
        self, user: StaffView, group_id: str, data: NewSession
    ) -> Appointment:
        """One session of the group: a join link for each member (and their parent's, when
        asked), each naming the member, whose own gate it opens through. Outside the
        service's safeguarding hours it needs the therapist's reason, as any session does."""
        group = await self.get(user, group_id)
        if data.starts_at < utcnow() - timedelta(minutes=5):
            raise PlayroomError("A session cannot be scheduled in the past.", code="in_the_past")
        ends = data.starts_at + timedelta(minutes=data.minutes)
        rationale = self.series.rationale([(data.starts_at, ends)], data.rationale)
        appointment = Appointment(
            id=new_id(),
            client_id=None,
            group_id=group.id,
            therapist_id=user.id,
            starts_at=data.starts_at,
            ends_at=ends,
            status="scheduled",
            relay_only=data.relay_only,
            created_at=utcnow(),
        )
        seal(self.ring, appointment, "hours_rationale_enc", rationale)
        async with self.db.session() as session:
            session.add(appointment)
        await self.log.append(
            session_stream(appointment.id),
            "session.scheduled",
            staff_actor(user.id),
            {
                "starts_at": appointment.starts_at.isoformat(),
                "minutes": data.minutes,
                "group": group.id,
                "members": len(group.members),
            },
        )
        for member in group.members:
            for role in JOIN_ROLES if data.parent_link else JOIN_ROLES[:1]:
                await self.schedule.issue_join_link(user, appointment.id, role, member.client_id)
        return appointment

    async def sessions(self, user: StaffView, group_id: str) -> list[Appointment]:
        await self.get(user, group_id)
        async with self.db.read() as session:
            rows = await session.scalars(
                sa.select(Appointment)
                .where(Appointment.group_id == group_id)
                .order_by(Appointment.starts_at)
            )
            return list(rows)

    async def member_links(self, user: StaffView, appointment: Appointment) -> list[MemberLinks]:
        """A group session's join links, member by member, with each member's gate: a link
        is offered only while its member's way in is open."""
        if appointment.group_id is None:
            return []
        group = await self.get(user, appointment.group_id)
        links = await self.schedule.join_links(user, appointment.id)
        return [
            MemberLinks(
                member,
                await self.schedule.joining_gate(member.client_id),
                [j for j in links if j.link.client_id == member.client_id],
            )
            for member in group.members
        ]
