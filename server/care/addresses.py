"""A family's e-mail addresses: the parent's or carer's and the young person's, each sealed,
checked before they are kept (an address that is not one, or a line break that would add an
e-mail header of its own, is refused in the therapist's words), shown masked where the whole
address is not needed, and whom the join link goes to. Never in a log line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import PlayroomError
from server.storage.db import Database, utcnow
from server.storage.mail_models import ClientContact
from server.storage.models import new_id

Recipient = Literal["young_person", "parent"]
MAX_ADDRESS = 254  # RFC 5321's longest path, less its angle brackets
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+")
NOT_AN_ADDRESS = "That is not an e-mail address: type it as name@example.org."
LINE_BREAK = "An e-mail address is one line: it cannot hold a line break."


def check_address(value: str) -> str:
    """``value`` as an address to keep (spaces around it trimmed, the domain in lower case),
    or PlayroomError saying what is wrong. A line break is named on its own: it is how an
    address would smuggle headers into a message (header injection)."""
    if any(c in value for c in "\r\n\0"):
        raise PlayroomError(LINE_BREAK, code="header_injection")
    value = value.strip()
    if len(value) > MAX_ADDRESS or not _ADDRESS.fullmatch(value) or ".." in value:
        raise PlayroomError(NOT_AN_ADDRESS, code="bad_address")
    local, domain = value.rsplit("@", 1)
    if local.startswith(".") or local.endswith("."):
        raise PlayroomError(NOT_AN_ADDRESS, code="bad_address")
    return f"{local}@{domain.lower()}"


def _optional(value: object) -> object:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        return value
    try:
        return check_address(value)
    except PlayroomError as exc:
        raise ValueError(str(exc)) from exc


Address = Annotated[str | None, BeforeValidator(_optional)]  # bounded by check_address


def mask(address: str | None) -> str:
    """An address as a page shows it where the whole is not needed: ``r•••@example.org``."""
    if not address:
        return ""
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


class ContactsIn(BaseModel):
    """What the therapist enters on the client's page."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    parent_email: Address = None
    young_person_email: Address = None
    join_to: Recipient = "young_person"
    automatic: bool = False


def read_contacts(values: dict[str, str]) -> ContactsIn:
    """The client page's form as posted, or PlayroomError naming the field in words."""
    data = {
        "parent_email": values.get("parent_email", ""),
        "young_person_email": values.get("young_person_email", ""),
        "join_to": values.get("join_to", "young_person"),
        "automatic": values.get("automatic") == "yes",
    }
    try:
        return ContactsIn.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        words = {
            "parent_email": "The parent's or carer's e-mail",
            "young_person_email": ("The young person's e-mail"),
        }.get(field, "Who gets the join link")
        message = str(error.get("ctx", {}).get("error") or "is not valid")
        code = "header_injection" if message == LINE_BREAK else "bad_address"
        raise PlayroomError(f"{words}: {message}", code=code) from exc


@dataclass(frozen=True)
class Contacts:
    """A client's addresses, opened, and whom the join link goes to."""

    parent_email: str | None = None
    young_person_email: str | None = None
    join_to: Recipient = "young_person"
    automatic: bool = False
    parent_from_consent: bool = False

    def address(self, who: Recipient) -> str | None:
        return self.parent_email if who == "parent" else self.young_person_email

    @property
    def join_address(self) -> str | None:
        """Where the join link goes: the one the therapist chose."""
        return self.address(self.join_to)

    @property
    def masked(self) -> dict[str, str]:
        return {"parent": mask(self.parent_email), "young_person": mask(self.young_person_email)}


class ClientContacts:
    """Reading and keeping a client's addresses (the caller has checked access)."""

    def __init__(self, db: Database, ring: KeyRing) -> None:
        self.db = db
        self.ring = ring

    def _view(self, row: ClientContact | None) -> Contacts:
        if row is None:
            return Contacts()
        join_to: Recipient = "parent" if row.join_to == "parent" else "young_person"
        return Contacts(
            unseal(self.ring, row, "parent_email_enc"),
            unseal(self.ring, row, "young_person_email_enc"),
            join_to,
            row.automatic,
            row.parent_email_from == "consent",
        )

    async def _row(self, session: AsyncSession, client_id: str) -> ClientContact | None:
        row: ClientContact | None = await session.scalar(
            sa.select(ClientContact).where(ClientContact.client_id == client_id)
        )
        return row

    async def get(self, client_id: str, session: AsyncSession | None = None) -> Contacts:
        async with self.db.read(session) as session:
            return self._view(await self._row(session, client_id))

    async def save(self, client_id: str, data: ContactsIn) -> Contacts:
        async with self.db.session() as session:
            row = await self._row(session, client_id)
            if row is None:
                row = ClientContact(id=new_id(), client_id=client_id)
                session.add(row)
            if data.parent_email != unseal(self.ring, row, "parent_email_enc"):
                row.parent_email_from = "therapist"
            seal(self.ring, row, "parent_email_enc", data.parent_email)
            seal(self.ring, row, "young_person_email_enc", data.young_person_email)
            row.join_to = data.join_to
            row.automatic = data.automatic
            row.updated_at = utcnow()
            return self._view(row)

    async def from_consent(self, session: AsyncSession, client_id: str, address: str) -> None:
        """The address a parent gave on their consent form, kept where the therapist has
        typed none (one the therapist typed is never replaced), in the caller's
        transaction."""
        row = await self._row(session, client_id)
        if row is None:
            row = ClientContact(
                id=new_id(), client_id=client_id, join_to="young_person", automatic=False
            )
            session.add(row)
        elif row.parent_email_enc is not None and row.parent_email_from != "consent":
            return
        seal(self.ring, row, "parent_email_enc", check_address(address))
        row.parent_email_from = "consent"
        row.updated_at = utcnow()
