"""Escalation during a session: the therapist raises a concern, sees at once what they need
(emergency contacts, where the young person said they are, the emergency number, the
safeguarding lead), and the supervisors on the rota (``rota.py``) are alerted until one
acknowledges, the alerts kept in the database (``repeats.py``). The therapist is told who was
reached, and when nobody is on shift, at once, with the service's out-of-hours number. The
therapist or a supervisor who was told closes it with a short note of what was done: the
note is sealed on the ``closed`` event, and the session's log says it was closed, never
what the note says."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from server.access.accounts import StaffView
from server.audit.sessionlog import SessionLog, session_stream, staff_actor
from server.care.clients import Clients
from server.care.consent import Consents
from server.care.gate_service import Gatekeeper
from server.care.repeats import Repeats
from server.care.rota import Entry, Rota
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import Forbidden, NotFound, PlayroomError
from server.storage.db import Database, utcnow
from server.storage.models import Appointment, GroupMember, Link, Role, Supervision, User, new_id
from server.storage.session_models import Escalation, EscalationEvent, JoinCheck

CONCERNS = {
    "risk_to_self": "Risk to self",
    "risk_from_others": "Risk from others",
    "medical_emergency": "Medical emergency",
    "unreachable": "Young person unreachable",
}
NOTE_LENGTH = 500  # a closing note: what was done, in a sentence or two
# events of an alert reaching a supervisor (``by``: whom it reached), on shift or off
ALERTED = ("alerted", "alerted_off_shift")


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def reach(alerted: list[dict[str, object]], out_of_hours: str) -> str:
    """Who an escalation has reached, in the therapist's words: never more than was sent."""
    on = [str(a["name"]) for a in alerted if a["on_shift"]]
    off = [str(a["name"]) for a in alerted if not a["on_shift"]]
    if on:
        said = f"Alerted, on shift: {_names(on)}."
    elif out_of_hours:
        said = f"Nobody is on shift: ring the out-of-hours number, {out_of_hours}."
    else:
        said = "Nobody is on shift: follow your service's out-of-hours procedure."
    if off:
        said += f" Alerted off shift: {_names(off)}."
    elif not on:
        said += " No supervisor has been alerted."
    return said


@dataclass(frozen=True)
class EscalationView:
    """An escalation as the therapist's panel and the supervisors' cards show it: who it is
    about (the client's chosen name) and whose it is, and who acknowledged and closed it."""

    id: str
    appointment_id: str
    therapist_id: str
    therapist_name: str
    client_name: str
    concern: str
    status: str
    created_at: str
    contacts: list[dict[str, str]]
    location: str
    emergency_number: str
    safeguarding_lead: str
    safeguarding_phone: str
    acknowledged_by: str = ""  # the first to acknowledge, by name
    acknowledged_at: str | None = None
    closed_by: str = ""
    closed_at: str | None = None
    note: str = ""  # what was done, from whoever closed it
    # who has been alerted so far, in order: [{"name", "on_shift", "own"}]
    alerted: list[dict[str, object]] = field(default_factory=list)
    nobody_on_shift: bool = False  # nobody on shift was alerted
    out_of_hours: str = ""  # the service's out-of-hours number, when set
    reached: str = ""  # ``reach``: who was alerted, in the therapist's words

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class Escalations:
    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        clients: Clients,
        consents: Consents,
        gatekeeper: Gatekeeper,
        log: SessionLog,
        rota: Rota,
        repeats: Repeats,
        out_of_hours: str = "",
    ) -> None:
        self.log = log
        self.rota = rota
        self.repeats = repeats
        self.out_of_hours = out_of_hours
        self.db = db
        self.ring = ring
        self.clients = clients
        self.consents = consents
        self.gatekeeper = gatekeeper

    async def raise_concern(
        self, therapist: StaffView, appointment_id: str, concern: str, client_id: str | None = None
    ) -> EscalationView:
        """A concern about the session's client, or in a group's session about the member
        ``client_id``: the escalation shows that member's contacts, location and plan."""
        if therapist.role is not Role.THERAPIST:
            raise Forbidden("Only the therapist of the session escalates.")
        if concern not in CONCERNS:
            raise PlayroomError("Choose one of the concerns.")
        rota = await self.rota.order(therapist.id)
        async with self.db.session() as session:
            appointment = await session.get(Appointment, appointment_id)
            if appointment is None or appointment.therapist_id != therapist.id:
                raise Forbidden("This session is not yours.")
            about = appointment.client_id or client_id
            if about is None or (
                appointment.client_id is not None and client_id not in (None, about)
            ):
                raise PlayroomError("Choose the young person the concern is about.")
            if appointment.group_id is not None and (
                await session.get(GroupMember, (appointment.group_id, about)) is None
            ):
                raise PlayroomError("That young person is not in this group.")
            row = Escalation(
                id=new_id(),
                appointment_id=appointment_id,
                client_id=about,
                therapist_id=therapist.id,
                concern=concern,
                status="open",
                created_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            session.add(
                EscalationEvent(
                    id=new_id(),
                    escalation_id=row.id,
                    kind="raised",
                    by=therapist.id,
                    created_at=utcnow(),
                )
            )
            # the first alert, kept with the escalation: sent even if this node dies now
            self.repeats.add(session, row.id, rota, row.created_at)
        await self.log.append(
            session_stream(appointment_id),
            "escalation.raised",
            staff_actor(therapist.id),
            {"escalation": row.id, "concern": concern},
        )
        return await self.view(row.id)

    async def view(self, escalation_id: str) -> EscalationView:
        async with self.db.session() as session:
            row = await session.get(Escalation, escalation_id)
            if row is None:
                raise NotFound("There is no such escalation.")
            appointment = await session.get(Appointment, row.appointment_id)
            assert appointment is not None
            about = row.client_id or appointment.client_id or ""
            check = await session.scalar(
                sa.select(JoinCheck)
                .join(Link, Link.id == JoinCheck.link_id)
                .where(
                    JoinCheck.appointment_id == row.appointment_id,
                    Link.role == "young_person",
                    Link.client_id == about,
                )
                .order_by(JoinCheck.created_at.desc())
            )
            events = list(
                await session.scalars(
                    sa.select(EscalationEvent)
                    .where(
                        EscalationEvent.escalation_id == row.id,
                        EscalationEvent.kind.in_(("acknowledged", "closed", *ALERTED)),
                    )
                    .order_by(EscalationEvent.created_at)
                )
            )
        # the first acknowledgement is the one that stopped the alerts; only one closes
        acknowledged = next((e for e in events if e.kind == "acknowledged"), None)
        closed = next((e for e in events if e.kind == "closed"), None)
        reached: dict[str, bool] = {}  # each supervisor once, in the order reached
        for e in events:
            if e.kind in ALERTED and e.by is not None:
                reached.setdefault(e.by, e.kind == "alerted")
        own = set(await self.supervisors_of(row.therapist_id))
        alerted: list[dict[str, object]] = [
            {"name": await self._name(sid), "on_shift": on, "own": sid in own}
            for sid, on in reached.items()
        ]
        checks = json.loads(unseal(self.ring, check, "answers_enc") or "{}") if check else {}
        location = " ".join(
            v for v in (checks.get("where.place", ""), checks.get("where.details", "")) if v
        ).replace("_", " ")
        latest = await self.consents.latest(about)
        plan = await self.gatekeeper.plan_answers(about)

        def answer(item: str) -> str:
            return plan.get(item, {}).get("answer", "")

        return EscalationView(
            id=row.id,
            appointment_id=row.appointment_id,
            therapist_id=row.therapist_id,
            therapist_name=await self._name(row.therapist_id),
            client_name=await self.clients.display_name(about),
            concern=row.concern,
            status=row.status,
            created_at=row.created_at.isoformat(),
            contacts=latest.contacts if latest and latest.decision == "given" else [],
            location=location or "not stated",
            emergency_number=answer("plan.emergency_number"),
            safeguarding_lead=answer("plan.safeguarding_lead_name"),
            safeguarding_phone=answer("plan.safeguarding_lead_phone"),
            acknowledged_by=await self._name(acknowledged.by if acknowledged else None),
            acknowledged_at=acknowledged.created_at.isoformat() if acknowledged else None,
            closed_by=await self._name(closed.by if closed else None),
            closed_at=closed.created_at.isoformat() if closed else None,
            note=(unseal(self.ring, closed, "note_enc") or "") if closed else "",
            alerted=alerted,
            nobody_on_shift=not any(a["on_shift"] for a in alerted),
            out_of_hours=self.out_of_hours,
            reached=reach(alerted, self.out_of_hours),
        )

    async def _name(self, user_id: str | None) -> str:
        return await self.gatekeeper.staff_name(user_id) if user_id else ""

    async def supervisors_of(self, therapist_id: str) -> list[str]:
        async with self.db.session() as session:
            return sorted(
                await session.scalars(
                    sa.select(Supervision.supervisor_id).where(
                        Supervision.therapist_id == therapist_id
                    )
                )
            )  # the team, in a stable order

    async def _set(
        self, escalation_id: str, user: StaffView, status: str, note: str | None = None
    ) -> EscalationView:
        async with self.db.session() as session:
            row = await session.get(Escalation, escalation_id)
            if row is None:
                raise NotFound("There is no such escalation.")
            allowed = row.therapist_id == user.id or (
                user.role is Role.SUPERVISOR and await self._told(session, row, user.id)
            )
            if not allowed:
                raise Forbidden("This escalation is not for your team.")
            if row.status == "closed":
                raise PlayroomError("This escalation is already closed.")
            row.status = status
            await self.repeats.stop(session, row.id)  # someone has it: the alerts stop
            event = EscalationEvent(
                id=new_id(), escalation_id=row.id, kind=status, by=user.id, created_at=utcnow()
            )
            if note is not None:
                seal(self.ring, event, "note_enc", note)
            session.add(event)
        await self.log.append(
            session_stream(row.appointment_id),
            f"escalation.{status}",
            staff_actor(user.id),
            {"escalation": row.id},
        )
        return await self.view(escalation_id)

    async def _told(self, session: AsyncSession, row: Escalation, supervisor_id: str) -> bool:
        """A supervisor of the therapist's, or one the escalation's alerts reached."""
        if await session.get(Supervision, (supervisor_id, row.therapist_id)) is not None:
            return True
        reached = await session.scalar(
            sa.select(EscalationEvent.id).where(
                EscalationEvent.escalation_id == row.id,
                EscalationEvent.kind.in_(ALERTED),
                EscalationEvent.by == supervisor_id,
            )
        )
        return reached is not None

    async def record(self, escalation_id: str, kind: str, to: str | None = None) -> None:
        """An event of the system's own: an alert reaching ``to`` (``alerted`` on shift,
        ``alerted_off_shift``, ``repeated`` to someone reached before), or one with nobody
        to reach (``nobody_on_shift``)."""
        async with self.db.session() as session:
            row = await session.get(Escalation, escalation_id)
            session.add(
                EscalationEvent(
                    id=new_id(),
                    escalation_id=escalation_id,
                    kind=kind,
                    by=to,
                    created_at=utcnow(),
                )
            )
        if row is not None:
            details = {"escalation": escalation_id, **({"to": to} if to else {})}
            await self.log.append(
                session_stream(row.appointment_id), f"escalation.{kind}", "system", details
            )

    async def record_alerts(self, escalation_id: str, targets: list[Entry]) -> list[Entry] | None:
        """An alert goes to ``targets``: each still an enabled account is ``alerted`` (on
        shift) or ``alerted_off_shift`` the first time, ``repeated`` after. Returns those
        it reaches; None when the escalation is no longer open. The status is read, locked,
        in the transaction that records the alerts, as an acknowledgement sets it in the
        transaction that stops the alerts: a turn under way as someone acknowledges is
        recorded before the acknowledgement or not at all, never after it."""
        recorded: list[tuple[str, str]] = []
        async with self.db.session() as session:
            row = await session.get(Escalation, escalation_id, with_for_update=True)
            if row is None or row.status != "open":
                return None
            before = set(
                await session.scalars(
                    sa.select(EscalationEvent.by).where(
                        EscalationEvent.escalation_id == escalation_id,
                        EscalationEvent.kind.in_(ALERTED),
                    )
                )
            )
            enabled = set(
                await session.scalars(
                    sa.select(User.id).where(
                        User.id.in_([t.id for t in targets]), User.disabled.is_(False)
                    )
                )
            )
            reached = [t for t in targets if t.id in enabled]
            now = utcnow()
            for target in reached:
                if target.id in before:
                    kind = "repeated"
                else:
                    kind = "alerted" if target.on_shift else "alerted_off_shift"
                session.add(
                    EscalationEvent(
                        id=new_id(),
                        escalation_id=escalation_id,
                        kind=kind,
                        by=target.id,
                        created_at=now,
                    )
                )
                recorded.append((kind, target.id))
            appointment_id = row.appointment_id
        for kind, to in recorded:
            await self.log.append(
                session_stream(appointment_id),
                f"escalation.{kind}",
                "system",
                {"escalation": escalation_id, "to": to},
            )
        return reached

    async def concerned(self, escalation_id: str, therapist_id: str) -> list[str]:
        """Whose dashboards hear of it: the therapist's supervisors and anyone it reached."""
        async with self.db.read() as session:
            reached = set(
                await session.scalars(
                    sa.select(EscalationEvent.by).where(
                        EscalationEvent.escalation_id == escalation_id,
                        EscalationEvent.kind.in_(ALERTED),
                    )
                )
            )
        return sorted({*await self.supervisors_of(therapist_id), *(r for r in reached if r)})

    async def acknowledge(self, supervisor: StaffView, escalation_id: str) -> EscalationView:
        if supervisor.role is not Role.SUPERVISOR:
            raise Forbidden("Supervisors acknowledge escalations.")
        return await self._set(escalation_id, supervisor, "acknowledged")

    async def close(self, user: StaffView, escalation_id: str, note: str) -> EscalationView:
        """Close with a short note of what was done (sealed; the log says only that it was
        closed, and by whom)."""
        note = note.strip()
        if not note or len(note) > NOTE_LENGTH:
            raise PlayroomError(
                f"Say in a few words what was done (up to {NOTE_LENGTH} characters)."
            )
        return await self._set(escalation_id, user, "closed", note)

    async def open_for(self, supervisor: StaffView) -> list[EscalationView]:
        """Open escalations of the supervisor's team, and those whose alerts reached them."""
        team = sa.select(Supervision.therapist_id).where(Supervision.supervisor_id == supervisor.id)
        reached = sa.select(EscalationEvent.escalation_id).where(
            EscalationEvent.kind.in_(ALERTED), EscalationEvent.by == supervisor.id
        )
        async with self.db.session() as session:
            ids = list(
                await session.scalars(
                    sa.select(Escalation.id)
                    .where(
                        sa.or_(Escalation.therapist_id.in_(team), Escalation.id.in_(reached)),
                        Escalation.status != "closed",
                    )
                    .order_by(Escalation.created_at)
                )
            )
        return [await self.view(i) for i in ids]

    async def events(self, escalation_id: str) -> list[tuple[str, str | None, datetime]]:
        async with self.db.session() as session:
            rows = await session.scalars(
                sa.select(EscalationEvent)
                .where(EscalationEvent.escalation_id == escalation_id)
                .order_by(EscalationEvent.created_at)
            )
            return [(r.kind, r.by, r.created_at) for r in rows]
