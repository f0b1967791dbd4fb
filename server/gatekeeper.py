"""Gathers the gate's inputs from storage, asks ``gate.evaluate``, and records sign-offs
and the therapist's checks for the day. Pages, API and signalling all come through here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from sqlalchemy.ext.asyncio import AsyncSession

from server.accounts import StaffView
from server.checklists import Catalogue, Kind
from server.clients import Clients, ClientView
from server.consent import Consents
from server.db import Database, utcnow
from server.exceptions import Forbidden, PlayroomError
from server.gate import Answers, GateInput, GateResult, GateStatus, check_answer, evaluate
from server.keys import KeyRing
from server.models import (
    ChecklistResponse,
    Client,
    DailyCheck,
    Role,
    SignOff,
    User,
    new_id,
)
from server.sealed import seal, unseal
from server.sessionlog import SessionLog, client_stream, staff_actor


@dataclass(frozen=True)
class SignOffView:
    revision: int
    supervisor_id: str
    comment: str
    created_at: datetime


@dataclass(frozen=True)
class QueueEntry:
    client: ClientView
    therapist_id: str
    result: GateResult
    revision: int
    answers: Answers


def _sign_off_message(row: SignOff) -> bytes:
    fields = [row.id, row.client_id, row.response_id, row.revision, row.supervisor_id]
    return json.dumps(["playroom-sign-off-v1", *fields, row.created_at.isoformat()]).encode()


class Gatekeeper:
    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        catalogue: Catalogue,
        clients: Clients,
        consents: Consents,
        valid_days: int,
        timezone: str,
        log: SessionLog,
    ) -> None:
        self.log = log
        self.db = db
        self.ring = ring
        self.catalogue = catalogue
        self.clients = clients
        self.consents = consents
        self.valid_days = valid_days
        self.zone = ZoneInfo(timezone)

    def today(self, now: datetime | None = None) -> date:
        return (now or utcnow()).astimezone(self.zone).date()

    async def evaluate(
        self, client_id: str, therapist_id: str | None = None, now: datetime | None = None
    ) -> GateResult:
        """The gate for ``client_id`` now, with ``therapist_id``'s checks for today
        (default: the client's named worker). Callers check access first."""
        now = now or utcnow()
        async with self.db.session() as session:
            client = await session.get(Client, client_id)
            if client is None:
                raise PlayroomError("There is no such client.")
            view = self.clients.view(client)
            suitability = await self._response(session, client_id, Kind.SUITABILITY)
            plan = await self._response(session, client_id, Kind.DISCONNECTION_PLAN)
            rows = list(
                await session.scalars(
                    sa.select(SignOff).where(
                        SignOff.client_id == client_id,
                        SignOff.response_id == (suitability.id if suitability else ""),
                    )
                )
            )
            genuine = [r.revision for r in rows if self._genuine(r)]
            signed = max(genuine, default=None)
            forged = len(rows) - len(genuine)
            daily = await session.scalar(
                sa.select(DailyCheck).where(
                    DailyCheck.therapist_id == (therapist_id or client.named_worker_id),
                    DailyCheck.day == self.today(now),
                )
            )
        latest = await self.consents.latest(client_id)
        return evaluate(
            GateInput(
                now=now,
                valid_days=self.valid_days,
                age=view.age(self.today(now)),
                risk_changed_at=view.risk_changed_at,
                suitability=self.catalogue[Kind.SUITABILITY],
                answers=self._answers(suitability),
                reviewed_at=suitability.reviewed_at if suitability else None,
                revision=suitability.revision if suitability else None,
                signed_off_revision=signed,
                forged_sign_offs=forged,
                consent=latest.decision if latest else None,
                plan=self.catalogue[Kind.DISCONNECTION_PLAN],
                plan_answers=self._answers(plan),
                daily=self.catalogue[Kind.PRE_SESSION],
                daily_answers=daily.answers if daily else None,
            )
        )

    async def _response(
        self, session: AsyncSession, client_id: str, kind: Kind
    ) -> ChecklistResponse | None:
        row: ChecklistResponse | None = await session.scalar(
            sa.select(ChecklistResponse).where(
                ChecklistResponse.client_id == client_id,
                ChecklistResponse.checklist_id == self.catalogue[kind].id,
            )
        )
        return row

    async def plan_answers(self, client_id: str) -> Answers:
        """The client's disconnection plan, as agreed (empty if none)."""
        async with self.db.session() as session:
            row = await self._response(session, client_id, Kind.DISCONNECTION_PLAN)
        return self._answers(row) or {}

    def _answers(self, row: ChecklistResponse | None) -> Answers | None:
        if row is None:
            return None
        answers: Answers = json.loads(unseal(self.ring, row, "answers_enc") or "{}")
        return answers

    # -- the therapist's checks for the day

    async def save_daily(self, therapist: StaffView, answers: dict[str, str]) -> None:
        if therapist.role is not Role.THERAPIST:
            raise Forbidden("Pre-session checks are for therapists.")
        checklist = self.catalogue[Kind.PRE_SESSION]
        for item in checklist.items():
            if not item.answerable:
                continue
            answer = answers.get(item.id, "")
            problem = "is not answered" if not answer else check_answer(item, answer)
            if problem and item.required:
                raise PlayroomError(f"{item.prompt}: {problem}.")
        if set(answers) - {i.id for i in checklist.items()}:
            raise PlayroomError("The form had answers to questions it does not ask.")
        day = self.today()
        async with self.db.session() as session:
            row = await session.scalar(
                sa.select(DailyCheck).where(
                    DailyCheck.therapist_id == therapist.id, DailyCheck.day == day
                )
            )
            if row is None:
                row = DailyCheck(id=new_id(), therapist_id=therapist.id, day=day)
                session.add(row)
            row.checklist = checklist.key
            row.answers = dict(answers)
            row.created_at = utcnow()

    async def daily(self, therapist_id: str) -> dict[str, str] | None:
        async with self.db.session() as session:
            row = await session.scalar(
                sa.select(DailyCheck).where(
                    DailyCheck.therapist_id == therapist_id, DailyCheck.day == self.today()
                )
            )
            return dict(row.answers) if row else None

    # -- supervisor sign-off

    async def sign_off(
        self, supervisor: StaffView, client_id: str, revision: int, comment: str
    ) -> SignOffView:
        """Sign off one revision of the client's suitability checklist."""
        if supervisor.role is not Role.SUPERVISOR:
            raise Forbidden("Only supervisors sign off.")
        comment = comment.strip()
        if not comment or len(comment) > 2000:
            raise PlayroomError("A sign-off needs a comment (up to 2,000 characters).")
        client = await self.clients.get(supervisor, client_id)  # checks the team
        result = await self.evaluate(client_id)
        if not result.sign_off_items:
            raise PlayroomError("Nothing in this checklist needs a sign-off.")
        async with self.db.session() as session:
            response = await self._response(session, client_id, Kind.SUITABILITY)
            if response is None or response.revision != revision:
                raise PlayroomError(
                    "The checklist changed since you opened it. "
                    "Reload it and check the answers again."
                )
            row = SignOff(
                id=new_id(),
                client_id=client.id,
                response_id=response.id,
                revision=revision,
                supervisor_id=supervisor.id,
                created_at=utcnow(),
            )
            seal(self.ring, row, "comment_enc", comment)
            row.signature = self.ring.sign(_sign_off_message(row))
            session.add(row)
        await self.log.append(
            client_stream(client.id),
            "signoff.recorded",
            staff_actor(supervisor.id),
            {"revision": revision, "sign_off": row.id},
        )
        return SignOffView(revision, supervisor.id, comment, row.created_at)

    def _genuine(self, row: SignOff) -> bool:
        """Signed by this server: a row added or changed in the database is not."""
        if row.signature is None:
            return False
        try:
            self.ring.public_key.verify(row.signature, _sign_off_message(row))
        except InvalidSignature:
            return False
        return True

    async def sign_offs(self, client_id: str) -> list[SignOffView]:
        async with self.db.session() as session:
            rows = await session.scalars(
                sa.select(SignOff)
                .where(SignOff.client_id == client_id)
                .order_by(SignOff.created_at)
            )
            return [
                SignOffView(
                    r.revision,
                    r.supervisor_id,
                    unseal(self.ring, r, "comment_enc") or "",
                    r.created_at,
                )
                for r in rows
            ]

    async def queue(self, supervisor: StaffView) -> list[QueueEntry]:
        """Clients of this supervisor's team whose gate waits for a sign-off."""
        entries = []
        for client in await self.clients.list_for(supervisor):
            result = await self.evaluate(client.id)
            if result.status is GateStatus.NEEDS_SIGN_OFF or (
                result.sign_off_items and any(r.code == "sign_off" for r in result.reasons)
            ):
                response = await self.clients.answers(supervisor, client.id, Kind.SUITABILITY)
                assert response is not None
                entries.append(
                    QueueEntry(
                        client, client.named_worker_id, result, response.revision, response.answers
                    )
                )
        return entries

    async def staff_name(self, user_id: str) -> str:
        async with self.db.session() as session:
            user = await session.get(User, user_id)
            return unseal(self.ring, user, "display_name_enc") or "" if user else ""
