"""Gathers the gate's inputs from storage, asks ``gate.evaluate``, and records sign-offs
and the therapist's checks for the day. Pages, API and signalling all come through here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from server.access.accounts import StaffView
from server.audit.sessionlog import SessionLog, client_stream, staff_actor
from server.care.checklists import Catalogue, Kind
from server.care.clients import Clients, ClientView, LevelView
from server.care.consent import Consents, ConsentView
from server.care.gate import Answers, GateInput, GateResult, GateStatus, check_answer, evaluate
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import DecryptionError, Forbidden, PlayroomError
from server.storage.db import Database, batches, utcnow
from server.storage.models import (
    ChecklistResponse,
    Client,
    ConsentDecision,
    DailyCheck,
    Role,
    SignOff,
    Supervision,
    User,
    new_id,
)


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


@dataclass(frozen=True)
class ClientOverview:
    client: ClientView
    gate: GateResult
    levels: list[LevelView]
    consents: list[ConsentView]
    sign_offs: list[SignOffView]


def _sign_off_message(row: SignOff, comment: str | None) -> bytes:
    """What a sign-off's signature covers. v2 (``comment`` given) includes the SHA-256 of the
    comment's plaintext: of the plaintext, not the stored ciphertext, because key rotation
    re-encrypts the comment (a new nonce, a new key) and must leave the signature valid. The
    digest is never stored, and checking a guessed comment against the signature needs the
    public key, which is only in the key file (with the keys that open the comment anyway).
    v1 (``None``): how sign-offs made before the comment was covered were signed."""
    fields = [row.id, row.client_id, row.response_id, row.revision, row.supervisor_id]
    if comment is None:
        return json.dumps(["playroom-sign-off-v1", *fields, row.created_at.isoformat()]).encode()
    digest = hashlib.sha256(comment.encode()).hexdigest()
    body = ["playroom-sign-off-v2", *fields, digest, row.created_at.isoformat()]
    return json.dumps(body).encode()


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
        async with self.db.read() as session:
            client = await session.get(Client, client_id)
            if client is None:
                raise PlayroomError("There is no such client.")
            view = self.clients.view(client)
            gates = await self.evaluate_many([view], therapist_id, now, session)
        return gates[client_id]

    async def evaluate_for(
        self, user: StaffView, client_id: str, now: datetime | None = None
    ) -> GateResult:
        """The gate for a client ``user`` may see (checked here, on the same read)."""
        async with self.db.read() as session:
            client = await self.clients.get(user, client_id, session=session)
            gates = await self.evaluate_many([client], now=now, session=session)
        return gates[client.id]

    async def evaluate_many(
        self,
        clients: Sequence[ClientView],
        therapist_id: str | None = None,
        now: datetime | None = None,
        session: AsyncSession | None = None,
    ) -> dict[str, GateResult]:
        """The gate of each of ``clients`` (by id), as ``evaluate`` decides it one by one,
        from one query per kind of input for all of them. Callers check access first."""
        async with self.db.read(session) as session:
            inputs = await self._inputs(session, clients, therapist_id, now or utcnow())
        return {client_id: evaluate(data) for client_id, data in inputs.items()}

    async def overview(
        self, user: StaffView, client_id: str, session: AsyncSession | None = None
    ) -> ClientOverview:
        """What the client's page shows, each row read once: the client (access checked),
        the gate, the levels, every consent and every sign-off."""
        now = utcnow()
        async with self.db.read(session) as session:
            client = await self.clients.get(user, client_id, session=session)
            levels = await self.clients.levels(session, client.id)
            consents = await self.consents.history(client.id, session)
            sign_offs = await self._sign_off_rows(session, [client.id])
            decision = {client.id: consents[-1].decision} if consents else {}
            inputs = await self._inputs(session, [client], None, now, decision, sign_offs)
        return ClientOverview(
            client=client,
            gate=evaluate(inputs[client.id]),
            levels=levels,
            consents=consents,
            sign_offs=[self._sign_off_view(r) for r in sign_offs.get(client.id, [])],
        )

    async def _inputs(
        self,
        session: AsyncSession,
        clients: Sequence[ClientView],
        therapist_id: str | None,
        now: datetime,
        consents: dict[str, ConsentDecision] | None = None,
        sign_offs: dict[str, list[SignOff]] | None = None,
    ) -> dict[str, GateInput]:
        """The gate's inputs for each client: one query per kind of input (per batch of
        clients), each skipped when the caller has already read it (``consents``: the
        deciding decision of every client that has one; ``sign_offs``: every sign-off)."""
        ids = [c.id for c in clients]
        today = self.today(now)
        suitability = self.catalogue[Kind.SUITABILITY]
        plan = self.catalogue[Kind.DISCONNECTION_PLAN]
        responses: dict[tuple[str, str], ChecklistResponse] = {}
        for batch in batches(ids):
            rows = await session.scalars(
                sa.select(ChecklistResponse).where(
                    ChecklistResponse.client_id.in_(batch),
                    ChecklistResponse.checklist_id.in_((suitability.id, plan.id)),
                )
            )
            responses.update(((r.client_id, r.checklist_id), r) for r in rows)
        if sign_offs is None:
            sign_offs = await self._sign_off_rows(session, ids)
        if consents is None:
            consents = await self.consents.decisions(session, ids)
        therapists = sorted({therapist_id or c.named_worker_id for c in clients})
        daily, supervised = await self._therapists(session, therapists, today)
        inputs = {}
        for client in clients:
            answered = responses.get((client.id, suitability.id))
            # sign-offs of the current suitability response only: a new response starts afresh
            current = [
                r
                for r in sign_offs.get(client.id, [])
                if answered is not None and r.response_id == answered.id
            ]
            genuine = [r.revision for r in current if self._genuine(r)]
            therapist = therapist_id or client.named_worker_id
            checks_today = daily.get(therapist)
            inputs[client.id] = GateInput(
                now=now,
                valid_days=self.valid_days,
                age=client.age(today),
                risk_changed_at=client.risk_changed_at,
                suitability=suitability,
                answers=self._answers(answered),
                reviewed_at=answered.reviewed_at if answered else None,
                revision=answered.revision if answered else None,
                signed_off_revision=max(genuine, default=None),
                forged_sign_offs=len(current) - len(genuine),
                consent=consents.get(client.id),
                plan=plan,
                plan_answers=self._answers(responses.get((client.id, plan.id))),
                daily=self.catalogue[Kind.PRE_SESSION],
                daily_answers=checks_today.answers if checks_today else None,
                supervised=therapist in supervised,
            )
        return inputs

    async def _therapists(
        self, session: AsyncSession, therapists: Sequence[str], today: date
    ) -> tuple[dict[str, DailyCheck], set[str]]:
        """Each therapist's checks for ``today``, and which of them have a clinical
        supervisor on record (a supervisor account not disabled): one query per batch."""
        supervisor = aliased(User)
        has_supervisor = (
            sa.select(Supervision.therapist_id)
            .join(supervisor, supervisor.id == Supervision.supervisor_id)
            .where(
                Supervision.therapist_id == User.id,
                supervisor.role == Role.SUPERVISOR.value,
                supervisor.disabled.is_(False),
            )
            .exists()
        )
        daily: dict[str, DailyCheck] = {}
        supervised: set[str] = set()
        for batch in batches(therapists):
            rows = await session.execute(
                sa.select(User.id, has_supervisor, DailyCheck)
                .outerjoin(
                    DailyCheck, sa.and_(DailyCheck.therapist_id == User.id, DailyCheck.day == today)
                )
                .where(User.id.in_(batch))
            )
            for user_id, has, check in rows:
                if check is not None:
                    daily[user_id] = check
                if has:
                    supervised.add(user_id)
        return daily, supervised

    async def _sign_off_rows(
        self, session: AsyncSession, client_ids: Sequence[str]
    ) -> dict[str, list[SignOff]]:
        """Every sign-off of each client, oldest first."""
        rows: dict[str, list[SignOff]] = {}
        for batch in batches(client_ids):
            for row in await session.scalars(
                sa.select(SignOff).where(SignOff.client_id.in_(batch)).order_by(SignOff.created_at)
            ):
                rows.setdefault(row.client_id, []).append(row)
        return rows

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
        async with self.db.read() as session:
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
        async with self.db.read() as session:
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
            row.signature = self.ring.sign(_sign_off_message(row, comment))
            session.add(row)
        await self.log.append(
            client_stream(client.id),
            "signoff.recorded",
            staff_actor(supervisor.id),
            {"revision": revision, "sign_off": row.id},
        )
        return SignOffView(revision, supervisor.id, comment, row.created_at)

    def _genuine(self, row: SignOff) -> bool:
        """Signed by this server: a row added or changed in the database (its comment
        too) is not."""
        if row.signature is None:
            return False
        try:
            comment = unseal(self.ring, row, "comment_enc") or ""
        except DecryptionError:
            return False
        # a v1 signature cannot stand in for a v2 one: it signs a different message, so a
        # changed comment fails both
        signed = (_sign_off_message(row, text) for text in (comment, None))
        return any(self.ring.verify(message, row.signature) for message in signed)

    def _sign_off_view(self, row: SignOff) -> SignOffView:
        comment = unseal(self.ring, row, "comment_enc") or ""
        return SignOffView(row.revision, row.supervisor_id, comment, row.created_at)

    async def sign_offs(self, client_id: str) -> list[SignOffView]:
        async with self.db.read() as session:
            rows = await self._sign_off_rows(session, [client_id])
        return [self._sign_off_view(r) for r in rows.get(client_id, [])]

    async def queue(self, supervisor: StaffView) -> list[QueueEntry]:
        """Clients of this supervisor's team whose gate waits for a sign-off, with the
        revision and answers the gate was decided on."""
        entries = []
        async with self.db.read() as session:
            clients = await self.clients.list_for(supervisor, session)
            inputs = await self._inputs(session, clients, None, utcnow())
        for client in clients:
            data = inputs[client.id]
            result = evaluate(data)
            if result.status is GateStatus.NEEDS_SIGN_OFF or (
                result.sign_off_items and any(r.code == "sign_off" for r in result.reasons)
            ):
                assert data.revision is not None and data.answers is not None
                entries.append(
                    QueueEntry(client, client.named_worker_id, result, data.revision, data.answers)
                )
        return entries

    async def staff_name(self, user_id: str) -> str:
        async with self.db.read() as session:
            user = await session.get(User, user_id)
            return unseal(self.ring, user, "display_name_enc") or "" if user else ""
