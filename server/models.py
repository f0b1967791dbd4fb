"""Tables. Columns holding personal data are sealed by the key ring and marked
``info={"encrypted": True}`` so that ``rotate-keys`` finds every one of them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from server.db import UTCDateTime, utcnow

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
    role: Mapped[str] = mapped_column(sa.String(16))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    totp_secret_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    totp_enrolled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    totp_last_step: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session_epoch: Mapped[int] = mapped_column(sa.Integer, default=0)
    is_demo: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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
