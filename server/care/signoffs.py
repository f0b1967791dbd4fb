"""The way to a supervisor's sign-off: the therapist asks for it, and a supervisor signs it
off (``Gatekeeper.sign_off``) or sends it back with a comment the therapist reads. Each step
binds to a revision of the suitability checklist, as a sign-off does, so a changed answer
starts afresh. A note or comment is sealed in ``sign_off_requests``; the client's log
(``client:<id>``) records each step by its id, never its words.

What waits for a supervisor is what the gate says waits for a sign-off in their team
(``Gatekeeper.queue``), less what they sent back and the therapist has neither changed nor
asked for again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.access.accounts import StaffView
from server.audit.sessionlog import SessionLog, client_stream, staff_actor
from server.care.checklists import Catalogue, Kind
from server.care.clients import Clients, ClientView
from server.care.gate import GateResult
from server.care.gate_service import Gatekeeper, QueueEntry
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import Forbidden, PlayroomError
from server.storage.db import Database, batches, utcnow
from server.storage.models import ChecklistResponse, Role, SignOffRequest, User, new_id

ASKED = "asked"
SENT_BACK = "sent_back"
COMMENT_LENGTH = 2000


@dataclass(frozen=True)
class Step:
    """The newest step towards a client's sign-off, at the checklist's current revision."""

    kind: str  # asked, sent_back
    revision: int
    by_id: str
    by_name: str
    comment: str  # the therapist's note when asked (may be empty), the supervisor's comment
    at: datetime


@dataclass(frozen=True)
class Queue:
    """A supervisor's sign-offs: those waiting for them, each with the therapist's request
    if there is one, and those they sent back, with the therapist again."""

    waiting: list[tuple[QueueEntry, Step | None]]
    sent_back: list[tuple[QueueEntry, Step]]


def pending(result: GateResult) -> bool:
    """Whether the gate waits for a supervisor's sign-off of the current answers."""
    return any(r.code == "sign_off" for r in result.reasons)


def _comment(text: str, required: bool) -> str:
    text = text.strip()
    if (required and not text) or len(text) > COMMENT_LENGTH:
        raise PlayroomError("Write a comment for the therapist (up to 2,000 characters).")
    return text


class SignOffRequests:
    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        catalogue: Catalogue,
        clients: Clients,
        gatekeeper: Gatekeeper,
        log: SessionLog,
    ) -> None:
        self.db = db
        self.ring = ring
        self.catalogue = catalogue
        self.clients = clients
        self.gatekeeper = gatekeeper
        self.log = log

    async def ask(self, therapist: StaffView, client_id: str, note: str = "") -> Step:
        """The therapist asks their supervisors to sign off the current answers. Asking
        again for the same answers changes nothing, unless they were sent back."""
        if therapist.role is not Role.THERAPIST:
            raise Forbidden("The client's therapist asks for a sign-off.")
        if len(note.strip()) > COMMENT_LENGTH:
            raise PlayroomError("Keep the note to 2,000 characters.")
        client = await self.clients.get(therapist, client_id)  # their own client only
        if not pending(await self.gatekeeper.evaluate(client.id)):
            raise PlayroomError("Nothing in this checklist waits for a sign-off.")
        async with self.db.session() as session:
            response = await self._response(session, client.id)
            assert response is not None  # a sign-off waits only on answers given
            now = (await self._current(session, [client.id])).get(client.id)
            if now is not None and now.kind == ASKED:
                return (await self._named(session, {client.id: now}))[client.id]
            row = await self._add(session, response, ASKED, therapist.id, note.strip())
        await self._log(client.id, "signoff.requested", therapist, row)
        return self._unnamed(row, therapist.display_name)

    async def send_back(
        self, supervisor: StaffView, client_id: str, revision: int, comment: str
    ) -> Step:
        """A supervisor sends the answers back to the therapist with a comment, instead of
        signing them off."""
        if supervisor.role is not Role.SUPERVISOR:
            raise Forbidden("Only supervisors send a checklist back.")
        comment = _comment(comment, required=True)
        client = await self.clients.get(supervisor, client_id)  # checks the team
        if not pending(await self.gatekeeper.evaluate(client.id)):
            raise PlayroomError("Nothing in this checklist waits for a sign-off.")
        async with self.db.session() as session:
            response = await self._response(session, client.id)
            if response is None or response.revision != revision:
                raise PlayroomError(
                    "The checklist changed since you opened it. "
                    "Reload it and check the answers again."
                )
            row = await self._add(session, response, SENT_BACK, supervisor.id, comment)
        await self._log(client.id, "signoff.sent_back", supervisor, row)
        return self._unnamed(row, supervisor.display_name)

    async def current(
        self, client_ids: Sequence[str], session: AsyncSession | None = None
    ) -> dict[str, Step]:
        """The newest step of each client that has one at its current revision."""
        async with self.db.read(session) as session:
            steps = await self._current(session, client_ids)
            return await self._named(session, steps)

    async def queue(self, supervisor: StaffView) -> Queue:
        entries = await self.gatekeeper.queue(supervisor)
        steps = await self.current([e.client.id for e in entries])
        asked: list[tuple[QueueEntry, Step]] = []
        unasked: list[tuple[QueueEntry, Step | None]] = []
        sent_back: list[tuple[QueueEntry, Step]] = []
        for entry in entries:
            step = steps.get(entry.client.id)
            if step is None:
                unasked.append((entry, None))
            elif step.kind == SENT_BACK:
                sent_back.append((entry, step))
            else:
                asked.append((entry, step))
        # what a therapist asked for first, oldest first; then the rest, as the gate found it
        asked.sort(key=lambda pair: pair[1].at)
        return Queue([*asked, *unasked], sent_back)

    async def sent_back_to(self, therapist: StaffView) -> list[tuple[ClientView, Step]]:
        """The therapist's clients whose answers a supervisor sent back, still unchanged."""
        async with self.db.read() as session:
            clients = await self.clients.list_for(therapist, session)
            steps = await self._current(session, [c.id for c in clients])
            back = [c for c in clients if c.id in steps and steps[c.id].kind == SENT_BACK]
            if not back:
                return []
            gates = await self.gatekeeper.evaluate_many(back, session=session)
            named = await self._named(session, {c.id: steps[c.id] for c in back})
        return [(c, named[c.id]) for c in back if pending(gates[c.id])]

    # -- storage

    async def _response(self, session: AsyncSession, client_id: str) -> ChecklistResponse | None:
        row: ChecklistResponse | None = await session.scalar(
            sa.select(ChecklistResponse).where(
                ChecklistResponse.client_id == client_id,
                ChecklistResponse.checklist_id == self.catalogue[Kind.SUITABILITY].id,
            )
        )
        return row

    async def _current(self, session: AsyncSession, client_ids: Sequence[str]) -> dict[str, Step]:
        """Each client's newest step, if it is at the current revision (names not read):
        one query per batch of clients."""
        steps: dict[str, Step] = {}
        for batch in batches(client_ids):
            rows = await session.scalars(
                sa.select(SignOffRequest)
                .join(
                    ChecklistResponse,
                    sa.and_(
                        ChecklistResponse.id == SignOffRequest.response_id,
                        ChecklistResponse.revision == SignOffRequest.revision,
                    ),
                )
                .where(SignOffRequest.client_id.in_(batch))
                .order_by(SignOffRequest.created_at)
            )
            for row in rows:  # oldest first: the newest stays
                steps[row.client_id] = self._unnamed(row)
        return steps

    async def _add(
        self, session: AsyncSession, response: ChecklistResponse, kind: str, by: str, text: str
    ) -> SignOffRequest:
        row = SignOffRequest(
            id=new_id(),
            client_id=response.client_id,
            response_id=response.id,
            revision=response.revision,
            kind=kind,
            by=by,
            created_at=utcnow(),
        )
        seal(self.ring, row, "comment_enc", text or None)
        session.add(row)
        return row

    async def _log(self, client_id: str, kind: str, by: StaffView, row: SignOffRequest) -> None:
        details = {"revision": row.revision, "request": row.id}
        await self.log.append(client_stream(client_id), kind, staff_actor(by.id), details)

    def _unnamed(self, row: SignOffRequest, name: str = "") -> Step:
        comment = unseal(self.ring, row, "comment_enc") or ""
        return Step(row.kind, row.revision, row.by, name, comment, row.created_at)

    async def _named(self, session: AsyncSession, steps: dict[str, Step]) -> dict[str, Step]:
        """``steps`` with the name of whoever took each, read in one query."""
        ids = sorted({step.by_id for step in steps.values()})
        names = {
            user.id: unseal(self.ring, user, "display_name_enc") or ""
            for user in await session.scalars(sa.select(User).where(User.id.in_(ids)))
        }
        return {
            client_id: replace(step, by_name=names.get(step.by_id) or "a colleague")
            for client_id, step in steps.items()
        }
