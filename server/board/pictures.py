"""A room board's pictures: a member's upload taken chunk by chunk, bounded in size and in
pictures a minute, sanitised one at a time, sealed into storage, and each picture sent whole
to a link (its start, its bytes, its end), one after another as the link carries them.

What a picture is on the board (its place, its size) is the board's (``service.py``): this
is the picture itself."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from media.images import MAX_BYTES, CleanPicture, sanitize
from media.pacing import send_paced
from media.transfer import CHUNK, Transfers
from server.access.ratelimit import RateLimiter
from server.board.messages import (
    Begin,
    ChannelError,
    ChannelMessage,
    End,
    Label,
    ObjectEnd,
    ObjectStart,
    Ready,
    dump_reply,
    parse_object_message,
)
from server.board.messages import Shared as Taken
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal_bytes
from server.exceptions import STORAGE_FAILURES, BoardError, PictureError, TransferError
from server.storage.db import Database, utcnow
from server.storage.models import new_id
from server.storage.session_models import SharedObject

log = logging.getLogger(__name__)
PICTURES_PER_MINUTE = 6
# a picture that could not be stored or read: the storage is failing for now
PICTURES_NOT_SAVED = ChannelError(
    code="not_saved",
    message="The pictures could not be saved or loaded just now. Try again in a moment.",
)


class Sink(Protocol):
    """What a picture is sent on: a member's link (``members.Link``)."""

    def send(self, label: str, data: str | bytes) -> bool: ...
    async def drained(self, label: str, low: int) -> None: ...


def answer(peer: Sink, label: Label, message: ChannelMessage) -> None:
    """One message to one member."""
    peer.send(label, dump_reply(message))


# what the board does with a picture once it is stored: send it to everyone and place it
Shared = Callable[[str, CleanPicture], Awaitable[None]]


class Pictures:
    """One room's pictures: taking them from members, keeping them, sending them."""

    def __init__(self, appointment_id: str, client_id: str, db: Database, ring: KeyRing) -> None:
        self.appointment_id = appointment_id
        self.client_id = client_id
        self.db = db
        self.ring = ring
        self.limiter = RateLimiter(PICTURES_PER_MINUTE, 60)
        self.sanitizing = asyncio.Lock()  # one picture decoded at a time per room

    async def message(
        self,
        author: str,
        peer: Sink,
        transfers: Transfers,
        data: str | bytes,
        room_for_one: Callable[[], bool],
        place: Shared,
    ) -> None:
        """A picture's ``begin``, its bytes, or its ``end`` from ``author`` on ``peer``. Only
        ``begin`` and ``end`` are answered when they are taken (``ready``; ``shared``); a
        chunk only when refused. A whole picture is sanitised, stored and handed to
        ``place`` (which sends it to everyone and places it), if the board has room."""
        try:
            if isinstance(data, bytes):
                transfers.chunk(data)
                return
            match parse_object_message(data):
                case Begin() as begin:
                    self._begin(author, peer, transfers, begin)
                case End() as end:
                    transfer = transfers.finish(end.id)
                    if not room_for_one():
                        raise TransferError("full", "The board is full. Clear some of it first.")
                    async with self.sanitizing:
                        clean = await asyncio.to_thread(sanitize, transfer.data())
                        object_id = await self._store(clean)
                    answer(peer, "objects", Taken(id=transfer.id, object=object_id))
                    await place(object_id, clean)
        except (TransferError, PictureError, BoardError) as exc:
            answer(peer, "objects", ChannelError(code=exc.code, message=str(exc)))
        except STORAGE_FAILURES:
            # not stored, so not on the board: the sender is told, and the connection stays
            log.warning("picture not stored", extra={"event": "picture_not_stored"})
            answer(peer, "objects", PICTURES_NOT_SAVED)

    def _begin(self, author: str, peer: Sink, transfers: Transfers, begin: Begin) -> None:
        """A new picture, or the rest of one that was on its way: answered ``ready`` with
        how much of it is here. A refused size costs nothing against the pictures a minute."""
        if begin.size > MAX_BYTES:
            raise TransferError(
                "too_large", f"Pictures are limited to {MAX_BYTES // (1024 * 1024)} MB."
            )
        resuming = transfers.resumes(begin.id)
        if not resuming and not self.limiter.allow(author):
            raise TransferError(
                "rate_limited", f"At most {PICTURES_PER_MINUTE} pictures a minute. Wait a moment."
            )
        transfer = transfers.begin(begin.id, begin.size)
        answer(peer, "objects", Ready(id=transfer.id, received=transfer.received))

    async def _store(self, clean: CleanPicture) -> str:
        """Keep a sanitised picture, sealed, with the session and its client; its id."""
        row = SharedObject(
            id=new_id(),
            appointment_id=self.appointment_id,
            client_id=self.client_id or None,  # none in a group's session: kept with it
            mime=clean.mime,
            width=clean.width,
            height=clean.height,
            created_at=utcnow(),
        )
        seal(self.ring, row, "data_enc", clean.data)
        async with self.db.session() as session:
            session.add(row)
        return row.id

    def _ours(self, row: SharedObject) -> bool:
        """A picture this board may show: the client's (from any of their sessions, as a
        board reopened from the box holds), or in a group's session its own."""
        if self.client_id:
            return row.client_id == self.client_id
        return row.client_id is None and row.appointment_id == self.appointment_id

    async def send(
        self, peer: Sink, object_id: str, mime: str | None = None, data: bytes | None = None
    ) -> bool:
        """One picture to one member, whole: nothing else is sent to them from its start to
        its end. Returns whether the link took it (a missing picture is passed over)."""
        if mime is None or data is None:
            async with self.db.session() as session:
                row = await session.get(SharedObject, object_id)
            if row is None or not self._ours(row):
                return True
            mime, data = row.mime, unseal_bytes(self.ring, row, "data_enc") or b""
        answer(peer, "objects", ObjectStart(object=object_id, mime=mime, size=len(data)))
        for start in range(0, len(data), CHUNK):
            peer.send("objects", data[start : start + CHUNK])
        return peer.send("objects", dump_reply(ObjectEnd(object=object_id)))

    async def send_owed(self, peer: Sink, owed: list[str], current: Callable[[], bool]) -> None:
        """The pictures ``peer`` owes its page, whole, one after another as the link carries
        them: a board of 48 MB of pictures never waits on a link all at once
        (``media/pacing.py``). Each stays in ``owed`` until the link took it whole; sending
        stops once the link is not ``current`` (another link sends what is left)."""

        async def send(object_id: str) -> bool:
            if not current():
                return False
            if object_id not in owed:
                return True  # sent meanwhile
            if not await self.send(peer, object_id):
                return False
            if object_id in owed:
                owed.remove(object_id)
            return True

        try:
            await send_paced(peer, "objects", list(owed), send)
        except STORAGE_FAILURES:
            log.warning("pictures not loaded", extra={"event": "pictures_not_loaded"})
            answer(peer, "objects", PICTURES_NOT_SAVED)
