"""A session's chat as it is kept: each message sealed, in order, with who wrote it, to whom
and when. Written through the board's group commit, so a burst from every room of a process
costs one transaction at a time and never fails for the database being busy; read back for
a page coming back into the room (only what that person may see), for the session's record
and for the subject-access export (``export.py`` reads the table as it reads every other).

Whose a message is stays the same across reconnects and rejoins: a join link's id, or
``staff:<user id>`` for the therapist. A private message is always to or from the therapist,
so the therapist may see every message of their session; anyone else sees the messages to
everyone and their own private ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.storage.db import Database
from server.storage.groupcommit import GroupCommit
from server.storage.models import new_id
from server.storage.session_models import ChatMessage

MAX_CHARACTERS = 1000  # a message's text, as the protocol bounds it
THERAPIST = "therapist"
OBSERVER = "observer"


@dataclass(frozen=True)
class Said:
    """One message of a session's chat, opened."""

    seq: int
    author_role: str
    author: str
    to_role: str | None  # None: to everyone in the room
    to: str | None
    text: str
    at: datetime

    @property
    def private(self) -> bool:
        return self.to_role is not None

    def seen_by(self, role: str, who: str) -> bool:
        """Whether the person ``who`` (a join link's id, or ``staff:<id>``) may see it."""
        if role == OBSERVER:
            return False  # an observer reads the chat in the record, not in the room
        return role == THERAPIST or not self.private or who in (self.author, self.to)


class Chats:
    """The chat of every session: written in order, read back sealed fields opened."""

    def __init__(self, db: Database, ring: KeyRing, writer: GroupCommit) -> None:
        self.db = db
        self.ring = ring
        self.writer = writer

    async def next_seq(self, appointment_id: str) -> int:
        """The number the session's next message takes (counted from 1)."""
        async with self.db.read() as session:
            last = await session.scalar(
                sa.select(sa.func.max(ChatMessage.seq)).where(
                    ChatMessage.appointment_id == appointment_id
                )
            )
        return (last or 0) + 1

    async def write(self, appointment_id: str, said: Said) -> None:
        """Keep one message, sealed; returns once it is committed."""
        row = ChatMessage(
            id=new_id(),
            appointment_id=appointment_id,
            seq=said.seq,
            author_role=said.author_role,
            author=said.author,
            to_role=said.to_role,
            to=said.to,
            created_at=said.at,
        )
        seal(self.ring, row, "text_enc", said.text)
        await self.writer.write(row)

    async def of_session(self, appointment_id: str) -> list[Said]:
        """Every message of a session, in order."""
        async with self.db.read() as session:
            rows = list(
                await session.scalars(
                    sa.select(ChatMessage)
                    .where(ChatMessage.appointment_id == appointment_id)
                    .order_by(ChatMessage.seq)
                )
            )
        return [
            Said(
                row.seq,
                row.author_role,
                row.author,
                row.to_role,
                row.to,
                unseal(self.ring, row, "text_enc") or "",
                row.created_at,
            )
            for row in rows
        ]


@dataclass(frozen=True)
class ChatLine:
    """One message as the session's record shows it: who wrote it, to whom, when, what."""

    at: datetime
    who: str
    to: str  # "everyone", or the one person it was for
    private: bool
    text: str


def record_lines(
    said: list[Said], therapist: str, young_person: str, by_link: dict[str, str] | None = None
) -> list[ChatLine]:
    """A session's chat for its record, each person named as the record names them; in a
    group's session (``by_link``: join link id -> whom it names) by member."""
    names = {THERAPIST: therapist, "young_person": young_person, "parent": "Parent or carer"}
    links = by_link or {}

    def who(role: str, link: str | None) -> str:
        return links.get(link or "") or names.get(role, role)

    return [
        ChatLine(
            s.at,
            who(s.author_role, s.author),
            who(s.to_role, s.to) if s.to_role else "everyone",
            s.private,
            s.text,
        )
        for s in said
    ]
