"""Parent/carer consent, completed through a link: consent or refusal, emergency contacts,
confirmations, and withdrawal. Every version is kept; the newest decides."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.access.links import IssuedLink, Links
from server.care.checklists import Catalogue, Kind
from server.care.gate import check_answer
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import PlayroomError
from server.storage.db import Database, batches, utcnow
from server.storage.models import Consent, ConsentDecision, Link, LinkKind, new_id

_CONCURRENT = "Another answer was saved at the same moment. Please reload the page and check."
Name = Annotated[str, Field(min_length=2, max_length=100)]


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    relationship: Annotated[str, Field(min_length=1, max_length=60)]
    phone: Annotated[str, Field(min_length=3, max_length=30)]

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        digits = sum(c.isdigit() for c in value)
        if not 3 <= digits <= 15 or any(c not in "0123456789 +()-" for c in value):
            raise ValueError("must be a telephone number")
        return value


class ConsentIn(BaseModel):
    """What the parent/carer submits."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["given", "refused"]
    typed_name: Name
    relationship: Annotated[str, Field(min_length=1, max_length=60)]
    signed_on: date
    contacts: Annotated[list[Contact], Field(max_length=3)] = []
    confirmations: Annotated[dict[str, str], Field(max_length=20)] = {}


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    typed_name: Name
    signed_on: date


@dataclass(frozen=True)
class ConsentView:
    version: int
    decision: ConsentDecision
    typed_name: str
    relationship: str
    signed_on: str
    contacts: list[dict[str, str]]
    confirmations: dict[str, str]
    link_id: str
    created_at: datetime


class Consents:
    def __init__(
        self, db: Database, ring: KeyRing, links: Links, catalogue: Catalogue, link_days: int
    ) -> None:
        self.db = db
        self.ring = ring
        self.links = links
        self.catalogue = catalogue
        self.link_days = link_days

    async def issue_link(self, client_id: str, issued_by: str) -> IssuedLink:
        """A new consent link (the caller has checked the therapist may do this)."""
        now = utcnow()
        return await self.links.issue(
            LinkKind.CONSENT,
            client_id,
            "parent",
            now,
            now + timedelta(days=self.link_days),
            issued_by,
        )

    def _view(self, row: Consent) -> ConsentView:
        details = json.loads(unseal(self.ring, row, "details_enc") or "{}")
        return ConsentView(
            row.version,
            ConsentDecision(row.decision),
            details.get("typed_name", ""),
            details.get("relationship", ""),
            details.get("signed_on", ""),
            details.get("contacts", []),
            details.get("confirmations", {}),
            row.link_id,
            row.created_at,
        )

    async def history(
        self, client_id: str, session: AsyncSession | None = None
    ) -> list[ConsentView]:
        async with self.db.read(session) as session:
            rows = await session.scalars(
                sa.select(Consent).where(Consent.client_id == client_id).order_by(Consent.version)
            )
            return [self._view(r) for r in rows]

    async def latest(self, client_id: str) -> ConsentView | None:
        """The newest version, the one that decides (only it is read and decrypted)."""
        async with self.db.read() as session:
            row = await session.scalar(
                sa.select(Consent)
                .where(Consent.client_id == client_id)
                .order_by(Consent.version.desc())
                .limit(1)
            )
            return self._view(row) if row is not None else None

    async def decisions(
        self, session: AsyncSession, client_ids: Sequence[str]
    ) -> dict[str, ConsentDecision]:
        """The deciding (newest) decision of each client that has one, in one query per
        batch of clients; the sealed details are neither read nor decrypted."""
        decisions: dict[str, ConsentDecision] = {}
        for batch in batches(client_ids):
            newest = (
                sa.select(Consent.client_id, sa.func.max(Consent.version).label("version"))
                .where(Consent.client_id.in_(batch))
                .group_by(Consent.client_id)
                .subquery()
            )
            rows = await session.execute(
                sa.select(Consent.client_id, Consent.decision).join(
                    newest,
                    sa.and_(
                        Consent.client_id == newest.c.client_id,
                        Consent.version == newest.c.version,
                    ),
                )
            )
            decisions.update((client_id, ConsentDecision(d)) for client_id, d in rows)
        return decisions

    def _check_date(self, signed_on: date) -> None:
        today = utcnow().date()
        if abs((signed_on - today).days) > 1:
            raise PlayroomError("Please type today's date.")

    async def record(self, link: Link, data: ConsentIn) -> ConsentView:
        """Record consent or refusal through ``link`` (once per link)."""
        self._check_date(data.signed_on)
        form = self.catalogue[Kind.CONSENT]
        if data.decision == "given":
            for item in form.items():
                if not item.answerable:
                    continue
                answer = data.confirmations.get(item.id, "")
                if not answer or check_answer(item, answer):
                    raise PlayroomError(f"Please answer: {item.prompt}")
                if answer in item.blocking:
                    raise PlayroomError(
                        f"Online sessions need this: {item.prompt} "
                        "Please talk to the therapist about it."
                    )
            if not data.contacts:
                raise PlayroomError("Please give at least one emergency contact number.")
        unknown = set(data.confirmations) - {i.id for i in form.items()}
        if unknown:
            raise PlayroomError("The form had answers to questions it does not ask.")
        try:
            return await self._record(link, data, form.key)
        except IntegrityError as exc:
            raise PlayroomError(_CONCURRENT) from exc

    async def _record(self, link: Link, data: ConsentIn, form: str) -> ConsentView:
        async with self.db.session() as session:
            used = await session.scalar(
                sa.select(sa.func.count(Consent.id)).where(Consent.link_id == link.id)
            )
            if used:
                raise PlayroomError(
                    "An answer was already given through this link. "
                    "You can still withdraw consent below."
                )
            details = data.model_dump(mode="json", exclude={"decision"})
            return await self._append(session, link, ConsentDecision(data.decision), form, details)

    async def withdraw(self, link: Link, data: WithdrawIn) -> ConsentView:
        """Withdraw consent given through ``link``; future sessions are blocked at once."""
        self._check_date(data.signed_on)
        try:
            return await self._withdraw(link, data)
        except IntegrityError as exc:
            raise PlayroomError(_CONCURRENT) from exc

    async def _withdraw(self, link: Link, data: WithdrawIn) -> ConsentView:
        async with self.db.session() as session:
            rows = list(
                await session.scalars(
                    sa.select(Consent)
                    .where(Consent.client_id == link.client_id)
                    .order_by(Consent.version)
                )
            )
            if not rows or rows[-1].decision != ConsentDecision.GIVEN.value:
                raise PlayroomError("There is no consent in place to withdraw.")
            if not any(r.link_id == link.id for r in rows):
                raise PlayroomError("Consent can be withdrawn through the link it was given with.")
            details = data.model_dump(mode="json")
            return await self._append(
                session, link, ConsentDecision.WITHDRAWN, rows[-1].form, details
            )

    async def _append(
        self,
        session: AsyncSession,
        link: Link,
        decision: ConsentDecision,
        form: str,
        details: dict[str, object],
    ) -> ConsentView:
        version = (
            await session.scalar(
                sa.select(sa.func.max(Consent.version)).where(Consent.client_id == link.client_id)
            )
            or 0
        ) + 1
        row = Consent(
            id=new_id(),
            client_id=link.client_id,
            version=version,
            link_id=link.id,
            form=form,
            decision=decision.value,
            created_at=utcnow(),
        )
        seal(self.ring, row, "details_enc", json.dumps(details, sort_keys=True))
        session.add(row)
        return self._view(row)
