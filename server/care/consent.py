"""Parent/carer consent, completed through a link: consent or refusal, emergency contacts,
confirmations, and withdrawal. Every version is kept; the newest decides.

What the form posts is read by ``consent_form.py``. The date recorded is the day the answer
arrives, in the service's time zone, never typed. The first emergency contact of a consent
given fills the disconnection plan's parent or carer to ring, where the therapist has not
given one (``plan.with_consent_contact``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.access.links import IssuedLink, Links
from server.care.addresses import ClientContacts
from server.care.checklists import Catalogue, Kind
from server.care.consent_form import ConsentIn, Faults, WithdrawIn, date_faults, problems
from server.care.plan import with_consent_contact
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import PlayroomError
from server.i18n import N_
from server.storage.db import Database, batches, utcnow
from server.storage.models import (
    ChecklistResponse,
    Client,
    Consent,
    ConsentDecision,
    Link,
    LinkKind,
    User,
    new_id,
)

__all__ = ["ConsentIn", "Consents", "ConsentView", "ForWhom", "WithdrawIn"]

_CONCURRENT = N_("Another answer was saved at the same moment. Please reload the page and check.")


def _raise(faults: Faults) -> None:
    if faults:
        raise PlayroomError(" ".join(dict.fromkeys(faults.values())))


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
    # the language of the page the parent answered on (``server/i18n.py``): what they read
    language: str = "en"


@dataclass(frozen=True)
class ForWhom:
    """Whom a consent form is about and with: the child's name as the therapist uses it, and
    the therapist's (empty when the account is no longer in use)."""

    child: str
    therapist: str


class Consents:
    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        links: Links,
        catalogue: Catalogue,
        link_days: int,
        contacts: ClientContacts | None = None,
    ) -> None:
        # where a parent's e-mail address from the form is kept (``addresses.py``)
        self.contacts = contacts
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
            details.get("language", "en"),
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

    async def for_whom(self, client_id: str) -> ForWhom:
        """The names a consent form shows, so the parent knows whom and what it is for."""
        async with self.db.read() as session:
            client = await session.get(Client, client_id)
            worker = await session.get(User, client.named_worker_id) if client else None
        child = (unseal(self.ring, client, "display_name_enc") or "") if client else ""
        therapist = ""
        if worker is not None and not worker.disabled:
            therapist = unseal(self.ring, worker, "display_name_enc") or ""
        return ForWhom(child, therapist)

    async def record(
        self, link: Link, data: ConsentIn, today: date | None = None, language: str = "en"
    ) -> ConsentView:
        """Record consent or refusal through ``link`` (once per link), dated ``today`` (the
        service's day; UTC's when not given), with the ``language`` of the page it was given
        on. Consent given with contacts fills the
        disconnection plan's parent or carer where the therapist has not given one."""
        today = today or utcnow().date()
        form = self.catalogue[Kind.CONSENT]
        _raise(problems(data, form, today))
        unsaid = {"decision"} | ({"email"} if data.email is None else set())
        details = data.model_dump(mode="json", exclude=unsaid)
        details["signed_on"] = today.isoformat()
        details["language"] = language
        try:
            return await self._record(link, ConsentDecision(data.decision), form.key, details)
        except IntegrityError as exc:
            raise PlayroomError(_CONCURRENT) from exc

    async def _record(
        self, link: Link, decision: ConsentDecision, form: str, details: dict[str, Any]
    ) -> ConsentView:
        async with self.db.session() as session:
            used = await session.scalar(
                sa.select(sa.func.count(Consent.id)).where(Consent.link_id == link.id)
            )
            if used:
                raise PlayroomError(
                    N_(
                        "An answer was already given through this link. "
                        "You can still withdraw consent below."
                    )
                )
            view = await self._append(session, link, decision, form, details)
            if decision is ConsentDecision.GIVEN and details["contacts"]:
                await self._fill_plan(session, link, details["contacts"][0], details["signed_on"])
            if decision is ConsentDecision.GIVEN and details.get("email") and self.contacts:
                await self.contacts.from_consent(session, link.client_id, details["email"])
            return view

    async def _fill_plan(
        self, session: AsyncSession, link: Link, contact: dict[str, str], signed_on: str
    ) -> None:
        """Put the first emergency contact into the client's disconnection plan as the parent
        or carer to ring, where the plan has none of the therapist's own; the change is the
        therapist's who made the link, marked as from the consent form."""
        plan = self.catalogue[Kind.DISCONNECTION_PLAN]
        row = await session.scalar(
            sa.select(ChecklistResponse).where(
                ChecklistResponse.client_id == link.client_id,
                ChecklistResponse.checklist_id == plan.id,
            )
        )
        current = json.loads(unseal(self.ring, row, "answers_enc") or "{}") if row else {}
        filled = with_consent_contact(current, plan, contact, signed_on)
        if filled is current:
            return
        now = utcnow()
        if row is None:
            row = ChecklistResponse(
                id=new_id(),
                client_id=link.client_id,
                checklist_id=plan.id,
                checklist_version=plan.version,
                revision=0,
                reviewed_at=now,
            )
            session.add(row)
        row.revision += 1
        row.updated_by = link.created_by
        row.updated_at = now
        seal(self.ring, row, "answers_enc", json.dumps(filled, sort_keys=True))

    async def withdraw(
        self, link: Link, data: WithdrawIn, today: date | None = None, language: str = "en"
    ) -> ConsentView:
        """Withdraw consent given through ``link``; future sessions are blocked at once."""
        today = today or utcnow().date()
        _raise(date_faults(data.signed_on, today))
        try:
            return await self._withdraw(link, data, today, language)
        except IntegrityError as exc:
            raise PlayroomError(_CONCURRENT) from exc

    async def _withdraw(
        self, link: Link, data: WithdrawIn, today: date, language: str
    ) -> ConsentView:
        async with self.db.session() as session:
            rows = list(
                await session.scalars(
                    sa.select(Consent)
                    .where(Consent.client_id == link.client_id)
                    .order_by(Consent.version)
                )
            )
            if not rows or rows[-1].decision != ConsentDecision.GIVEN.value:
                raise PlayroomError(N_("There is no consent in place to withdraw."))
            if not any(r.link_id == link.id for r in rows):
                raise PlayroomError(
                    N_("Consent can be withdrawn through the link it was given with.")
                )
            details: dict[str, Any] = {
                "typed_name": data.typed_name,
                "signed_on": today.isoformat(),
                "language": language,
            }
            return await self._append(
                session, link, ConsentDecision.WITHDRAWN, rows[-1].form, details
            )

    async def _append(
        self,
        session: AsyncSession,
        link: Link,
        decision: ConsentDecision,
        form: str,
        details: dict[str, Any],
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
