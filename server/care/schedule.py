"""Appointments (scheduled sessions), opening a room through the gate, and what a live
session keeps; their join links are in ``joinlinks.py``.

A join link is offered, and works, only while the gate lets the young person's side of the
session go on (``for_joining``): consent, the checklist, its sign-off and the plan. The
therapist's own checks for the day are not part of that: they are made on the day, before
the room opens, and a young person who comes in first waits where the therapist sees them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncSession

from server.access.accounts import StaffView
from server.access.links import Links
from server.audit.sessionlog import SessionLog, session_stream, staff_actor
from server.care.clients import Clients
from server.care.gate import GateResult, GateStatus
from server.care.gate_service import Gatekeeper
from server.care.joinlinks import JOIN_ROLES, JoinLinks
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import (
    Forbidden,
    GateClosed,
    NoRelay,
    NotFound,
    PlayroomError,
)
from server.storage.db import Database, batches, utcnow
from server.storage.models import OVER, Appointment, GroupMember, Role, new_id
from server.storage.session_models import JoinCheck, Place, PlanStep

MOST_AHEAD = timedelta(days=731)  # how far ahead a session can be scheduled
# the gate's reasons that are the therapist's own checks for the day (``gate.evaluate``);
# not ``no_supervisor``: a session without a supervisor must not start, so no link either
THERAPISTS_DAY = ("daily_checks_missing", "daily_check")
SIGN_OFF_REASONS = ("sign_off", "forged_sign_off")
# a waiting page pings every 2 s: the gate is asked again at most this often for a session
RECHECK_SECONDS = 5.0
FORGET_SECONDS = 3600.0  # what the gate said for a session nobody asked about since


def for_joining(result: GateResult) -> GateResult:
    """The gate as it stands for the young person's (or parent's) way in: every reason but
    the therapist's own checks for the day. Those are the therapist's to make on the day,
    before they open the room: a link sent ahead works once consent, the checklist, its
    sign-off and the plan are in place, and a young person who comes in before the checks
    are made waits in the waiting room, shown on the therapist's room page."""
    reasons = tuple(r for r in result.reasons if r.code not in THERAPISTS_DAY)
    if any(r.code not in SIGN_OFF_REASONS for r in reasons):
        status = GateStatus.BLOCKED
    elif any(r.code == "sign_off" for r in reasons):
        status = GateStatus.NEEDS_SIGN_OFF
    else:
        status = GateStatus.OPEN
    return GateResult(status, reasons, result.sign_off_items)


class NewAppointment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    starts_at: AwareDatetime
    minutes: Annotated[int, Field(ge=10, le=180)] = 50
    relay_only: bool = False
    parent_link: bool = False

    @field_validator("starts_at")
    @classmethod
    def _within_reach(cls, value: datetime) -> datetime:
        """At most two years ahead: a later start is a typing slip (and one near the end of
        the calendar has no end time, nor a UTC time to store)."""
        now = utcnow()
        if value.year > now.year + 2 or value - now > MOST_AHEAD:
            raise ValueError("a session can be scheduled at most two years ahead")
        return value


@dataclass(frozen=True)
class WayIn:
    """The gate for a session's way in (``for_joining``), and whether it closed since it
    was last asked for that session in this process (so the therapist is told once)."""

    gate: GateResult
    closed_now: bool


@dataclass(frozen=True)
class _Asked:
    at: float  # time.monotonic()
    gate: GateResult


class Schedule(JoinLinks):
    """Sessions: scheduled, opened through the gate, ended; with their join links
    (``joinlinks.py``)."""

    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        clients: Clients,
        links: Links,
        gatekeeper: Gatekeeper,
        join_early_minutes: int,
        log: SessionLog,
        relays: bool = True,
    ) -> None:
        super().__init__()
        self.log = log
        # whether browsers are given a TURN server (``media.turn.relays``): a relay-only
        # session's room does not open without one
        self.relays = relays
        self.db = db
        self.ring = ring
        self.clients = clients
        self.links = links
        self.gatekeeper = gatekeeper
        self.join_early = timedelta(minutes=join_early_minutes)
        self.recheck_seconds = RECHECK_SECONDS
        self._asked: dict[str, _Asked] = {}  # session id -> what the gate said last

    async def create(self, user: StaffView, client_id: str, data: NewAppointment) -> Appointment:
        client = await self.clients.get(user, client_id, write=True)
        if data.starts_at < utcnow() - timedelta(minutes=5):
            raise PlayroomError("A session cannot be scheduled in the past.")
        appointment = Appointment(
            id=new_id(),
            client_id=client.id,
            therapist_id=user.id,
            starts_at=data.starts_at,
            ends_at=data.starts_at + timedelta(minutes=data.minutes),
            status="scheduled",
            relay_only=data.relay_only,
            created_at=utcnow(),
        )
        async with self.db.session() as session:
            session.add(appointment)
        await self.log.append(
            session_stream(appointment.id),
            "session.scheduled",
            staff_actor(user.id),
            {"starts_at": appointment.starts_at.isoformat(), "minutes": data.minutes},
        )
        for role in JOIN_ROLES if data.parent_link else JOIN_ROLES[:1]:
            await self.issue_join_link(user, appointment.id, role)
        return appointment

    async def get(self, user: StaffView, appointment_id: str) -> Appointment:
        async with self.db.session() as session:
            row = (
                await session.get(Appointment, appointment_id)
                if len(appointment_id) <= 32
                else None
            )
        if row is None:
            raise NotFound("There is no such session.")
        if user.role is not Role.THERAPIST or row.therapist_id != user.id:
            raise Forbidden("This session is not yours.")
        return row

    async def for_client(self, user: StaffView, client_id: str) -> list[Appointment]:
        await self.clients.get(user, client_id)
        return await self.appointments(client_id)

    async def appointments(
        self, client_id: str, session: AsyncSession | None = None
    ) -> list[Appointment]:
        """The client's sessions, earliest first (the caller has checked access)."""
        async with self.db.read(session) as session:
            rows = await session.scalars(
                sa.select(Appointment)
                .where(Appointment.client_id == client_id)
                .order_by(Appointment.starts_at)
            )
            return list(rows)

    async def for_therapist_today(self, user: StaffView) -> list[Appointment]:
        day = self.gatekeeper.today()
        async with self.db.session() as session:
            rows = await session.scalars(
                sa.select(Appointment)
                .where(
                    Appointment.therapist_id == user.id,
                    Appointment.status.in_(("scheduled", "open")),
                )
                .order_by(Appointment.starts_at)
            )
            return [r for r in rows if self.gatekeeper.today(r.starts_at) == day]

    def cannot_relay(self, appointment: Appointment) -> bool:
        """A relay-only session with no TURN server to relay through: its media would never
        connect, so its room does not open (``NoRelay``), and its page says why."""
        return appointment.relay_only and not self.relays

    async def open_room(self, user: StaffView, appointment_id: str) -> Appointment:
        """Open the room, asking the gate at this moment. Raises GateClosed with reasons, or
        NoRelay for a relay-only session without TURN."""
        appointment = await self.get(user, appointment_id)
        if appointment.status in OVER:
            raise PlayroomError("This session has ended.")
        if self.cannot_relay(appointment):
            raise NoRelay()
        result = await self.opening_gate(appointment, user.id)
        await self.log.append(
            session_stream(appointment.id),
            "gate.evaluated",
            staff_actor(user.id),
            {"open": result.is_open, "reasons": [[r.code, r.item] for r in result.reasons]},
        )
        if not result.is_open:
            raise GateClosed(result)
        if result.sign_off_items:  # open only because a supervisor signed the answers off
            await self.log.append(
                session_stream(appointment.id),
                "gate.signed_off",
                staff_actor(user.id),
                {"items": list(result.sign_off_items)},
            )
        async with self.db.session() as session:
            row = await session.get(Appointment, appointment_id)
            assert row is not None
            row.status = "open"
        appointment.status = "open"
        return appointment

    async def opening_gate(self, appointment: Appointment, therapist_id: str) -> GateResult:
        """The gate for opening the room: the client's; for a group's session, open once it
        is open for one member at least (the therapist's own checks for the day are part of
        each), each member coming in through their own (``for_joining``), and closed with
        the first member's reasons otherwise."""
        if appointment.client_id is not None:
            return await self.gatekeeper.evaluate(appointment.client_id, therapist_id=therapist_id)
        first: GateResult | None = None
        for client_id in await self.members_of(appointment):
            result = await self.gatekeeper.evaluate(client_id, therapist_id=therapist_id)
            if result.is_open:
                return result
            first = first or result
        if first is None:
            raise PlayroomError("This group has nobody in it.")
        return first

    async def members_of(self, appointment: Appointment) -> list[str]:
        """The clients a session is for: its client, or each member of its group."""
        if appointment.client_id is not None:
            return [appointment.client_id]
        async with self.db.read() as session:
            return list(
                await session.scalars(
                    sa.select(GroupMember.client_id)
                    .where(GroupMember.group_id == appointment.group_id)
                    .order_by(GroupMember.added_at, GroupMember.client_id)
                )
            )

    async def end(self, user: StaffView, appointment_id: str, status: str = "ended") -> None:
        """End or cancel a session: its links stop working at once.

        The log is sealed first: an ended session must have its end checkpoint (a session
        log verifies against that), so a crash between the two steps leaves a session still
        open with a sealed log, which ending it again seals once more, never an ended session
        whose log looks cut short."""
        await self.get(user, appointment_id)
        stream = session_stream(appointment_id)
        await self.log.append(stream, f"session.{status}", staff_actor(user.id))
        await self.log.checkpoint(stream, "end")  # the record is sealed
        async with self.db.session() as session:
            row = await session.get(Appointment, appointment_id)
            assert row is not None
            row.status = status
        await self.links.revoke_for_appointment(appointment_id)

    async def joining_gate(self, client_id: str) -> GateResult:
        """The gate for the way in to a session of ``client_id``, asked now: whether its
        join links may be offered and may let anyone into the waiting room."""
        return for_joining(await self.gatekeeper.evaluate(client_id))

    async def way_in(self, appointment_id: str, client_id: str) -> WayIn:
        """The gate for the way in, for someone already waiting: asked again at most every
        ``recheck_seconds`` for a session (each waiting page asks with its pings), and
        whether it closed since it was last asked (consent withdrawn, a checklist revised).
        A session not asked about before counts as having been open: its people came in
        through the gate."""
        now = time.monotonic()
        key = f"{appointment_id}/{client_id}"  # in a group's session, each member's own
        before = self._asked.get(key)
        if before is not None and now - before.at < self.recheck_seconds:
            return WayIn(before.gate, closed_now=False)
        gate = await self.joining_gate(client_id)
        for session_id, asked in list(self._asked.items()):
            if now - asked.at > FORGET_SECONDS:
                del self._asked[session_id]
        self._asked[key] = _Asked(now, gate)
        was_open = before is None or before.gate.is_open
        return WayIn(gate, closed_now=was_open and not gate.is_open)

    async def people_here(self, appointment_id: str) -> list[Place]:
        """Whoever holds a place in the session's live room, on whichever node it runs (the
        places kept for a restart, ``live/places.py``): the waiting ones have
        ``was_waiting``. Earliest first."""
        async with self.db.read() as session:
            rows = await session.scalars(
                sa.select(Place)
                .where(Place.appointment_id == appointment_id)
                .order_by(Place.created_at)
            )
            return list(rows)

    async def live_of(self, appointment_ids: list[str]) -> dict[str, Appointment]:
        """The sessions among these that are not gone, ended or cancelled, in one read (a
        room rebuilt after a restart is rebuilt only for a live one)."""
        async with self.db.read() as session:
            found: dict[str, Appointment] = {}
            for some in batches(appointment_ids):
                rows = await session.scalars(
                    sa.select(Appointment).where(
                        Appointment.id.in_(some), Appointment.status.not_in(OVER)
                    )
                )
                found.update((row.id, row) for row in rows)
        return found

    async def save_join_checks(
        self, appointment_id: str, link_id: str, checks: dict[str, str]
    ) -> None:
        """A young person's or parent's pre-join answers, sealed."""
        if not checks:
            return
        row = JoinCheck(
            id=new_id(), appointment_id=appointment_id, link_id=link_id, created_at=utcnow()
        )
        seal(self.ring, row, "answers_enc", json.dumps(checks, sort_keys=True))
        async with self.db.session() as session:
            session.add(row)

    async def is_first(self, appointment: Appointment) -> bool:
        """Whether this is the client's (or the group's) first session (none of theirs has
        ended before it): the one where the agreement is read together."""
        async with self.db.read() as session:
            earlier = await session.scalar(
                sa.select(sa.func.count())
                .select_from(Appointment)
                .where(
                    Appointment.client_id == appointment.client_id
                    if appointment.client_id is not None
                    else Appointment.group_id == appointment.group_id,
                    Appointment.id != appointment.id,
                    Appointment.status == "ended",
                    Appointment.starts_at < appointment.starts_at,
                )
            )
        return not earlier

    async def join_checks(self, appointment_id: str, link_id: str) -> dict[str, str] | None:
        """The pre-join answers this link last gave for this session, or None if it gave
        none: someone coming back (a quick exit, a closed tab) is asked only what can have
        changed since."""
        async with self.db.read() as session:
            row = await session.scalar(
                sa.select(JoinCheck)
                .where(JoinCheck.appointment_id == appointment_id, JoinCheck.link_id == link_id)
                .order_by(JoinCheck.created_at.desc())
                .limit(1)
            )
        if row is None:
            return None
        answers: dict[str, str] = json.loads(unseal(self.ring, row, "answers_enc") or "{}")
        return answers

    async def record_plan_step(
        self, appointment_id: str, therapist_id: str, case: str, step: str, outcome: str
    ) -> None:
        """What came of one step of the disconnection plan, as the therapist recorded it."""
        row = PlanStep(
            id=new_id(),
            appointment_id=appointment_id,
            case=case,
            step=step,
            outcome=outcome,
            recorded_by=therapist_id,
            created_at=utcnow(),
        )
        async with self.db.session() as session:
            session.add(row)
