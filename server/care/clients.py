"""Clients (pseudonymous young people), their levels with history, and checklist answers."""

from __future__ import annotations

import asyncio
import json
import weakref
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from server import i18n
from server.access.accounts import StaffView
from server.care.checklists import Catalogue, Kind
from server.care.gate import AGE_BANDS, Answers, age_on, check_answer
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import Forbidden, NotFound, PlayroomError
from server.storage.db import Database, utcnow
from server.storage.models import (
    ChecklistResponse,
    Client,
    ClientLevel,
    IThrive,
    RiskLevel,
    Role,
    Supervision,
    new_id,
)

AgeBand = Literal["0-1", "2-4", "5-8", "9-11", "12-13", "14-15", "16-17", "18-25"]


class NewClient(BaseModel):
    """What a therapist enters for a new client: no more than the checklist needs."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    display_name: Annotated[str, Field(min_length=1, max_length=60)]
    age_band: AgeBand | None = None
    date_of_birth: date | None = None
    notes: Annotated[str, Field(max_length=5000)] = ""
    ithrive: IThrive = IThrive.GETTING_HELP
    risk_level: RiskLevel = RiskLevel.NONE

    @model_validator(mode="after")
    def _one_age(self) -> NewClient:
        if (self.age_band is None) == (self.date_of_birth is None):
            raise ValueError("give either an age band or a date of birth")
        if self.date_of_birth and not date(1990, 1, 1) <= self.date_of_birth <= date.today():
            raise ValueError("the date of birth is not plausible")
        return self


class Levels(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ithrive: IThrive
    risk_level: RiskLevel
    note: Annotated[str, Field(max_length=2000)] = ""


class Language(BaseModel):
    """The language of a client's family pages, as the therapist sets it: one of
    ``i18n.SUPPORTED``, or none (the browser's)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    language: Annotated[str, Field(max_length=8)] = ""

    @field_validator("language")
    @classmethod
    def _ours(cls, value: str) -> str:
        if value and value not in i18n.SUPPORTED:
            raise ValueError(f"must be one of {', '.join(i18n.SUPPORTED)}, or empty")
        return value


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    answer: Annotated[str, Field(max_length=20000)] = ""
    rationale: Annotated[str, Field(max_length=5000)] = ""


class AnswersIn(BaseModel):
    """A batch of answers to save (save-as-you-go sends one at a time)."""

    model_config = ConfigDict(extra="forbid")

    answers: Annotated[dict[str, AnswerIn], Field(max_length=200)]
    reviewed: bool = False

    @field_validator("answers")
    @classmethod
    def _ids(cls, value: dict[str, AnswerIn]) -> dict[str, AnswerIn]:
        for key in value:
            if len(key) > 100:
                raise ValueError("item id too long")
        return value


@dataclass(frozen=True)
class ClientView:
    id: str
    display_name: str
    age_band: str | None
    date_of_birth: date | None
    notes: str
    ithrive: IThrive
    risk_level: RiskLevel
    risk_changed_at: datetime
    named_worker_id: str
    language: str | None = None  # of the family's pages; none: the browser's

    def age(self, today: date) -> int | None:
        """Age in years; from an age band, its youngest age (the cautious reading)."""
        if self.date_of_birth is not None:
            return age_on(today, self.date_of_birth)
        return AGE_BANDS.get(self.age_band or "")

    @property
    def age_text(self) -> str:
        if self.date_of_birth is not None:
            return f"born {self.date_of_birth.isoformat()}"
        return f"aged {self.age_band}"


@dataclass(frozen=True)
class LevelView:
    ithrive: IThrive
    risk_level: RiskLevel
    note: str
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True)
class ResponseView:
    id: str
    checklist_key: str
    answers: Answers
    revision: int
    updated_at: datetime
    reviewed_at: datetime


class Clients:
    def __init__(self, db: Database, ring: KeyRing, catalogue: Catalogue) -> None:
        self.db = db
        self.ring = ring
        self.catalogue = catalogue
        # one save of a client's answers at a time: each reads, merges and writes them, so two
        # at once (a typed answer saved as its field loses focus, with the next click) would
        # each merge into the same old answers and the later would undo the earlier
        self._saving: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def view(self, client: Client) -> ClientView:
        born = unseal(self.ring, client, "date_of_birth_enc")
        return ClientView(
            id=client.id,
            display_name=unseal(self.ring, client, "display_name_enc") or "",
            age_band=client.age_band,
            date_of_birth=date.fromisoformat(born) if born else None,
            notes=unseal(self.ring, client, "notes_enc") or "",
            ithrive=IThrive(client.ithrive),
            risk_level=RiskLevel(client.risk_level),
            risk_changed_at=client.risk_changed_at,
            named_worker_id=client.named_worker_id,
            language=unseal(self.ring, client, "language_enc"),
        )

    async def create(self, therapist: StaffView, data: NewClient) -> ClientView:
        if therapist.role is not Role.THERAPIST:
            raise Forbidden("Only therapists hold a caseload.")
        now = utcnow()
        client = Client(
            id=new_id(),
            named_worker_id=therapist.id,
            age_band=data.age_band,
            ithrive=data.ithrive.value,
            risk_level=data.risk_level.value,
            risk_changed_at=now,
            created_at=now,
        )
        seal(self.ring, client, "display_name_enc", data.display_name)
        seal(
            self.ring,
            client,
            "date_of_birth_enc",
            data.date_of_birth.isoformat() if data.date_of_birth else None,
        )
        seal(self.ring, client, "notes_enc", data.notes or None)
        level = _level(client, therapist.id, now)
        async with self.db.session() as session:
            session.add(client)
            await session.flush()
            session.add(level)
        return self.view(client)

    async def _load(
        self, session: AsyncSession, user: StaffView, client_id: str, write: bool
    ) -> Client:
        """The client row if ``user`` may see it (and change it, when ``write``)."""
        client = await session.get(Client, client_id) if len(client_id) <= 32 else None
        if client is None:
            raise NotFound("There is no such client.")
        if user.role is Role.THERAPIST and client.named_worker_id == user.id:
            return client
        if user.role is Role.SUPERVISOR and not write:
            link = await session.get(Supervision, (user.id, client.named_worker_id))
            if link is not None:
                return client
        raise Forbidden("This client is not on your caseload.")

    async def display_name(self, client_id: str) -> str:
        """The client's chosen name, for a record the caller has already checked access to."""
        async with self.db.read() as session:
            client = await session.get(Client, client_id)
            return (unseal(self.ring, client, "display_name_enc") or "") if client else ""

    async def get(
        self,
        user: StaffView,
        client_id: str,
        write: bool = False,
        session: AsyncSession | None = None,
    ) -> ClientView:
        async with self.db.read(session) as session:
            return self.view(await self._load(session, user, client_id, write))

    async def list_for(
        self, user: StaffView, session: AsyncSession | None = None
    ) -> list[ClientView]:
        async with self.db.read(session) as session:
            query = sa.select(Client)
            if user.role is Role.THERAPIST:
                query = query.where(Client.named_worker_id == user.id)
            elif user.role is Role.SUPERVISOR:
                query = query.join(
                    Supervision, Supervision.therapist_id == Client.named_worker_id
                ).where(Supervision.supervisor_id == user.id)
            else:
                return []
            clients = [self.view(c) for c in await session.scalars(query)]
        return sorted(clients, key=lambda c: c.display_name.casefold())

    async def language(self, client_id: str) -> str | None:
        """The language the therapist set for the client's family pages (for a page opened
        through one of the client's links: no staff member to check)."""
        async with self.db.read() as session:
            client = await session.get(Client, client_id)
            return unseal(self.ring, client, "language_enc") if client else None

    async def set_language(self, user: StaffView, client_id: str, language: Language) -> None:
        """Set (or, with none, clear) the language of the client's family pages."""
        async with self.db.session() as session:
            client = await self._load(session, user, client_id, write=True)
            seal(self.ring, client, "language_enc", language.language or None)

    async def update_levels(self, user: StaffView, client_id: str, levels: Levels) -> ClientView:
        now = utcnow()
        async with self.db.session() as session:
            client = await self._load(session, user, client_id, write=True)
            if client.risk_level != levels.risk_level.value:
                client.risk_changed_at = now
            client.ithrive = levels.ithrive.value
            client.risk_level = levels.risk_level.value
            level = _level(client, user.id, now)
            seal(self.ring, level, "note_enc", levels.note or None)
            session.add(level)
            return self.view(client)

    async def level_history(self, user: StaffView, client_id: str) -> list[LevelView]:
        async with self.db.read() as session:
            await self._load(session, user, client_id, write=False)
            return await self.levels(session, client_id)

    async def levels(self, session: AsyncSession, client_id: str) -> list[LevelView]:
        """The client's levels, newest first (the caller has checked access to the client)."""
        rows = await session.scalars(
            sa.select(ClientLevel)
            .where(ClientLevel.client_id == client_id)
            .order_by(ClientLevel.changed_at.desc())
        )
        return [
            LevelView(
                IThrive(r.ithrive),
                RiskLevel(r.risk_level),
                unseal(self.ring, r, "note_enc") or "",
                r.changed_by,
                r.changed_at,
            )
            for r in rows
        ]

    def _response_view(self, row: ChecklistResponse) -> ResponseView:
        answers: Answers = json.loads(unseal(self.ring, row, "answers_enc") or "{}")
        return ResponseView(
            row.id,
            f"{row.checklist_id}@{row.checklist_version}",
            answers,
            row.revision,
            row.updated_at,
            row.reviewed_at,
        )

    async def answers(self, user: StaffView, client_id: str, kind: Kind) -> ResponseView | None:
        async with self.db.read() as session:
            await self._load(session, user, client_id, write=False)
            row = await self._response(session, client_id, kind)
            return None if row is None else self._response_view(row)

    async def _response(
        self, session: AsyncSession, client_id: str, kind: Kind, lock: bool = False
    ) -> ChecklistResponse | None:
        """The client's answers to ``kind``; ``lock``: held until this transaction ends
        (``FOR UPDATE`` on PostgreSQL, where another node may save at the same time)."""
        checklist = self.catalogue[kind]
        query = sa.select(ChecklistResponse).where(
            ChecklistResponse.client_id == client_id,
            ChecklistResponse.checklist_id == checklist.id,
        )
        row: ChecklistResponse | None = await session.scalar(
            query.with_for_update() if lock else query
        )
        return row

    async def save_answers(
        self, user: StaffView, client_id: str, kind: Kind, data: AnswersIn
    ) -> ResponseView:
        """Merge answers into the client's response. Every answer is checked against the
        checklist first; one bad answer saves nothing and names the item."""
        checklist = self.catalogue[kind]
        if kind not in (Kind.SUITABILITY, Kind.DISCONNECTION_PLAN):
            raise PlayroomError("That checklist is not answered per client.")
        for item_id, entry in data.answers.items():
            item = checklist.item(item_id)
            if item is None or not item.answerable:
                raise PlayroomError(f"{item_id}: there is no such question in {checklist.title}.")
            problem = check_answer(item, entry.answer) if entry.answer else None
            if problem:
                raise PlayroomError(f"{item.prompt}: {problem}.")
        lock = self._saving.setdefault(client_id, asyncio.Lock())
        async with lock:
            return await self._merge(user, client_id, kind, data)

    async def _merge(
        self, user: StaffView, client_id: str, kind: Kind, data: AnswersIn
    ) -> ResponseView:
        checklist = self.catalogue[kind]
        now = utcnow()
        async with self.db.session() as session:
            await self._load(session, user, client_id, write=True)
            row = await self._response(session, client_id, kind, lock=True)
            if row is None:
                row = ChecklistResponse(
                    id=new_id(),
                    client_id=client_id,
                    checklist_id=checklist.id,
                    checklist_version=checklist.version,
                    revision=0,
                    updated_by=user.id,
                    updated_at=now,
                    reviewed_at=now,
                )
                current: Answers = {}
                session.add(row)
            else:
                current = json.loads(unseal(self.ring, row, "answers_enc") or "{}")
            merged = dict(current)
            for item_id, entry in data.answers.items():
                merged[item_id] = {"answer": entry.answer, "rationale": entry.rationale}
            if merged != current or row.revision == 0:
                row.revision += 1
                row.updated_by = user.id
                row.updated_at = now
                row.checklist_version = checklist.version
                seal(self.ring, row, "answers_enc", json.dumps(merged, sort_keys=True))
            if data.reviewed or merged != current:
                row.reviewed_at = now
            return self._response_view(row)


def _level(client: Client, by: str, now: datetime) -> ClientLevel:
    """The client's levels as they are now, kept in their history with who set them."""
    return ClientLevel(
        id=new_id(),
        client_id=client.id,
        ithrive=client.ithrive,
        risk_level=client.risk_level,
        changed_by=by,
        changed_at=now,
    )
