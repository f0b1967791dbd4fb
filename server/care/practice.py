"""Practice links: the camera and microphone check, the agreement and a look at the room,
for the young person and for a parent or carer, any day before the first session.

A practice link is a capability like a consent or a join link (``access/links.py``): signed,
expiring, revocable, and bound to its purpose (``LinkKind.PRACTICE``), so it never opens a
session or a consent form, and neither of those opens a practice page. It is bound to the
client and a role, not to a session: it works from when it is made until the end of the
client's next session, or for ``practice_link_days`` when none is scheduled.

Nothing done on the practice page is kept: no answer, no device, no visit in the database
or in any log the service keeps (a log line counts the opening, with the role only).

The young person's link is made, and opens, only while a parent or carer's consent stands:
the CCAP guidance asks for consent "prior to emailing children or young people directly"
(Risk 3). The parent's link needs none: it goes to the person whose consent is asked, and
seeing the room first is part of knowing what they consent to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.access.accounts import StaffView
from server.access.links import Links, token_of
from server.audit.sessionlog import SessionLog, client_stream, staff_actor
from server.care.clients import Clients
from server.crypto.keys import KeyRing
from server.exceptions import PlayroomError, TokenError
from server.storage.db import Database, utcnow
from server.storage.models import Appointment, Client, Consent, ConsentDecision, Link, LinkKind

PRACTICE_ROLES = ("young_person", "parent")


@dataclass(frozen=True)
class PracticeLink:
    link: Link
    token: str


class NeedsConsent(PlayroomError):
    """A young person's practice link asked for, or opened, while no consent stands."""

    status = 409
    code = "needs_consent"


class Practice:
    """Practice links: made, listed and withdrawn by the therapist, opened by the family."""

    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        clients: Clients,
        links: Links,
        log: SessionLog,
        link_days: int,
    ) -> None:
        self.db = db
        self.ring = ring
        self.clients = clients
        self.links = links
        self.log = log
        self.link_days = timedelta(days=link_days)

    async def issue(self, user: StaffView, client_id: str, role: str) -> PracticeLink:
        """A new practice link for ``role``; the earlier one for the same role is withdrawn
        (one live link a role, as with join links)."""
        if role not in PRACTICE_ROLES:
            raise PlayroomError("Unknown role for a practice link.")
        client = await self.clients.get(user, client_id, write=True)
        if role == "young_person" and not await self.consent_stands(client.id):
            raise NeedsConsent(
                "The young person's practice link is made once a parent or carer has given consent."
            )
        stream = client_stream(client.id)
        for old in await self.live_links(client.id):
            if old.role == role:
                await self.links.revoke(old.id)
                await self.log.append(
                    stream, "link.revoked", staff_actor(user.id), {"link": old.id, "role": role}
                )
        now = utcnow()
        expires = await self.expiry(client.id, now)
        issued = await self.links.issue(LinkKind.PRACTICE, client.id, role, now, expires, user.id)
        await self.log.append(
            stream,
            "link.issued",
            staff_actor(user.id),
            {
                "link": issued.link.id,
                "kind": LinkKind.PRACTICE.value,
                "role": role,
                "expires_at": expires.isoformat(),
            },
        )
        return PracticeLink(issued.link, issued.token)

    async def expiry(self, client_id: str, now: datetime) -> datetime:
        """The end of the client's next session (scheduled or open, not yet over), or
        ``link_days`` from now when none is scheduled."""
        async with self.db.read() as session:
            ends = await session.scalar(
                sa.select(Appointment.ends_at)
                .where(
                    Appointment.client_id == client_id,
                    Appointment.status.in_(("scheduled", "open")),
                    Appointment.ends_at > now,
                )
                .order_by(Appointment.starts_at)
                .limit(1)
            )
        return ends if ends is not None else now + self.link_days

    async def live_links(self, client_id: str, session: AsyncSession | None = None) -> list[Link]:
        """The client's practice links not withdrawn and not expired, newest first (in
        ``session`` when given: the client's page reads everything in one)."""
        async with self.db.read(session) as session:  # a look, not the turn to write
            rows = await session.scalars(
                sa.select(Link)
                .where(
                    Link.client_id == client_id,
                    Link.kind == LinkKind.PRACTICE.value,
                    Link.revoked_at.is_(None),
                    Link.expires_at > utcnow(),
                )
                .order_by(Link.created_at.desc())
            )
            return list(rows)

    def by_role(self, links: list[Link]) -> dict[str, PracticeLink]:
        """Each role's newest practice link of ``links``, its token made again from its row
        (Ed25519 signatures are deterministic: no token is ever stored)."""
        found: dict[str, PracticeLink] = {}
        for link in links:
            if link.role in found:
                continue
            found[link.role] = PracticeLink(link, token_of(self.ring, link))
        return found

    async def open(self, token: str) -> Link:
        """The live practice link behind ``token``: raises ``TokenError`` (forged, for
        another purpose, expired, withdrawn) and, for the young person's while no consent
        stands, ``NeedsConsent``. Reads only: opening a practice link writes nothing."""
        link = await self.links.verify(token, LinkKind.PRACTICE)
        if link.role not in PRACTICE_ROLES:
            raise TokenError("This link is not valid. Please ask for a new one.")
        async with self.db.read() as session:
            discharged = await session.scalar(
                sa.select(Client.discharged_at).where(Client.id == link.client_id)
            )
        if discharged is not None:  # therapy has ended: there is no session to practise for
            raise TokenError("This link has been withdrawn. Please ask for a new one.")
        if link.role == "young_person" and not await self.consent_stands(link.client_id):
            # the page says so kindly, in its own words, and never why
            raise NeedsConsent("No consent from a parent or carer stands now.")
        return link

    async def consent_stands(self, client_id: str) -> bool:
        """Whether the newest word from a parent or carer is consent given."""
        async with self.db.read() as session:
            decision = await session.scalar(
                sa.select(Consent.decision)
                .where(Consent.client_id == client_id)
                .order_by(Consent.version.desc())
                .limit(1)
            )
        return decision == ConsentDecision.GIVEN.value
