"""A client with a row in every table that holds anything about a client, written straight
into the database (sealed as the services seal), at a chosen time: for the retention and
subject-access tests."""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from media.board import Board, parse_op
from media.compaction import dump_board
from server.appkeys import DATABASE, KEYRING, SESSION_LOG
from server.audit.sessionlog import client_stream, session_stream, staff_actor, views_stream
from server.crypto.sealed import seal
from server.records.retention import CLIENT_MODELS
from server.storage.mail_models import ClientContact, OutboxMessage
from server.storage.models import (
    Appointment,
    ChecklistResponse,
    Client,
    ClientLevel,
    Consent,
    Group,
    GroupMember,
    Link,
    SessionSeries,
    SignOff,
    SignOffRequest,
    new_id,
)
from server.storage.session_models import (
    BoardOp,
    BoardSnapshot,
    ChatMessage,
    Debrief,
    Escalation,
    EscalationEvent,
    EscalationRepeat,
    Guest,
    JoinCheck,
    LogCheckpoint,
    LogEntry,
    Outcome,
    Place,
    PlanStep,
    Reflection,
    Scene,
    SharedObject,
)

PICTURE = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
# every table that holds rows about a client (the staff tables hold none)
CLIENT_TABLES = {m.__tablename__ for m in CLIENT_MODELS}


async def fill_client(
    app: web.Application,
    staff_id: str,
    when: datetime,
    *,
    name: str = "Robin",
    born: date | None = None,
    age_band: str | None = None,
    discharged: datetime | None = None,
    escalation_status: str = "closed",
) -> dict[str, list[str]]:
    """A client whose every row is dated ``when`` (a session from ``when`` for 50 minutes);
    returns the ids written, table by table."""
    ring, db, log = app[KEYRING], app[DATABASE], app[SESSION_LOG]
    ids: defaultdict[str, list[str]] = defaultdict(list)
    end = when + timedelta(minutes=50)

    def add(row: Any, **sealed: str | bytes | None) -> Any:
        row.id = row.id or new_id()
        for column, value in sealed.items():
            seal(ring, row, column, value)
        ids[row.__tablename__].append(row.id)
        return row

    client = add(
        Client(
            id=new_id(),
            named_worker_id=staff_id,
            age_band=age_band if born is None else None,
            ithrive="getting_help",
            risk_level="low",
            risk_changed_at=when,
            created_at=when,
            discharged_at=discharged,
        ),
        display_name_enc=name,
        date_of_birth_enc=born.isoformat() if born else None,
        notes_enc=f"notes about {name}",
    )
    group = add(
        Group(id=new_id(), therapist_id=staff_id, created_at=when), name_enc=f"{name}'s group"
    )
    member = GroupMember(group_id=group.id, client_id=client.id, added_at=when)
    ids["group_members"].append(group.id)
    series = add(
        SessionSeries(
            id=new_id(),
            client_id=client.id,
            therapist_id=staff_id,
            every_weeks=1,
            starts_at=when,
            minutes=50,
            count=1,
            created_at=when,
        )
    )
    appointment = Appointment(
        id=new_id(),
        client_id=client.id,
        therapist_id=staff_id,
        starts_at=when,
        ends_at=end,
        status="ended",
        created_at=when,
        series_id=series.id,
    )
    consent_link = Link(
        id=new_id(),
        kind="consent",
        client_id=client.id,
        role="parent",
        not_before=when,
        expires_at=when + timedelta(days=30),
        created_by=staff_id,
        created_at=when,
    )
    join_link = Link(
        id=new_id(),
        kind="join",
        client_id=client.id,
        appointment_id=appointment.id,
        role="young_person",
        not_before=when,
        expires_at=end,
        revoked_at=end,
        created_by=staff_id,
        created_at=when,
    )
    guest_link = Link(
        id=new_id(),
        kind="guest",
        client_id=client.id,
        appointment_id=appointment.id,
        role="guest",
        not_before=when,
        expires_at=end,
        revoked_at=end,
        created_by=staff_id,
        created_at=when,
    )
    response = ChecklistResponse(
        id=new_id(),
        client_id=client.id,
        checklist_id="ccap-suitability",
        checklist_version=1,
        revision=1,
        updated_by=staff_id,
        updated_at=when,
        reviewed_at=when,
    )
    escalation = Escalation(
        id=new_id(),
        appointment_id=appointment.id,
        therapist_id=staff_id,
        concern="safeguarding",
        status=escalation_status,
        created_at=when,
    )
    contacts = {"contacts": [{"name": f"{name}'s mum", "phone": "07700 900456"}]}
    sun = {"op": "sticker", "id": "s1", "name": "sun", "x": 10, "y": 10, "scale": 2}
    board = Board()
    board.apply("young_person:p1", parse_op(sun))
    rows = [
        add(
            ClientLevel(
                client_id=client.id,
                ithrive="getting_help",
                risk_level="low",
                changed_by=staff_id,
                changed_at=when,
            ),
            note_enc="first level",
        ),
        add(response, answers_enc=json.dumps({"q": {"answer": "yes", "rationale": ""}})),
        add(appointment, hours_rationale_enc=f"{name} can only come after school"),
        add(consent_link),
        add(join_link),
        add(guest_link),
        add(
            ClientContact(client_id=client.id, join_to="parent", automatic=True, updated_at=when),
            parent_email_enc=f"{name.lower()}.parent@example.org",
            young_person_email_enc=None,
        ),
        add(
            OutboxMessage(
                client_id=client.id,
                appointment_id=appointment.id,
                kind="invitation",
                channel="email",
                status="sent",
                due_at=when,
                attempts=1,
                sent_at=when,
                created_at=when,
            )
        ),
        add(
            SignOff(
                client_id=client.id,
                response_id=response.id,
                revision=1,
                supervisor_id=staff_id,
                created_at=when,
            ),
            comment_enc="fine",
        ),
        add(
            SignOffRequest(
                client_id=client.id,
                response_id=response.id,
                revision=1,
                kind="sent_back",
                by=staff_id,
                created_at=when,
            ),
            comment_enc=f"ask {name}'s mum first",
        ),
        add(
            Consent(
                client_id=client.id,
                version=1,
                link_id=consent_link.id,
                form="consent@1",
                decision="given",
                created_at=when,
            ),
            details_enc=json.dumps(contacts),
        ),
        add(
            JoinCheck(appointment_id=appointment.id, link_id=join_link.id, created_at=when),
            answers_enc=json.dumps({"where": f"{name}'s bedroom"}),
        ),
        add(
            Guest(
                appointment_id=appointment.id,
                client_id=client.id,
                link_id=guest_link.id,
                role="interpreter",
                young_person_agreed_on=when.date(),
                parent_needed=False,
                created_by=staff_id,
                created_at=when,
            ),
            name_enc=f"{name}'s interpreter Sam",
        ),
        add(
            BoardOp(
                appointment_id=appointment.id, seq=1, author="young_person:p1", created_at=when
            ),
            op_enc=json.dumps(sun),
        ),
        add(
            BoardSnapshot(appointment_id=appointment.id, seq=1, created_at=when),
            state_enc=json.dumps(dump_board(board)),
        ),
        add(
            ChatMessage(
                appointment_id=appointment.id,
                seq=1,
                author_role="young_person",
                author=join_link.id,
                to_role="therapist",
                to=f"staff:{staff_id}",
                created_at=when,
            ),
            text_enc=f"{name} wrote: can we talk about school",
        ),
        add(
            SharedObject(
                appointment_id=appointment.id,
                client_id=client.id,
                mime="image/png",
                width=1,
                height=1,
                created_at=when,
            ),
            data_enc=PICTURE,
        ),
        add(
            Scene(
                client_id=client.id,
                appointment_id=appointment.id,
                saved_by=staff_id,
                created_at=when,
            ),
            name_enc=f"{name}'s family at the beach",
            elements_enc=json.dumps([]),
        ),
        add(
            PlanStep(
                appointment_id=appointment.id,
                case="lost",
                step="wait",
                outcome="done",
                recorded_by=staff_id,
                created_at=when,
            )
        ),
        add(escalation),
        add(
            EscalationEvent(
                escalation_id=escalation.id, kind="raised", by=staff_id, created_at=when
            )
        ),
        add(
            EscalationEvent(
                escalation_id=escalation.id, kind="closed", by=staff_id, created_at=when
            ),
            note_enc=f"rang {name}'s mum",
        ),
        add(
            Outcome(
                appointment_id=appointment.id,
                measure="session_rating",
                given_by="young_person",
                created_at=when,
            ),
            values_enc=json.dumps({"score": 3}),
        ),
        add(
            Reflection(appointment_id=appointment.id, therapist_id=staff_id, created_at=when),
            text_enc=f"{name} drew a sun",
        ),
        add(
            Debrief(
                appointment_id=appointment.id,
                therapist_id=staff_id,
                flagged=True,
                seen_by=staff_id,
                seen_at=when,
                created_at=when,
            ),
            note_enc=f"{name} was quiet today",
        ),
    ]
    place = Place(
        token_hash=new_id() + new_id(),
        appointment_id=appointment.id,
        participant_id="p1",
        role="young_person",
        link_id=join_link.id,
        created_at=when,
    )
    async with db.session() as session:
        session.add(client)
        session.add(group)
        await session.flush()
        session.add(member)
        session.add(series)
        await session.flush()
        for row in rows[:4]:
            session.add(row)
        await session.flush()
        for row in rows[4:]:
            session.add(row)
            await session.flush()
        session.add(place)
        # the escalation's next alert (not due while a test runs)
        repeat = EscalationRepeat(
            escalation_id=escalation.id,
            due_at=datetime.now(UTC) + timedelta(days=365),
            attempt=1,
            rota=json.dumps([{"id": staff_id, "on_shift": False, "own": True}]),
            next_index=1,
        )
        session.add(repeat)
    ids["places"].append(place.token_hash)
    ids["escalation_repeats"].append(escalation.id)
    actor = staff_actor(staff_id)
    streams = [session_stream(appointment.id), views_stream(appointment.id)]
    for stream in [*streams, client_stream(client.id)]:
        await log.append(stream, "room.opened", actor, {"about": name})
        await log.append(stream, "session.ended", actor)
        # only a session's own log is sealed at its end; the others go on
        await log.checkpoint(stream, "end" if stream == streams[0] else "interval")
    async with db.session() as session:
        all_streams = [*streams, client_stream(client.id)]
        ids["log_entries"] = list(
            await session.scalars(sa.select(LogEntry.id).where(LogEntry.stream.in_(all_streams)))
        )
        ids["log_checkpoints"] = list(
            await session.scalars(
                sa.select(LogCheckpoint.id).where(LogCheckpoint.stream.in_(all_streams))
            )
        )
    assert set(ids) == CLIENT_TABLES
    return dict(ids)


async def remaining(app: web.Application, ids: dict[str, list[str]]) -> dict[str, set[str]]:
    """Which of ``ids`` are still in the database, table by table."""
    db = app[DATABASE]
    models = {m.__tablename__: m for m in CLIENT_MODELS}
    out: dict[str, set[str]] = {}
    async with db.session() as session:
        for table, wanted in ids.items():
            if table == "places":
                key: Any = Place.token_hash
            elif table == "escalation_repeats":
                key = EscalationRepeat.escalation_id
            elif table == "group_members":
                key = GroupMember.group_id
            else:
                key = models[table].id
            found = await session.scalars(sa.select(key).where(key.in_(wanted)))
            out[table] = set(found)
    return out
