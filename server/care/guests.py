"""Guests: an interpreter or another professional (a social worker, a teacher, another
clinician) invited by the therapist to a session, announced to everyone as a guest.

An invitation records the young person's agreement to the guest's presence (and a parent's
or carer's, where the therapist marks it as needed): without it no guest link is made. Each
invitation is for one session and has its own capability link (``LinkKind.GUEST``), signed,
valid from shortly before the session until its end, and withdrawn by the therapist or by
the session's end. Inviting "for the rest of the series" makes one invitation, and one
link, per session still to come: a link never opens a session other than its own, and
withdrawing one leaves the others as they are.

The guest's name is personal data: sealed at rest, never in a log (log entries name the
guest's role only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator

from server.access import tokens
from server.access.accounts import StaffView
from server.access.links import Links, token_of
from server.audit.sessionlog import SessionLog, session_stream, staff_actor
from server.care.schedule import Schedule
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import NotFound, PlayroomError, SessionEnded, TokenError
from server.storage.db import Database, utcnow
from server.storage.models import OVER, Appointment, Link, LinkKind, new_id
from server.storage.session_models import Guest

GuestRole = Literal["interpreter", "social_worker", "teacher", "clinician", "other"]
GUEST_ROLES: dict[str, str] = {
    "interpreter": "interpreter",
    "social_worker": "social worker",
    "teacher": "teacher",
    "clinician": "clinician",
    "other": "professional",
}
NAME_MAX = 80
# what a guest link says once its session is over (ended, cancelled, or past its end)
GUEST_OVER = "The session this link was for is over. Thank you for joining."


class NewGuest(BaseModel):
    """An invitation as the therapist fills it in."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX)]
    role: GuestRole
    young_person_agreed_on: date
    parent_needed: bool = False
    parent_agreed_on: date | None = None
    series: bool = False  # this session and every one of its series still to come

    @model_validator(mode="after")
    def _agreed(self) -> NewGuest:
        today = utcnow().date()
        if self.young_person_agreed_on > today:
            raise ValueError("the young person's agreement is recorded once it is given")
        if self.parent_needed and self.parent_agreed_on is None:
            raise ValueError("the parent's or carer's agreement is needed: give its date")
        if self.parent_agreed_on is not None and self.parent_agreed_on > today:
            raise ValueError("the parent's or carer's agreement is recorded once it is given")
        return self


@dataclass(frozen=True)
class GuestView:
    """An invitation as the session's page shows it to its therapist."""

    guest: Guest
    name: str
    role_name: str
    token: str | None  # None: no link (withdrawn, or gone with retention)
    live: bool  # the link still works


class Guests:
    def __init__(
        self, db: Database, ring: KeyRing, schedule: Schedule, links: Links, log: SessionLog
    ) -> None:
        self.db = db
        self.ring = ring
        self.schedule = schedule
        self.links = links
        self.log = log

    async def invite(self, user: StaffView, appointment_id: str, data: NewGuest) -> list[Guest]:
        """Invite a guest to this session (and, with ``series``, to each later session of
        its series still scheduled): one invitation and one link per session."""
        appointment = await self.schedule.get(user, appointment_id)
        if appointment.status in OVER:
            raise PlayroomError("This session has ended: nobody can be invited to it.")
        if appointment.client_id is None:  # each member would have to agree, and each parent
            raise PlayroomError(
                "Guests are invited to one young person's sessions, not yet to a group's."
            )
        sessions = [appointment]
        if data.series and appointment.series_id is not None:
            async with self.db.read() as session:
                later = await session.scalars(
                    sa.select(Appointment)
                    .where(
                        Appointment.series_id == appointment.series_id,
                        Appointment.status == "scheduled",
                        Appointment.starts_at > appointment.starts_at,
                    )
                    .order_by(Appointment.starts_at)
                )
                sessions += list(later)
        return [await self._invite_one(user, a, data) for a in sessions]

    async def _invite_one(self, user: StaffView, appointment: Appointment, data: NewGuest) -> Guest:
        assert appointment.client_id is not None  # ``invite`` refuses a group's session
        issued = await self.links.issue(
            LinkKind.GUEST,
            appointment.client_id,
            "guest",
            appointment.starts_at - self.schedule.join_early,
            appointment.ends_at,
            user.id,
            appointment_id=appointment.id,
        )
        guest = Guest(
            id=new_id(),
            appointment_id=appointment.id,
            client_id=appointment.client_id,
            link_id=issued.link.id,
            role=data.role,
            young_person_agreed_on=data.young_person_agreed_on,
            parent_needed=data.parent_needed,
            parent_agreed_on=data.parent_agreed_on,
            created_by=user.id,
            created_at=utcnow(),
        )
        seal(self.ring, guest, "name_enc", data.name)
        async with self.db.session() as session:
            session.add(guest)
        agreed = {"young_person_agreed_on": data.young_person_agreed_on.isoformat()}
        if data.parent_agreed_on is not None:
            agreed["parent_agreed_on"] = data.parent_agreed_on.isoformat()
        await self.log.append(
            session_stream(appointment.id),
            "guest.invited",
            staff_actor(user.id),
            {
                "guest": guest.id,
                "guest_role": data.role,
                "link": issued.link.id,
                "parent_needed": data.parent_needed,
                **agreed,
                "expires_at": appointment.ends_at.isoformat(),
            },
        )
        return guest

    async def for_session(self, user: StaffView, appointment_id: str) -> list[GuestView]:
        """The session's guests, their names opened, with their links' tokens made again."""
        await self.schedule.get(user, appointment_id)
        now = utcnow()
        async with self.db.read() as session:
            rows = await session.execute(
                sa.select(Guest, Link)
                .outerjoin(Link, Guest.link_id == Link.id)
                .where(Guest.appointment_id == appointment_id)
                .order_by(Guest.created_at)
            )
            pairs = [(g, link) for g, link in rows]
        views = []
        for guest, link in pairs:
            live = (
                link is not None
                and guest.withdrawn_at is None
                and link.revoked_at is None
                and now < link.expires_at
            )
            views.append(
                GuestView(
                    guest,
                    unseal(self.ring, guest, "name_enc") or "",
                    GUEST_ROLES.get(guest.role, guest.role),
                    token_of(self.ring, link) if live and link is not None else None,
                    live,
                )
            )
        return views

    async def withdraw(self, user: StaffView, appointment_id: str, guest_id: str) -> Guest:
        """Withdraw an invitation: its link stops working at once (a guest in the room stays
        until the therapist removes them, as anyone else)."""
        await self.schedule.get(user, appointment_id)
        async with self.db.session() as session:
            guest = await session.get(Guest, guest_id) if len(guest_id) <= 32 else None
            if guest is None or guest.appointment_id != appointment_id:
                raise NotFound("There is no such guest.")
            if guest.withdrawn_at is None:
                guest.withdrawn_at = utcnow()
        if guest.link_id is not None:
            await self.links.revoke(guest.link_id)
        await self.log.append(
            session_stream(appointment_id),
            "guest.withdrawn",
            staff_actor(user.id),
            {"guest": guest.id, "guest_role": guest.role, "link": guest.link_id},
        )
        return guest

    async def by_token(self, token: str) -> tuple[Guest, Link, Appointment]:
        """The invitation behind a guest link, its link and its session. A link whose session
        is over says so kindly (``SessionEnded``); a forged, withdrawn or unknown one is
        refused (``TokenError``)."""
        # the signature and purpose first: the window is checked against the session below
        claims = tokens.verify(
            self.ring, token, LinkKind.GUEST.value, datetime.min.replace(tzinfo=UTC)
        )
        async with self.db.read() as session:
            link = await session.get(Link, claims.link_id)
            appointment = (
                await session.get(Appointment, link.appointment_id)
                if link is not None and link.appointment_id
                else None
            )
            guest = (
                await session.scalar(sa.select(Guest).where(Guest.link_id == link.id))
                if link is not None
                else None
            )
        if link is None or appointment is None or guest is None:
            raise TokenError("This link is not valid. Please ask for a new one.")
        if appointment.status in OVER or utcnow() >= link.expires_at:
            raise SessionEnded(GUEST_OVER)
        await self.links.verify(token, LinkKind.GUEST)  # withdrawn, or not the row's
        return guest, link, appointment

    async def of_links(self, link_ids: list[str]) -> dict[str, tuple[str, str]]:
        """The guests holding these links: link id -> (name, role). For a room rebuilt after
        a restart, whose places keep no name."""
        if not link_ids:
            return {}
        async with self.db.read() as session:
            rows = await session.scalars(sa.select(Guest).where(Guest.link_id.in_(link_ids)))
            return {g.link_id: (self.name_of(g), g.role) for g in rows if g.link_id}

    def name_of(self, guest: Guest) -> str:
        return unseal(self.ring, guest, "name_enc") or ""
