"""Tables of the clinical frame: staff, clients, checklists, consent, links and sessions
(those of what happens in a session are in ``session_models.py``). Columns holding personal
data are sealed by the key ring and marked ``info={"encrypted": True}`` so that
``rotate-keys`` finds every one of them."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from server.storage.db import UTCDateTime, utcnow

ENCRYPTED = {"encrypted": True}


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    pass


class Role(enum.StrEnum):
    THERAPIST = "therapist"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class User(Base):
    """A staff account. The username is found by its blind index and stored sealed."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    login_index: Mapped[str] = mapped_column(sa.String(64), unique=True)
    username_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    display_name_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    email_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    totp_secret_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    totp_enrolled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    totp_last_step: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    is_demo: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # when the account was found disabled (the retention clock of staff accounts)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffSession(Base):
    """A staff member signed in on one device (``access/sessions.py``). The cookie carries a
    random token; only its hash is kept. Ending the row ends every copy of the cookie."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    device: Mapped[str] = mapped_column(sa.String(80))  # "Chrome on Android"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SignInFailure(Base):
    """Failed sign-ins for one username from one address (``access/lockout.py``): both only
    as one keyed hash, and the username's own keyed hash, so that an unlock finds them all."""

    __tablename__ = "sign_in_failures"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    login_index: Mapped[str] = mapped_column(sa.String(64), index=True)
    failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    wait_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Supervision(Base):
    """A supervisor supervises a therapist."""

    __tablename__ = "supervision"

    supervisor_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    therapist_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Shift(Base):
    """A supervisor's shifts: a weekly pattern (days as bits, Monday first, and the hours in
    the service's time zone) and the button on their home page, which holds until the
    pattern next changes (or, without a pattern, until pressed again). See ``care/rota.py``."""

    __tablename__ = "shifts"

    supervisor_id: Mapped[str] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    pattern_days: Mapped[int] = mapped_column(sa.Integer, default=0)  # 0: no pattern
    pattern_start: Mapped[str | None] = mapped_column(sa.String(5))  # "09:00"
    pattern_end: Mapped[str | None] = mapped_column(sa.String(5))  # "17:00"
    manual_on: Mapped[bool | None] = mapped_column(sa.Boolean)  # None: the pattern decides
    manual_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IThrive(enum.StrEnum):
    """The iThrive level of need (Kooth maps its offer to these)."""

    GETTING_ADVICE = "getting_advice"
    GETTING_HELP = "getting_help"
    GETTING_MORE_HELP = "getting_more_help"
    GETTING_RISK_SUPPORT = "getting_risk_support"


class RiskLevel(enum.StrEnum):
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Client(Base):
    """A young person, pseudonymous: a chosen name or initials, an age, a named worker."""

    __tablename__ = "clients"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    named_worker_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), index=True)
    display_name_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    age_band: Mapped[str | None] = mapped_column(sa.String(16))
    date_of_birth_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    notes_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    # the language of the family's pages, set by the therapist (``server/i18n.py``); none:
    # the browser's. Sealed: a family's language can say something of where they come from
    language_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    ithrive: Mapped[str] = mapped_column(sa.String(32))
    risk_level: Mapped[str] = mapped_column(sa.String(16))
    risk_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the end of treatment (cleared when the young person comes back): starts the clock of
    # how long the record is kept; see server/records/retention.py
    discharged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # a safeguarding concern, complaint, claim or inquiry: never deleted automatically
    retention_hold: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class ClientLevel(Base):
    """History of a client's iThrive and risk levels; the newest row is current."""

    __tablename__ = "client_levels"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    ithrive: Mapped[str] = mapped_column(sa.String(32))
    risk_level: Mapped[str] = mapped_column(sa.String(16))
    note_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    changed_by: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChecklistResponse(Base):
    """A client's answers to one checklist (sealed), revised on every save."""

    __tablename__ = "checklist_responses"
    __table_args__ = (sa.UniqueConstraint("client_id", "checklist_id"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    checklist_id: Mapped[str] = mapped_column(sa.String(64))
    checklist_version: Mapped[int] = mapped_column(sa.Integer)
    answers_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    revision: Mapped[int] = mapped_column(sa.Integer, default=1)
    updated_by: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reviewed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SignOff(Base):
    """A supervisor's sign-off of one revision of a client's suitability checklist."""

    __tablename__ = "sign_offs"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    response_id: Mapped[str] = mapped_column(
        sa.ForeignKey("checklist_responses.id", ondelete="CASCADE")
    )
    revision: Mapped[int] = mapped_column(sa.Integer)
    supervisor_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    comment_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the server's Ed25519 signature: a row written into the database by hand has none
    signature: Mapped[bytes | None] = mapped_column(sa.LargeBinary, nullable=True)


class SignOffRequest(Base):
    """A step on the way to a sign-off, for one revision of a client's suitability checklist:
    the therapist asks for it (``asked``, with an optional note), or a supervisor sends it
    back with a comment (``sent_back``). The newest step for the current revision is where
    it stands; the sign-off itself is a ``sign_offs`` row."""

    __tablename__ = "sign_off_requests"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    response_id: Mapped[str] = mapped_column(
        sa.ForeignKey("checklist_responses.id", ondelete="CASCADE")
    )
    revision: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(16))  # asked, sent_back
    by: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    comment_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentDecision(enum.StrEnum):
    GIVEN = "given"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class Consent(Base):
    """One version of a parent/carer's consent; every version is kept."""

    __tablename__ = "consents"
    __table_args__ = (sa.UniqueConstraint("client_id", "version"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(sa.Integer)
    link_id: Mapped[str] = mapped_column(sa.ForeignKey("links.id"))
    form: Mapped[str] = mapped_column(sa.String(64), doc="checklist key, e.g. consent@1")
    decision: Mapped[str] = mapped_column(sa.String(16))
    details_enc: Mapped[bytes] = mapped_column(
        sa.LargeBinary, info=ENCRYPTED, doc="typed name, date, contacts, confirmations"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LinkKind(enum.StrEnum):
    CONSENT = "consent"
    JOIN = "join"
    PRACTICE = "practice"  # the camera check, the agreement and the room, before a session
    GUEST = "guest"  # an invited guest's way into one session (``care/guests.py``)


class Link(Base):
    """A capability link issued to someone without an account; the token names its id."""

    __tablename__ = "links"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(sa.String(16))
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    appointment_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(16))
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Group(Base):
    """A named set of a therapist's clients who meet in one room (``care/groups.py``): each
    member keeps their own consent, checklist, plan and gate."""

    __tablename__ = "groups"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    therapist_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name_enc: Mapped[bytes] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[str] = mapped_column(
        sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SessionSeries(Base):
    """A weekly or fortnightly rhythm of sessions (``care/series.py``): each of its sessions
    is an ordinary appointment that names it."""

    __tablename__ = "series"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    therapist_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    every_weeks: Mapped[int] = mapped_column(sa.Integer)  # 1 weekly, 2 fortnightly
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the first session's start
    minutes: Mapped[int] = mapped_column(sa.Integer)
    count: Mapped[int] = mapped_column(sa.Integer)  # sessions made
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# the statuses of a session that is over (both reached through ``Schedule.end``): its log
# is sealed, its board closed, and its links work no more
OVER = ("ended", "cancelled")


class Appointment(Base):
    """A scheduled session between a therapist and a client."""

    __tablename__ = "appointments"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    # the client the session is for; none for a group's session, which names its group
    # (each member's join link names the member, ``care/groups.py``)
    client_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("groups.id", ondelete="CASCADE"), index=True
    )
    therapist_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(16), default="scheduled")  # see ``OVER``
    relay_only: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the therapist's settings of the live room, kept so that a room rebuilt after a restart
    # or on another node comes back as they left it: locked, who may clear the board, and
    # whether the chat is on
    room_locked: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    board_clear_allowed: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    chat_on: Mapped[bool] = mapped_column(sa.Boolean, default=True)  # for all, or private only
    # a session of a series (``care/series.py``); the reason the therapist gave for a time
    # outside the service's safeguarding hours; why, and when, it was cancelled
    series_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("series.id", ondelete="SET NULL"), index=True
    )
    hours_rationale_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    cancel_reason_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DailyCheck(Base):
    """A therapist's pre-session checks for one day."""

    __tablename__ = "daily_checks"
    __table_args__ = (sa.UniqueConstraint("therapist_id", "day"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    therapist_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id"))
    day: Mapped[date] = mapped_column(sa.Date)
    checklist: Mapped[str] = mapped_column(sa.String(64))
    answers: Mapped[dict[str, str]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
