"""Session records for supervisors and therapists: the list of sessions they may see, each
session's timeline read from its log, the log's verification, and an export. Every look at a
record is itself logged (in the session's ``views:`` stream).

A supervisor sees the sessions of the therapists they supervise; a therapist their own.

After a session the therapist may write a debrief (sealed, part of the record) and flag the
session for their supervisor's attention: the flag stays on the supervisor's home until one
of the therapist's supervisors marks it seen. The log says that a debrief was written and
that a flag was raised or seen, never the debrief's words.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from server.access.accounts import StaffView
from server.audit.sessionlog import (
    Entry,
    Report,
    SessionLog,
    session_stream,
    staff_actor,
    views_stream,
)
from server.care.clients import Clients
from server.care.gate_service import Gatekeeper
from server.crypto.sealed import seal, unseal
from server.exceptions import Forbidden, NotFound, PlayroomError
from server.records.chat import ChatLine, Chats, record_lines
from server.storage.db import Database, utcnow
from server.storage.ids import is_id
from server.storage.models import Appointment, Group, Link, Role, Supervision, new_id
from server.storage.session_models import Debrief, LogEntry

DEBRIEF_MAX = 4000

ROLE_NAMES = {
    "young_person": "the young person",
    "parent": "the parent or carer",
    "therapist": "the therapist",
    "observer": "an observer",
    "guest": "a guest",
}
TEXT = {
    "session.scheduled": "Session scheduled ({minutes} minutes)",
    "link.issued": "Join link issued for {role}",
    "link.revoked": "Join link for {role} withdrawn",
    "gate.evaluated": "Gate checked: {gate}",
    "gate.signed_off": "Gate passed on a supervisor's sign-off",
    "room.opened": "Room opened",
    "room.restored": "Room restored after a server restart",
    "participant.joined": "{Role} joined the waiting room",
    "participant.admitted": "Admitted {role}",
    "participant.declined": "Declined {role}{kept_out}",
    "participant.not_admitted": (
        "Could not admit {role}: the session could not start (the gate closed)"
    ),
    "participant.sent_to_waiting": "Sent {role} back to the waiting room",
    "participant.removed": "Removed {role}{kept_out}",
    "participant.let_back": "Let {role} back: their link joins the waiting room again",
    "participant.left": "{Role} left ({cause})",
    "participant.interrupted": "{Role}: connection interrupted ({cause}){cut_since}",
    "participant.reconnected": "{Role}: back ({cause})",
    "participant.lost": "{Role} LOST ({cause})",
    "flag.raised": "{Role} flagged: {flag}",
    "plan.started": "Disconnection plan started: {case}",
    "plan.step": "Plan step “{step}”: {outcome}",
    "escalation.raised": "ESCALATION raised: {concern}",
    "escalation.alerted": "Escalation alert sent to a supervisor on shift",
    "escalation.alerted_off_shift": "Escalation alert sent to a supervisor off shift",
    "escalation.nobody_on_shift": "NOBODY ON SHIFT: the therapist was given the out-of-hours way",
    "escalation.repeated": "Escalation alert repeated to a supervisor",
    "escalation.acknowledged": "Escalation acknowledged",
    "escalation.closed": "Escalation closed",
    "observer.joined": "A supervisor joined as an announced observer",
    "observer.media": "The observer's microphone {audio_on}, camera {video_on}",
    "guest.invited": "A guest ({guest_role}) invited; agreement recorded: {agreement}",
    "guest.withdrawn": "The invitation of a guest ({guest_role}) withdrawn",
    "guest.board": "The board {board_given} a guest ({guest_role})",
    "outcome.recorded": "{outcome_text}",
    "reflection.written": "Reflection written",
    "debrief.written": "Debrief written",
    "session.flagged": "FLAGGED for the supervisor's attention",
    "session.flag_seen": "The supervisor saw the flag",
    "risk.updated": "Risk level updated to {level}",
    "quality.summary": "{quality_text}",
    "share.started": "{Role} started sharing their screen",
    "share.stopped": "{Role}'s screen share ended ({cause})",
    "share.allowed": "{Role} may share their screen: {allowed}",
    "agreement.read_together": "The agreement read together ({sections} of {of} sections)",
    "chat.sent": "{Role} wrote in the chat, to {chat_to}",
    "chat.turned_off": "Chat turned off for everyone but the therapist",
    "chat.turned_on": "Chat turned on again",
    "scene.saved": "The board saved as a scene in the box",
    "scene.reopened": "A scene from the box put on the board",
    "session.ended": "Session ended",
    "session.cancelled": "Session cancelled",
    "session.moved": "Session moved to another time: its join links withdrawn",
    "session.outside_hours": "Outside safeguarding hours: the therapist gave a reason",
}
FLAGS = {
    "escalation": "escalation.raised",
    "loss": "participant.lost",
    "sign_off": "gate.signed_off",  # the room opened on a supervisor's sign-off
    "supervisor": "session.flagged",  # the therapist asked for the supervisor's attention
}


@dataclass
class Line:
    at: datetime
    who: str
    text: str
    kind: str
    severity: str  # info, warning, alert


@dataclass
class Summary:
    scheduled_minutes: int
    held_seconds: float | None
    young_person_in_room_seconds: float
    interruptions: int
    interrupted_seconds: float
    losses: int
    escalations: int
    sign_offs: int  # openings of the room on a supervisor's sign-off


@dataclass
class DebriefView:
    id: str
    note: str
    flagged: bool
    written_by: str
    created_at: datetime
    seen_by: str | None = None
    seen_at: datetime | None = None


@dataclass
class FlaggedSession:
    """A session a therapist flagged for their supervisor's attention, not yet seen."""

    debrief_id: str
    appointment: Appointment
    client_name: str
    therapist_name: str
    flagged_at: datetime


@dataclass
class Record:
    appointment: Appointment
    client_name: str
    therapist_name: str
    lines: list[Line]
    summary: Summary
    entries: list[Entry] = field(default_factory=list)
    debriefs: list[DebriefView] = field(default_factory=list)
    chat: list[ChatLine] = field(default_factory=list)


@dataclass
class SessionRow:
    appointment: Appointment
    client_name: str
    therapist_name: str
    flags: set[str]


@dataclass
class Filters:
    therapist: str | None = None
    client: str | None = None
    since: date | None = None
    until: date | None = None
    flag: str | None = None  # escalation, loss, sign_off


class Records:
    def __init__(
        self,
        db: Database,
        log: SessionLog,
        clients: Clients,
        gatekeeper: Gatekeeper,
        timezone: str,
        chats: Chats,
    ) -> None:
        self.db = db
        self.chats = chats
        self.log = log
        self.clients = clients
        self.gatekeeper = gatekeeper
        self.zone = ZoneInfo(timezone)

    async def therapists_of(self, user: StaffView) -> list[str]:
        """Whose sessions ``user`` may see."""
        if user.role is Role.THERAPIST:
            return [user.id]
        if user.role is not Role.SUPERVISOR:
            return []
        async with self.db.session() as session:
            rows = await session.scalars(
                sa.select(Supervision.therapist_id).where(Supervision.supervisor_id == user.id)
            )
            return list(rows)

    async def sessions(self, user: StaffView, filters: Filters) -> list[SessionRow]:
        team = await self.therapists_of(user)
        if filters.therapist:
            team = [t for t in team if t == filters.therapist]
        query = sa.select(Appointment).where(Appointment.therapist_id.in_(team))
        if filters.flag in FLAGS:
            # in the query, before its limit: older sessions with the flag are not lost
            query = query.where(
                sa.exists().where(
                    LogEntry.stream == sa.literal(session_stream("")) + Appointment.id,
                    LogEntry.kind == FLAGS[filters.flag],
                )
            )
        if filters.client:
            query = query.where(Appointment.client_id == filters.client)
        if filters.since:
            query = query.where(Appointment.starts_at >= self._start_of(filters.since))
        if filters.until:
            end = self._start_of(filters.until + timedelta(days=1))
            query = query.where(Appointment.starts_at < end)
        async with self.db.session() as session:
            appointments = list(
                await session.scalars(query.order_by(Appointment.starts_at.desc()).limit(500))
            )
            flagged = await session.execute(
                sa.select(LogEntry.stream, LogEntry.kind).where(
                    LogEntry.stream.in_([session_stream(a.id) for a in appointments]),
                    LogEntry.kind.in_(FLAGS.values()),
                )
            )
            kinds: dict[str, set[str]] = {}
            for stream, kind in flagged:
                kinds.setdefault(stream, set()).add(kind)
        rows = []
        for a in appointments:
            flags = {
                name
                for name, kind in FLAGS.items()
                if kind in kinds.get(session_stream(a.id), set())
            }
            rows.append(
                SessionRow(
                    a,
                    await self._client_name(a),
                    await self._staff(a.therapist_id),
                    flags,
                )
            )
        return rows

    def _start_of(self, day: date) -> datetime:
        return datetime.combine(day, time(0), self.zone)

    async def _client_name(self, appointment: Appointment) -> str:
        """Whom the session was for: the client's chosen name, or the group's name."""
        if appointment.client_id is not None:
            return await self.clients.display_name(appointment.client_id)
        async with self.db.read() as session:
            group = await session.get(Group, appointment.group_id or "")
        return (
            f"Group: {unseal(self.clients.ring, group, 'name_enc') or ''}" if group else "A group"
        )

    async def _staff(self, user_id: str) -> str:
        return await self.gatekeeper.staff_name(user_id) or "a staff member"

    async def appointment_for(self, user: StaffView, appointment_id: str) -> Appointment:
        """The session, if ``user`` may see its record."""
        if not is_id(appointment_id):  # a longer id must not reach another session
            raise NotFound("There is no such session.")
        async with self.db.session() as session:
            row = await session.get(Appointment, appointment_id)
        if row is None:
            raise NotFound("There is no such session.")
        if row.therapist_id not in await self.therapists_of(user):
            raise Forbidden("This session is not in your team.")
        return row

    async def record(self, user: StaffView, appointment_id: str, how: str = "viewed") -> Record:
        """The session's timeline; the look is logged (``how``: viewed, exported, printed)."""
        appointment = await self.appointment_for(user, appointment_id)
        await self.log.append(views_stream(appointment.id), f"record.{how}", staff_actor(user.id))
        entries = await self.log.entries(session_stream(appointment.id))
        names: dict[str, str] = {}
        members = await self._members(entries) if appointment.group_id else {}
        lines = [await self._line(e, names, members) for e in entries]
        client_name = await self._client_name(appointment)
        therapist_name = await self._staff(appointment.therapist_id)
        said = await self.chats.of_session(appointment.id)
        return Record(
            appointment,
            client_name,
            therapist_name,
            lines,
            summarise(appointment, entries),
            entries,
            await self._debriefs(appointment.id),
            record_lines(said, therapist_name, client_name, await self._by_link(appointment)),
        )

    async def _by_link(self, appointment: Appointment) -> dict[str, str]:
        """In a group's session, whom each join link names: the member, or their parent."""
        if appointment.group_id is None:
            return {}
        async with self.db.read() as session:
            rows = list(
                await session.execute(
                    sa.select(Link.id, Link.client_id, Link.role).where(
                        Link.appointment_id == appointment.id
                    )
                )
            )
        out = {}
        for link_id, client_id, role in rows:
            name = await self.clients.display_name(client_id)
            out[link_id] = f"{name}'s parent or carer" if role == "parent" else name
        return out

    async def debrief(
        self, user: StaffView, appointment_id: str, note: str, flag: bool
    ) -> Debrief | None:
        """The therapist's debrief of their own session (sealed), and their flag for the
        supervisor's attention; each is logged, without the note's words. Nothing to store
        (no note, no flag) stores nothing."""
        note = note.strip()
        if len(note) > DEBRIEF_MAX:
            raise PlayroomError(f"A debrief is at most {DEBRIEF_MAX} characters.")
        if not is_id(appointment_id):
            raise NotFound("There is no such session.")
        async with self.db.session() as session:
            appointment = await session.get(Appointment, appointment_id)
        if appointment is None or appointment.therapist_id != user.id:
            raise Forbidden("This session is not yours.")
        if not note and not flag:
            return None
        row = Debrief(
            id=new_id(),
            appointment_id=appointment.id,
            therapist_id=user.id,
            flagged=flag,
            created_at=utcnow(),
        )
        if note:
            seal(self.clients.ring, row, "note_enc", note)
        async with self.db.session() as session:
            session.add(row)
        stream, actor = session_stream(appointment.id), staff_actor(user.id)
        if note:
            await self.log.append(stream, "debrief.written", actor, {"debrief": row.id})
        if flag:
            await self.log.append(stream, "session.flagged", actor, {"debrief": row.id})
        return row

    async def debriefs_of(self, user: StaffView, appointment_id: str) -> list[DebriefView]:
        """The debriefs of a session ``user`` may see (its therapist, their supervisors)."""
        appointment = await self.appointment_for(user, appointment_id)
        return await self._debriefs(appointment.id)

    async def _debriefs(self, appointment_id: str) -> list[DebriefView]:
        async with self.db.session() as session:
            rows = list(
                await session.scalars(
                    sa.select(Debrief)
                    .where(Debrief.appointment_id == appointment_id)
                    .order_by(Debrief.created_at)
                )
            )
        return [
            DebriefView(
                row.id,
                unseal(self.clients.ring, row, "note_enc") or "",
                row.flagged,
                await self._staff(row.therapist_id),
                row.created_at,
                await self._staff(row.seen_by) if row.seen_by else None,
                row.seen_at,
            )
            for row in rows
        ]

    async def flagged_for(self, user: StaffView) -> list[FlaggedSession]:
        """The sessions flagged for ``user``'s attention (a supervisor's team's), not yet
        marked seen, oldest first."""
        if user.role is not Role.SUPERVISOR:
            return []
        team = await self.therapists_of(user)
        async with self.db.session() as session:
            found = list(
                await session.execute(
                    sa.select(Debrief, Appointment)
                    .join(Appointment, Appointment.id == Debrief.appointment_id)
                    .where(
                        Debrief.flagged.is_(True),
                        Debrief.seen_at.is_(None),
                        Debrief.therapist_id.in_(team),
                        Appointment.therapist_id.in_(team),
                    )
                    .order_by(Debrief.created_at)
                )
            )
        return [
            FlaggedSession(
                row.id,
                appointment,
                await self._client_name(appointment),
                await self._staff(row.therapist_id),
                row.created_at,
            )
            for row, appointment in found
        ]

    async def mark_flag_seen(self, user: StaffView, debrief_id: str) -> str:
        """A supervisor of the session's therapist has seen its flag; logged. Returns the
        session's id."""
        if user.role is not Role.SUPERVISOR:
            raise Forbidden("Only a supervisor marks a flag seen.")
        if not is_id(debrief_id):
            raise NotFound("There is no such flag.")
        async with self.db.session() as session:
            row = await session.get(Debrief, debrief_id)
            if row is None or not row.flagged:
                raise NotFound("There is no such flag.")
            appointment_id = row.appointment_id
        await self.appointment_for(user, appointment_id)  # in their team
        async with self.db.session() as session:
            updated = await session.execute(
                sa.update(Debrief)
                .where(Debrief.id == debrief_id, Debrief.seen_at.is_(None))
                .values(seen_by=user.id, seen_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        if getattr(updated, "rowcount", 0):
            await self.log.append(
                session_stream(appointment_id),
                "session.flag_seen",
                staff_actor(user.id),
                {"debrief": debrief_id},
            )
        return appointment_id

    async def verify(self, user: StaffView, appointment_id: str) -> Report:
        appointment = await self.appointment_for(user, appointment_id)
        await self.log.append(views_stream(appointment.id), "record.verified", staff_actor(user.id))
        return await self.log.verify(session_stream(appointment.id))

    async def _members(self, entries: list[Entry]) -> dict[str, str]:
        """In a group's session, which member each person who came with a link was (their
        join's entry names the link, the link its member): participant id -> chosen name."""
        links = {
            str(e.details["participant"]): str(e.details["link"])
            for e in entries
            if e.kind == "participant.joined" and e.details.get("link")
        }
        async with self.db.read() as session:
            rows = await session.execute(
                sa.select(Link.id, Link.client_id).where(Link.id.in_(set(links.values())))
            )
            client_of = {link_id: client_id for link_id, client_id in rows}
        return {
            pid: await self.clients.display_name(client_of[link])
            for pid, link in links.items()
            if link in client_of
        }

    async def _line(
        self, entry: Entry, names: dict[str, str], members: dict[str, str] | None = None
    ) -> Line:
        actor = entry.actor
        if actor not in names:
            kind, _, ident = actor.partition(":")
            if kind == "staff":
                names[actor] = await self._staff(ident)
            elif kind in ROLE_NAMES:
                names[actor] = ROLE_NAMES[kind].removeprefix("the ").capitalize()
            else:
                names[actor] = "Playroom"
        text = describe(entry)
        member = (members or {}).get(str(entry.details.get("participant", "")))
        if member:  # in a group's session: which member, or whose parent
            whose = f"{member}'s parent" if entry.details.get("role") == "parent" else member
            text = f"{text} ({whose})"
        return Line(entry.at, names[actor], text, entry.kind, severity(entry.kind))


def _agreement(details: dict[str, Any]) -> str:
    """A guest's invitation's agreement, as its log entry keeps it (dates, no names)."""
    said = f"the young person on {details.get('young_person_agreed_on', '?')}"
    if details.get("parent_agreed_on"):
        said += f", the parent or carer on {details['parent_agreed_on']}"
    return said


def describe(entry: Entry) -> str:
    d: dict[str, Any] = {k: v for k, v in entry.details.items() if isinstance(v, str | int | bool)}
    role = ROLE_NAMES.get(str(d.get("role", "")), "someone")
    if d.get("guest_role"):  # a guest: their role, never their name
        role = f"{role} ({str(d['guest_role']).replace('_', ' ')})"
    values = {
        **d,
        "role": role,
        "Role": role[0].upper() + role[1:],
        "gate": "open" if d.get("open") else "closed",
        "flag": str(d.get("kind", "")).replace("_", " "),
        "case": str(d.get("case", "")).replace("_", " "),
        "concern": str(d.get("concern", "")).replace("_", " "),
        "outcome": str(d.get("outcome", "")).replace("_", " "),
        "step": str(d.get("step", "")).replace("_", " "),
        "outcome_text": _outcome_text(entry.details),
        "quality_text": _quality_text(entry.details),
        "audio_on": "on" if d.get("audio") else "off",
        "video_on": "on" if d.get("video") else "off",
        "chat_to": _chat_to(str(d.get("to", "everyone"))),
        "guest_role": str(d.get("guest_role", "")).replace("_", " "),
        "board_given": "given to" if d.get("on") else "taken back from",
        "agreement": _agreement(entry.details),
        # a link put out of the session (``edge/hosting.py``): entries before the link was
        # named, and an observer's removal, say nothing of it
        "kept_out": ": their link cannot join again until let back" if d.get("link") else "",
        # written after a crash, on the restart: when they were last known connected
        "cut_since": f", last known connected at {_since(entry):%H:%M:%S} UTC"
        if "since" in d
        else "",
    }
    template = TEXT.get(entry.kind, entry.kind)
    try:
        return template.format_map(values)
    except (KeyError, ValueError):
        return template


def _chat_to(to: str) -> str:
    """Whom a chat message was for, as the timeline says it (never what it said)."""
    return "everyone" if to == "everyone" else f"{ROLE_NAMES.get(to, 'someone')} only"


def _outcome_text(details: dict[str, Any]) -> str:
    if details.get("measure") == "session_rating":
        return f"Session rated by the young person: {details.get('score')} of {details.get('of')}"
    if details.get("measure") == "goal_based":
        if "progress" in details:  # the goals' text is in the outcome, not in the log
            ratings = details.get("progress") or []
            parts = [f"goal {n} {p}/10" for n, p in enumerate(ratings, 1)]
        else:  # entries written before the goals' text was kept out of the log
            goals = details.get("goals") or []
            parts = [
                f"{g.get('goal')} {g.get('progress')}/10" for g in goals if isinstance(g, dict)
            ]
        return "Goal-based rating: " + "; ".join(parts)
    return "Outcome recorded"


def _quality_text(details: dict[str, Any]) -> str:
    """One link's connection over the session, as the reporting page measured it."""
    who = ROLE_NAMES.get(str(details.get("role")), "someone")
    peer = ROLE_NAMES.get(str(details.get("peer_role")), "someone")
    rtt = details.get("rtt_mean_ms")
    rtt_text = f"{rtt} ms round trip on average (at most {details.get('rtt_max_ms')} ms)"
    return (
        f"Connection from {who} to {peer}: "
        f"{rtt_text if rtt is not None else 'round trip not measured'}, "
        f"{details.get('loss_mean_pct')}% packets lost on average "
        f"(at most {details.get('loss_max_pct')}%), {details.get('samples')} measurements"
    )


def severity(kind: str) -> str:
    if kind in (
        "escalation.raised",
        "escalation.nobody_on_shift",
        "participant.lost",
        "flag.raised",
        "session.flagged",
    ):
        return "alert"
    if kind.startswith(("participant.interrupted", "plan.", "escalation.", "gate.signed_off")):
        return "warning"
    return "info"


def _since(entry: Entry) -> datetime:
    """When an interruption began: as it was written, or, for one written after a crash, when
    the person was last known connected (``since``)."""
    since = entry.details.get("since")
    if isinstance(since, str):
        try:
            return datetime.fromisoformat(since)
        except ValueError:
            return entry.at
    return entry.at


def summarise(appointment: Appointment, entries: list[Entry]) -> Summary:
    """Durations and counts from the log: how long the room was held, how long the young
    person was in it, how often and how long connections were interrupted."""
    opened = next((e.at for e in entries if e.kind == "room.opened"), None)
    ended = next((e.at for e in entries if e.kind in ("session.ended", "session.cancelled")), None)
    held = (ended - opened).total_seconds() if opened and ended else None
    in_room, interrupted = 0.0, 0.0
    entered: dict[str, datetime] = {}
    dropped: dict[str, datetime] = {}
    for e in entries:
        pid, role = str(e.details.get("participant", "")), e.details.get("role")
        if e.kind in ("participant.admitted", "participant.reconnected") and role == "young_person":
            entered.setdefault(pid, e.at)
        if (
            e.kind
            in (
                "participant.interrupted",
                "participant.left",
                "participant.lost",
                "participant.sent_to_waiting",
                "participant.removed",
            )
            and pid in entered
            and role == "young_person"
        ):
            in_room += max(0.0, (_since(e) - entered.pop(pid)).total_seconds())
        if e.kind == "participant.interrupted":
            dropped.setdefault(pid, _since(e))
        elif e.kind in ("participant.reconnected", "participant.lost") and pid in dropped:
            interrupted += (e.at - dropped.pop(pid)).total_seconds()
    until = ended or utcnow()  # a session still going on counts up to now
    in_room += sum((until - at).total_seconds() for at in entered.values())
    counts = Counter(e.kind for e in entries)
    minutes = int((appointment.ends_at - appointment.starts_at).total_seconds() // 60)
    return Summary(
        scheduled_minutes=minutes,
        held_seconds=held,
        young_person_in_room_seconds=in_room,
        interruptions=counts["participant.interrupted"],
        interrupted_seconds=interrupted,
        losses=counts["participant.lost"],
        escalations=counts["escalation.raised"],
        sign_offs=counts["gate.signed_off"],
    )


def export(record: Record, report: Report) -> dict[str, Any]:
    """One session's record as JSON: the timeline, its summary and the log's verification."""
    a = record.appointment
    return {
        "session": a.id,
        "client": record.client_name,
        "therapist": record.therapist_name,
        "starts_at": a.starts_at.isoformat(),
        "ends_at": a.ends_at.isoformat(),
        "status": a.status,
        "summary": record.summary.__dict__,
        "timeline": [
            {"at": line.at.isoformat(), "who": line.who, "what": line.text, "kind": line.kind}
            for line in record.lines
        ],
        "debriefs": [
            {
                "note": d.note,
                "flagged": d.flagged,
                "written_by": d.written_by,
                "at": d.created_at.isoformat(),
                "seen_by": d.seen_by,
                "seen_at": d.seen_at.isoformat() if d.seen_at else None,
            }
            for d in record.debriefs
        ],
        "chat": [
            {"at": c.at.isoformat(), "who": c.who, "to": c.to, "private": c.private, "text": c.text}
            for c in record.chat
        ],
        "verification": report.as_dict(),
    }
