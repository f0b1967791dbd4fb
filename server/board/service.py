"""Each room's whiteboard on the server: operations checked, numbered, persisted (sealed)
before anyone sees them, and fanned out; pictures sanitised and shared. A participant who
joins or comes back gets a snapshot of the board.

Storage is the board's truth: a board that finds its next number taken there (another node
held the room at the same time) catches up with what was stored before numbering again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from media import stickers
from media.board import MAX_ELEMENTS, Board, Picture, Sticker, parse_op
from media.images import MAX_BYTES, sanitize
from media.server_peer import ServerPeer
from media.transfer import CHUNK, Transfers
from server.access.ratelimit import RateLimiter
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal, unseal_bytes
from server.exceptions import STORAGE_FAILURES, BoardError, PictureError, TransferError
from server.live.places import keep_settings
from server.storage.db import Database, utcnow
from server.storage.groupcommit import GroupCommit
from server.storage.models import Appointment, new_id
from server.storage.session_models import BoardOp, SharedObject

log = logging.getLogger(__name__)
OPS_PER_SECOND = 100  # a point every 16 ms is about 60
PICTURES_PER_MINUTE = 6
# a picture that could not be stored or read: the storage is failing for now
UNAVAILABLE = {
    "type": "error",
    "code": "not_saved",
    "message": "The pictures could not be saved or loaded just now. Try again in a moment.",
}
SNAPSHOT_PART_BYTES = 48 * 1024  # well under every browser's data channel message limit


class Link(Protocol):
    """What carries a member's channels: their data connection (``ServerPeer``) or, as a
    fallback, their signalling socket (``server/edge/board.py``, the board only)."""

    def send(self, label: str, data: str | bytes) -> bool: ...
    def send_json(self, label: str, doc: object) -> bool: ...
    async def close(self) -> None: ...


@dataclass
class Member:
    """A participant's link to the board (data connection or socket), as the board sees it."""

    author: str  # stable across reconnects: the link, or the therapist's account
    may_clear: bool
    peer: Link
    transfers: Transfers = field(default_factory=Transfers)


class RoomBoard:
    """One session's board and its members."""

    def __init__(
        self,
        appointment_id: str,
        client_id: str,
        db: Database,
        ring: KeyRing,
        writer: GroupCommit | None = None,
    ) -> None:
        self.appointment_id = appointment_id
        self.client_id = client_id
        self.db = db
        self.ring = ring
        self.writer = writer or GroupCommit(db)
        self.board = Board()
        self.members: dict[str, Member] = {}  # participant id -> member
        self.lock = asyncio.Lock()
        self.limiter = RateLimiter(OPS_PER_SECOND, 1, burst=2 * OPS_PER_SECOND)
        self._clear_allowed = False
        self.picture_limiter = RateLimiter(PICTURES_PER_MINUTE, 60)
        self.sanitizing = asyncio.Lock()

    async def load(self) -> None:
        """Rebuild the board from storage (after a restart, or on the node that took the
        room over): its operations, and whether the others may clear it."""
        async with self.db.read() as session:
            allowed = await session.scalar(
                sa.select(Appointment.board_clear_allowed).where(
                    Appointment.id == self.appointment_id
                )
            )
        self._clear_allowed = bool(allowed)
        await self._catch_up()

    async def _catch_up(self) -> int:
        """Apply, and fan out, the stored operations this board has not seen; returns how
        many. Another node stored them while it held this room too: it was taken for dead
        and was not, or its event loop stalled for longer than its lease."""
        async with self.db.read() as session:
            rows = list(
                await session.scalars(
                    sa.select(BoardOp)
                    .where(BoardOp.appointment_id == self.appointment_id)
                    .where(BoardOp.seq > self.board.seq)
                    .order_by(BoardOp.seq)
                )
            )
        for row in rows:
            op = parse_op(unseal(self.ring, row, "op_enc") or "{}")
            seq, changes = self.board.apply(row.author, op)
            self._fan_out(seq, row.author, changes)
        return len(rows)

    @property
    def clear_allowed(self) -> bool:
        """Whether the therapist lets the others clear the board. Kept in storage with the
        board, so that it comes back with the board after a restart or on another node."""
        return self._clear_allowed

    async def allow_clear(self, allowed: bool) -> None:
        self._clear_allowed = allowed
        await keep_settings(self.db, self.appointment_id, board_clear_allowed=allowed)

    def join(self, participant_id: str, member: Member) -> None:
        self.members[participant_id] = member

    def leave(self, participant_id: str, peer: Link) -> None:
        member = self.members.get(participant_id)
        if member is not None and member.peer is peer:
            del self.members[participant_id]

    async def opened(self, participant_id: str, label: str) -> None:
        member = self.members.get(participant_id)
        if member is None:
            return
        if label == "board":
            self.send_snapshot(member.peer)
        elif label == "objects":
            try:
                for object_id in await self._object_ids():
                    await self._send_object(member.peer, object_id)
            except STORAGE_FAILURES:
                log.warning("pictures not loaded", extra={"event": "pictures_not_loaded"})
                member.peer.send_json("objects", UNAVAILABLE)

    def send_snapshot(self, peer: Link) -> None:
        """The whole board, in parts small enough for any data channel, then its ``seq``."""
        elements = self.board.snapshot()["elements"]
        part: list[dict[str, object]] = []
        size = 0
        for element in elements:
            encoded = len(json.dumps(element))
            if part and size + encoded > SNAPSHOT_PART_BYTES:
                peer.send_json("board", {"type": "snapshot_part", "elements": part})
                part, size = [], 0
            part.append(element)
            size += encoded
        if part:
            peer.send_json("board", {"type": "snapshot_part", "elements": part})
        peer.send_json("board", {"type": "snapshot", "seq": self.board.seq})

    async def message(self, participant_id: str, label: str, data: str | bytes) -> None:
        member = self.members.get(participant_id)
        if member is None:
            return
        if label == "board":
            await self._board_message(participant_id, member, data)
        elif label == "objects":
            await self._object_message(member, data)
        elif label == "control" and isinstance(data, str):
            self._control(member, data)

    # -- the board

    async def _board_message(self, participant_id: str, member: Member, data: str | bytes) -> None:
        if not self.limiter.allow(participant_id):
            member.peer.send_json(
                "board", {"type": "error", "code": "rate_limited", "message": "Slow down a little."}
            )
            return
        try:
            if isinstance(data, bytes) or len(data) > 32 * 1024:
                raise BoardError("bad_op", "Board operations are JSON text up to 32 KiB.")
            op = parse_op(data)
            if isinstance(op, Picture):
                raise BoardError("not_allowed", "Pictures are placed by sharing them.")
            if isinstance(op, Sticker) and op.name not in stickers.NAMES:
                raise BoardError("unknown_sticker", "There is no such sticker.")
            await self.submit(member.author, op, member.may_clear or self.clear_allowed)
        except BoardError as exc:
            member.peer.send_json("board", {"type": "error", "code": exc.code, "message": str(exc)})
        except STORAGE_FAILURES:
            # not stored, so not applied and not shown to anyone: the sender is told
            log.warning("board operation not stored", extra={"event": "board_not_stored"})
            member.peer.send_json(
                "board",
                {"type": "error", "code": "not_saved", "message": "That was not saved. Try again."},
            )

    async def submit(self, author: str, op: object, may_clear: bool) -> None:
        """Check, number, persist, apply and fan out one operation, in that order. A
        refusal is answered before the next message is read, so answers keep its order.

        When its number is already taken in storage (another node held this room too), the
        board catches up with what was stored there, then checks, numbers and stores the
        operation again, once: the board never stays behind its own storage."""
        async with self.lock:
            self.board.check(author, op, may_clear)  # type: ignore[arg-type]
            try:
                seq = await self._store(author, op)
            except IntegrityError:
                if not await self._catch_up():
                    raise  # not the number: nothing was stored behind this board's back
                log.warning("board caught up with storage", extra={"event": "board_caught_up"})
                self.board.check(author, op, may_clear)  # type: ignore[arg-type]
                seq = await self._store(author, op)
            applied, changes = self.board.apply(author, op)  # type: ignore[arg-type]
            assert applied == seq
            self._fan_out(seq, author, changes)

    async def _store(self, author: str, op: object) -> int:
        """Persist ``op`` as the board's next operation; returns its number."""
        seq = self.board.seq + 1
        row = BoardOp(
            id=new_id(),
            appointment_id=self.appointment_id,
            seq=seq,
            author=author,
            created_at=utcnow(),
        )
        seal(self.ring, row, "op_enc", op.model_dump_json())  # type: ignore[attr-defined]
        await self.writer.write(row)  # committed, with whatever other rooms sent meanwhile
        return seq

    def _fan_out(self, seq: int, author: str, changes: object) -> None:
        message = json.dumps(
            {"type": "change", "seq": seq, "author": author, "changes": changes},
            separators=(",", ":"),
        )
        for member in list(self.members.values()):
            member.peer.send("board", message)

    # -- pictures

    async def _object_message(self, member: Member, data: str | bytes) -> None:
        try:
            if isinstance(data, bytes):
                member.transfers.chunk(data)
                return
            doc = json.loads(data) if len(data) <= 1024 else None
            if not isinstance(doc, dict):
                raise TransferError("bad_message", "Object messages are small JSON objects.")
            kind = doc.get("type")
            if kind == "begin":
                transfer_id, size = doc.get("id", ""), doc.get("size")
                if not isinstance(transfer_id, str) or type(size) is not int:
                    raise TransferError("bad_message", "'begin' needs an id and a size in bytes.")
                current = member.transfers.current
                resuming = current is not None and current.id == transfer_id[:40]
                counts = not resuming and 0 < size <= MAX_BYTES  # a refused size costs nothing
                if counts and not self.picture_limiter.allow(member.author):
                    raise TransferError(
                        "rate_limited",
                        f"At most {PICTURES_PER_MINUTE} pictures a minute. Wait a moment.",
                    )
                transfer = member.transfers.begin(transfer_id[:40], size)
                member.peer.send_json(
                    "objects", {"type": "ready", "id": transfer.id, "received": transfer.received}
                )
            elif kind == "end":
                transfer = member.transfers.finish()
                if len(self.board.elements) >= MAX_ELEMENTS:
                    raise TransferError("full", "The board is full. Clear some of it first.")
                async with self.sanitizing:  # one picture decoded at a time per room
                    await self._share(member, transfer.id, transfer.data())
            else:
                raise TransferError("bad_message", "Unknown object message.")
        except (TransferError, PictureError, ValueError) as exc:
            code = getattr(exc, "code", "refused")
            member.peer.send_json("objects", {"type": "error", "code": code, "message": str(exc)})
        except STORAGE_FAILURES:
            # not stored, so not on the board: the sender is told, and the connection stays
            log.warning("picture not stored", extra={"event": "picture_not_stored"})
            member.peer.send_json("objects", UNAVAILABLE)

    async def _share(self, member: Member, transfer_id: str, data: bytes) -> None:
        clean = await asyncio.to_thread(sanitize, data)
        row = SharedObject(
            id=new_id(),
            appointment_id=self.appointment_id,
            client_id=self.client_id,
            mime=clean.mime,
            width=clean.width,
            height=clean.height,
            created_at=utcnow(),
        )
        seal(self.ring, row, "data_enc", clean.data)
        async with self.db.session() as session:
            session.add(row)
        member.peer.send_json("objects", {"type": "shared", "id": transfer_id, "object": row.id})
        for other in list(self.members.values()):
            await self._send_object(other.peer, row.id, clean.mime, clean.data)
        scale = min(1.0, 600 / max(clean.width, clean.height))
        picture = Picture(
            op="picture",
            id=f"pic-{secrets.token_hex(6)}",
            object=row.id,
            x=40,
            y=40,
            w=clean.width * scale,
            h=clean.height * scale,
        )
        await self.submit(member.author, picture, member.may_clear)

    async def _object_ids(self) -> list[str]:
        """The pictures on this board (some may come from an earlier session's box)."""
        return [e.data["object"] for e in self.board.elements.values() if e.kind == "picture"]

    async def _send_object(
        self, peer: Link, object_id: str, mime: str | None = None, data: bytes | None = None
    ) -> None:
        if data is None:
            async with self.db.session() as session:
                row = await session.get(SharedObject, object_id)
            if row is None or row.client_id != self.client_id:
                return
            mime, data = row.mime, unseal_bytes(self.ring, row, "data_enc") or b""
        peer.send_json(
            "objects", {"type": "object", "object": object_id, "mime": mime, "size": len(data)}
        )
        for start in range(0, len(data), CHUNK):
            peer.send("objects", data[start : start + CHUNK])
        peer.send_json("objects", {"type": "object_end", "object": object_id})

    # -- control

    def _control(self, member: Member, data: str) -> None:
        try:
            doc = json.loads(data) if len(data) <= 256 else None
        except json.JSONDecodeError:
            doc = None
        if (
            isinstance(doc, dict)
            and doc.get("type") == "ping"
            and isinstance(doc.get("t"), int | float)
        ):
            member.peer.send_json("control", {"type": "pong", "t": doc["t"]})


class Whiteboards:
    """Every room's board in this process, loaded from storage on first use."""

    def __init__(self, db: Database, ring: KeyRing) -> None:
        self.db = db
        self.ring = ring
        self.boards: dict[str, RoomBoard] = {}
        self.writer = GroupCommit(db)  # one for every room of this process
        self.peers: set[ServerPeer] = set()
        self._loading = asyncio.Lock()

    async def get(self, appointment_id: str, client_id: str) -> RoomBoard:
        async with self._loading:
            board = self.boards.get(appointment_id)
            if board is None:
                board = RoomBoard(appointment_id, client_id, self.db, self.ring, self.writer)
                await board.load()
                self.boards[appointment_id] = board
            return board

    def forget(self, appointment_id: str) -> None:
        self.boards.pop(appointment_id, None)

    async def close_all(self) -> None:
        await asyncio.gather(*(peer.close() for peer in list(self.peers)), return_exceptions=True)
