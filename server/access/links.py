"""Capability links: a ``links`` row plus a signed token naming it.

The row is the authority: a link works only while its row exists, is not revoked, and its
window is open. The token proves the server issued it and names the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from server.access import tokens
from server.access.tokens import Claims
from server.crypto.keys import KeyRing
from server.exceptions import SessionEnded, TokenError
from server.i18n import N_
from server.storage.db import Database, utcnow
from server.storage.models import Appointment, Link, LinkKind, new_id

# what a join link says once its session has ended (which withdraws it): the young person's
# words for the end, not a refusal (``link_invalid.html`` shows it as a goodbye)
SESSION_ENDED = N_("This session has ended. See you next time.")
# what a join link of a cancelled session says: the session will not happen, not a refusal
SESSION_CANCELLED = N_("This session has been cancelled. Your therapist will be in touch.")


def token_of(ring: KeyRing, link: Link) -> str:
    """A link's token made again from its row: Ed25519 signatures are deterministic, so the
    same claims sign to the same token, and no token is ever stored."""
    claims = Claims(link.kind, link.id, link.role, link.not_before, link.expires_at)
    return tokens.issue(ring, claims)


@dataclass(frozen=True)
class IssuedLink:
    link: Link
    token: str


class Links:
    def __init__(self, db: Database, ring: KeyRing) -> None:
        self.db = db
        self.ring = ring

    async def issue(
        self,
        kind: LinkKind,
        client_id: str,
        role: str,
        not_before: datetime,
        expires_at: datetime,
        created_by: str,
        appointment_id: str | None = None,
    ) -> IssuedLink:
        link = Link(
            id=new_id(),
            kind=kind.value,
            client_id=client_id,
            appointment_id=appointment_id,
            role=role,
            not_before=not_before,
            expires_at=expires_at,
            created_by=created_by,
        )
        async with self.db.session() as session:
            session.add(link)
        token = tokens.issue(self.ring, Claims(kind.value, link.id, role, not_before, expires_at))
        return IssuedLink(link, token)

    async def verify(self, token: str, kind: LinkKind, now: datetime | None = None) -> Link:
        """The live link behind ``token``; raises TokenError (forged, expired, revoked, or
        withdrawn by the end of its session, which says so)."""
        now = now or utcnow()
        claims = tokens.verify(self.ring, token, kind.value, now)
        status = None
        async with self.db.read() as session:
            link = await session.get(Link, claims.link_id)
            if link is not None and link.revoked_at is not None and link.appointment_id:
                appointment = await session.get(Appointment, link.appointment_id)
                status = appointment.status if appointment is not None else None
        if link is None or link.kind != kind.value or link.role != claims.role:
            raise TokenError(N_("This link is not valid. Please ask for a new one."))
        if status == "ended":
            raise SessionEnded(SESSION_ENDED)
        if status == "cancelled":
            raise TokenError(SESSION_CANCELLED, code="session_cancelled")
        if link.revoked_at is not None:
            raise TokenError(N_("This link has been withdrawn. Please ask for a new one."))
        if now >= link.expires_at:
            raise TokenError(N_("This link has expired. Please ask for a new one."))
        return link

    async def revoke(self, link_id: str) -> None:
        async with self.db.session() as session:
            await session.execute(
                sa.update(Link)
                .where(Link.id == link_id, Link.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    async def revoke_for_appointment(self, appointment_id: str) -> None:
        async with self.db.session() as session:
            await session.execute(
                sa.update(Link)
                .where(Link.appointment_id == appointment_id, Link.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    async def for_client(self, client_id: str, kind: LinkKind) -> list[Link]:
        async with self.db.session() as session:
            rows = await session.scalars(
                sa.select(Link)
                .where(Link.client_id == client_id, Link.kind == kind.value)
                .order_by(Link.created_at.desc())
            )
            return list(rows)
