"""After a session: the young person's rating of it (four faces, in the room at the end),
the therapist's goal-based rating and short reflection, and a change of risk level if needed
(Kooth: risk assessed and updated regularly). Values are sealed; each lands on the
session's timeline through its log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from server.access.accounts import StaffView
from server.audit.sessionlog import SessionLog, participant_actor, session_stream, staff_actor
from server.care.clients import Clients, Levels
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import Forbidden, NotFound, PlayroomError
from server.storage.db import Database, utcnow
from server.storage.ids import is_id
from server.storage.models import Appointment, RiskLevel, new_id
from server.storage.session_models import Outcome, Reflection

FACES = {1: "not good", 2: "a bit hard", 3: "OK", 4: "good"}


class Goal(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    goal: Annotated[str, Field(min_length=1, max_length=120)]
    progress: Annotated[int, Field(ge=0, le=10)]


class AfterSession(BaseModel):
    """The therapist's form after a session."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reflection: Annotated[str, Field(max_length=4000)] = ""
    goals: Annotated[list[Goal], Field(max_length=3)] = []
    risk_level: RiskLevel | None = None


@dataclass
class OutcomeView:
    measure: str
    given_by: str
    values: dict[str, Any]
    created_at: datetime


@dataclass
class AfterView:
    outcomes: list[OutcomeView]
    reflections: list[tuple[str, datetime]]


class Outcomes:
    def __init__(self, db: Database, ring: KeyRing, log: SessionLog, clients: Clients) -> None:
        self.db = db
        self.ring = ring
        self.log = log
        self.clients = clients

    async def _store(self, appointment_id: str, measure: str, by: str, values: Any) -> str:
        row = Outcome(
            id=new_id(),
            appointment_id=appointment_id,
            measure=measure,
            given_by=by,
            created_at=utcnow(),
        )
        seal(self.ring, row, "values_enc", json.dumps(values))
        async with self.db.session() as session:
            session.add(row)
        return row.id

    async def rating(self, appointment_id: str, participant_id: str, score: int) -> None:
        """The young person's rating of today's session, from the faces in the room."""
        if score not in FACES:
            raise PlayroomError("Choose one of the faces.")
        stored = await self._store(
            appointment_id, "session_rating", "young_person", {"score": score}
        )
        await self.log.append(
            session_stream(appointment_id),
            "outcome.recorded",
            participant_actor("young_person", participant_id),
            {"measure": "session_rating", "score": score, "of": len(FACES), "outcome": stored},
        )

    async def _own(self, user: StaffView, appointment_id: str) -> Appointment:
        if not is_id(appointment_id):  # a longer id must not reach another session
            raise NotFound("There is no such session.")
        async with self.db.session() as session:
            appointment = await session.get(Appointment, appointment_id)
        if appointment is None or appointment.therapist_id != user.id:
            raise Forbidden("This session is not yours.")
        return appointment

    async def after_session(self, user: StaffView, appointment_id: str, data: AfterSession) -> None:
        """Store what the therapist recorded after the session; each part is logged."""
        appointment = await self._own(user, appointment_id)
        stream, actor = session_stream(appointment.id), staff_actor(user.id)
        if data.risk_level is not None and appointment.client_id is None:
            raise PlayroomError("After a group's session, change a member's risk on their page.")
        if not data.reflection and not data.goals and data.risk_level is None:
            raise PlayroomError("Write a reflection, rate a goal or choose a risk level.")
        if data.reflection:
            row = Reflection(
                id=new_id(),
                appointment_id=appointment.id,
                therapist_id=user.id,
                created_at=utcnow(),
            )
            seal(self.ring, row, "text_enc", data.reflection)
            async with self.db.session() as session:
                session.add(row)
            await self.log.append(stream, "reflection.written", actor, {"reflection": row.id})
        if data.goals:
            goals = [g.model_dump() for g in data.goals]
            stored = await self._store(appointment.id, "goal_based", "therapist", {"goals": goals})
            # the log says what happened, not what the goals are: their text stays sealed in
            # its own table, the entry keeps the ratings and the row's id
            progress = [g.progress for g in data.goals]
            await self.log.append(
                stream,
                "outcome.recorded",
                actor,
                {"measure": "goal_based", "progress": progress, "outcome": stored},
            )
        if data.risk_level is not None and appointment.client_id is not None:
            client = await self.clients.get(user, appointment.client_id)
            if client.risk_level != data.risk_level:
                levels = Levels(
                    ithrive=client.ithrive, risk_level=data.risk_level, note="after a session"
                )
                await self.clients.update_levels(user, appointment.client_id, levels)
                await self.log.append(
                    stream, "risk.updated", actor, {"level": data.risk_level.value}
                )

    async def for_session(self, user: StaffView, appointment_id: str) -> AfterView:
        appointment = await self._own(user, appointment_id)
        async with self.db.session() as session:
            outcomes = await session.scalars(
                sa.select(Outcome)
                .where(Outcome.appointment_id == appointment.id)
                .order_by(Outcome.created_at)
            )
            reflections = await session.scalars(
                sa.select(Reflection)
                .where(Reflection.appointment_id == appointment.id)
                .order_by(Reflection.created_at)
            )
            return AfterView(
                [
                    OutcomeView(
                        o.measure,
                        o.given_by,
                        json.loads(unseal(self.ring, o, "values_enc") or "{}"),
                        o.created_at,
                    )
                    for o in outcomes
                ],
                [(unseal(self.ring, r, "text_enc") or "", r.created_at) for r in reflections],
            )
