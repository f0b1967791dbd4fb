"""Tables of what happens in and after a live session: pre-join answers, the board and its
pictures, the disconnection plan's steps, places kept for a restart, escalations, the session
log, and outcomes. Personal columns are sealed and marked as in ``models.py``."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.db import UTCDateTime, utcnow
from server.storage.models import ENCRYPTED, Base, new_id


class JoinCheck(Base):
    """What a young person or parent said in their pre-join checks (sealed): where they
    are today, who is at home. Kept for the therapist, and for an emergency."""

    __tablename__ = "join_checks"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    appointment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    link_id: Mapped[str] = mapped_column(sa.ForeignKey("links.id", ondelete="CASCADE"))
    answers_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Guest(Base):
    """An interpreter or another professional invited to one session (``care/guests.py``):
    their name (sealed), their role, the agreement the therapist recorded for their
    presence, and their own link."""

    __tablename__ = "guests"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    appointment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    # the link goes with retention's links; who was invited, and on what agreement, stays
    link_id: Mapped[str | None] = mapped_column(sa.ForeignKey("links.id", ondelete="SET NULL"))
    name_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    role: Mapped[str] = mapped_column(sa.String(16))
    young_person_agreed_on: Mapped[date] = mapped_column(sa.Date)
    parent_needed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    parent_agreed_on: Mapped[date | None] = mapped_column(sa.Date)
    created_by: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BoardOp(Base):
    """One accepted whiteboard operation of a session, in order (sealed: what was drawn)."""

    __tablename__ = "board_ops"
    # the unique index is the one on the room too: a second on ``appointment_id`` alone was
    # one more page written an operation (migration 0029)
    __table_args__ = (sa.UniqueConstraint("appointment_id", "seq"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    appointment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(sa.Integer)
    author: Mapped[str] = mapped_column(sa.String(64))
    op_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BoardSnapshot(Base):
    """A session's board written down whole at one of its operations (sealed: what was
    drawn), so that it comes back from here and the operations stored after it rather than
    from all of them. Derived from ``board_ops``, which stay the record; one a session, the
    newest. See ``server/board/saving.py``."""

    __tablename__ = "board_snapshots"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    appointment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), unique=True
    )
    seq: Mapped[int] = mapped_column(sa.Integer)  # the last operation it holds
    state_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SharedObject(Base):
    """A picture shared in a session, after sanitising (sealed). Part of the client's box."""

    __tablename__ = "shared_objects"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    appointment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    # none for a group's session: its pictures are kept with the group's session, never in
    # one member's box
    client_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    mime: Mapped[str] = mapped_column(sa.String(32))
    width: Mapped[int] = mapped_column(sa.Integer)
    height: Mapped[int] = mapped_column(sa.Integer)
    data_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PlanStep(Base):
    """A step of the disconnection plan taken during a session, and how it went."""

    __tablename__ = "plan_steps"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    appointment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    case: Mapped[str] = mapped_column(sa.String(32))
    step: Mapped[str] = mapped_column(sa.String(32))
    outcome: Mapped[str] = mapped_column(sa.String(16))
    recorded_by: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Place(Base):
    """Someone's place in a live room, found by the hash of their resume token, so that a
    restarted server can take them straight back. Holds no name and no token."""

    __tablename__ = "places"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    appointment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    link_id: Mapped[str | None] = mapped_column(sa.String(32))
    user_id: Mapped[str | None] = mapped_column(sa.String(32))
    was_waiting: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # when they were last known to be connected to the room: refreshed every
    # ``places.SEEN_EVERY`` seconds while they are (what a log written after a crash says)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Escalation(Base):
    """A concern raised by the therapist during a session, tracked until it is closed."""

    __tablename__ = "escalations"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    appointment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    therapist_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # whom it is about, in a group's session (in one client's, the session's client)
    client_id: Mapped[str | None] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    concern: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EscalationEvent(Base):
    """Every step of an escalation, time-stamped: raised, alerted, acknowledged, closed."""

    __tablename__ = "escalation_events"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    escalation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("escalations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # what was done, in the words of whoever closed it (on ``closed`` only)
    note_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)


class EscalationRepeat(Base):
    """The next alert of an escalation not yet acknowledged: when it is due, how many have
    been sent, and who is next on the rota (supervisor ids, in order). Kept here rather than
    in a node's memory so that any node sends it when due; a node claims a due row by moving
    ``due_at`` on where ``attempt`` is still what it read (``care/rota.py``)."""

    __tablename__ = "escalation_repeats"

    escalation_id: Mapped[str] = mapped_column(
        sa.ForeignKey("escalations.id", ondelete="CASCADE"), primary_key=True
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempt: Mapped[int] = mapped_column(sa.Integer, default=0)
    rota: Mapped[str] = mapped_column(sa.Text)  # JSON list of supervisor ids
    next_index: Mapped[int] = mapped_column(sa.Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(64))  # the node that last sent


class LogEntry(Base):
    """One entry of a session's (or a client's) append-only log: what happened and who did
    it, never what was said or drawn. Hash-chained and signed entry by entry; details that
    could name anyone are sealed. See ``server/audit/sessionlog.py``."""

    __tablename__ = "log_entries"
    __table_args__ = (sa.UniqueConstraint("stream", "seq", name="uq_log_entries_stream_seq"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    stream: Mapped[str] = mapped_column(sa.String(48), index=True)  # session:<id>, client:<id>
    seq: Mapped[int] = mapped_column(sa.Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(sa.String(40))
    actor: Mapped[str] = mapped_column(sa.String(64))
    details_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    digest: Mapped[str] = mapped_column(sa.String(64))  # SHA-256 of the details (salted)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))
    signature: Mapped[bytes] = mapped_column(sa.LargeBinary)


class LogCheckpoint(Base):
    """A signed head of a log (as Certificate Transparency's signed tree heads): at the end
    of a session and at regular intervals."""

    __tablename__ = "log_checkpoints"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    stream: Mapped[str] = mapped_column(sa.String(48), index=True)
    seq: Mapped[int] = mapped_column(sa.Integer)
    head_hash: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.String(16))  # interval, end
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    signature: Mapped[bytes] = mapped_column(sa.LargeBinary)


class Outcome(Base):
    """An outcome measure of one session: the young person's rating of it (child-friendly
    faces) or the therapist's goal-based rating. The values are sealed."""

    __tablename__ = "outcomes"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    appointment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    measure: Mapped[str] = mapped_column(sa.String(24))  # session_rating, goal_based
    given_by: Mapped[str] = mapped_column(sa.String(16))  # young_person, therapist
    values_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Reflection(Base):
    """The therapist's short reflection after a session, sealed."""

    __tablename__ = "reflections"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    appointment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    therapist_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    text_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Scene(Base):
    """A board the therapist saved by name in the child's box: its elements as the server's
    board had them, and its name, both sealed. See ``server/board/scenes.py``."""

    __tablename__ = "scenes"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    appointment_id: Mapped[str] = mapped_column(  # the session it was saved in
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    saved_by: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    name_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    elements_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    # the tray's ground (sand, water, grass, plain; None: a white board), a word of the board's
    background: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Debrief(Base):
    """The therapist's debrief after a session (sealed), and whether they flagged the session
    for their supervisor's attention: a flag stays on the supervisor's home until one of the
    therapist's supervisors marks it seen. Part of the session's record."""

    __tablename__ = "debriefs"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    appointment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    therapist_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    note_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    flagged: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    seen_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id"))
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChatMessage(Base):
    """A message written in a session's chat, in order (sealed: what was written). Who wrote
    it (their role, and their join link or staff account) and to whom: everyone in the room
    (no ``to_role``), or one person privately; a private message is always to or from the
    therapist. See ``server/records/chat.py``."""

    __tablename__ = "chat_messages"
    __table_args__ = (sa.UniqueConstraint("appointment_id", "seq"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    appointment_id: Mapped[str] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    seq: Mapped[int] = mapped_column(sa.Integer)
    author_role: Mapped[str] = mapped_column(sa.String(16))
    author: Mapped[str] = mapped_column(sa.String(64))  # a join link's id, or staff:<user id>
    to_role: Mapped[str | None] = mapped_column(sa.String(16))  # None: everyone in the room
    to: Mapped[str | None] = mapped_column(sa.String(64))
    text_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
