"""Tables of what goes out to a family: their e-mail addresses (sealed) with whom the join
link goes to, and the outbox of invitations, change notices and reminders, kept until sent
so that a restart or a second node loses none and sends none twice (``care/outbox.py``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.db import UTCDateTime, utcnow
from server.storage.models import ENCRYPTED, Base, new_id


class ClientContact(Base):
    """How a client's family is reached by e-mail: the parent's or carer's address and the
    young person's (both optional, both sealed), who gets the join link, and whether
    invitations and reminders go out without the therapist pressing a button."""

    __tablename__ = "client_contacts"

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), unique=True
    )
    parent_email_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    young_person_email_enc: Mapped[bytes | None] = mapped_column(sa.LargeBinary, info=ENCRYPTED)
    # "from_consent": the parent's address came from their consent form, not the therapist
    parent_email_from: Mapped[str] = mapped_column(sa.String(16), default="therapist")
    join_to: Mapped[str] = mapped_column(sa.String(16), default="young_person")
    automatic: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(Base):
    """One message to send: what (``kind``), how (``channel``), for which session. Nothing
    personal is kept here: the address, the number and the words are made when it is sent,
    from the client's row as it is then. One row per session, kind and channel; a row is
    claimed by one node for ``lease_until``, then marked sent, or tried again later."""

    __tablename__ = "outbox"
    __table_args__ = (sa.UniqueConstraint("appointment_id", "kind", "channel"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default=new_id)
    client_id: Mapped[str] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), index=True
    )
    appointment_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(sa.String(24))  # consent, invitation, moved, ...
    channel: Mapped[str] = mapped_column(sa.String(8))  # email, sms
    link_id: Mapped[str | None] = mapped_column(sa.ForeignKey("links.id", ondelete="CASCADE"))
    base: Mapped[str | None] = mapped_column(sa.String(255))  # what links start with
    lang: Mapped[str] = mapped_column(sa.String(8), default="en")
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claim: Mapped[str | None] = mapped_column(sa.String(32))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(40))  # a code, never an address
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
