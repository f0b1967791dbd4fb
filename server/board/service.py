"""Each room's whiteboard on the server: operations checked, numbered, persisted (sealed)
before anyone sees them, and fanned out; pictures placed on it once ``pictures.py`` has
taken, sanitised and stored them. A participant who
joins gets a snapshot of the board; one who comes back holding it gets only the changes they
missed, while the board's recent history (``history.py``) still has them all.

Storage is the board's truth: a board that finds its next number taken there (another node
held the room at the same time) catches up with what was stored before numbering again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError

from media.board import MAX_ELEMENTS, Board
from media.changes import AnyChange, ElementDoc
from media.images import CleanPicture
from media.ops import AnyOp, Dice, Picture, Roll, parse_op
from media.places import DIE_GAP, DIE_SIZE
from server.access.ratelimit import RateLimiter
from server.board.history import History, placed
from server.board.loading import Stored, StoredOp, read_boards, read_ops_after
from server.board.members import Link, Member
from server.board.messages import (
    CaughtUp,
    Change,
    ChannelError,
    Pong,
    RoomSettings,
    SettingsChanged,
    Snapshot,
    SnapshotPart,
    dump_reply,
    encoded_size,
    parse_board_message,
    parse_control,
)
from server.board.pictures import Pictures, answer
from server.board.saving import SNAPSHOT_EVERY, open_snapshot, write_snapshot
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import (
    STORAGE_FAILURES,
    BoardError,
    ProtocolError,
)
from server.live.places import keep_settings
from server.storage.db import Database, utcnow
from server.storage.groupcommit import GroupCommit
from server.storage.models import new_id
from server.storage.session_models import BoardOp

log = logging.getLogger(__name__)
OPS_PER_SECOND = 100  # a point every 16 ms is about 60
ROLLS_PER_SECOND, ROLLS_BURST = 1, 3  # a child rolling again and again, not a flood of dice
PICTURE_SIDE = 600  # a shared picture's longest side on the board, at most
NOT_SAVED = ChannelError(code="not_saved", message="That was not saved. Try again.")
SLOW_DOWN = ChannelError(code="rate_limited", message="Slow down a little.")
# a guest the therapist has not given the board (``edge/guests.py``)
NO_BOARD = ChannelError(code="no_board", message="The therapist has not given you the board.")
SNAPSHOT_PART_BYTES = 48 * 1024  # well under every browser's data channel message limit
PART_OVERHEAD = len(dump_reply(SnapshotPart(elements=[])))


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
        self.history = History()  # the changes fanned out since the board was loaded
        self.members: dict[str, Member] = {}  # participant id -> member
        self.lock = asyncio.Lock()
        self.limiter = RateLimiter(OPS_PER_SECOND, 1, burst=2 * OPS_PER_SECOND)
        self._clear_allowed = False
        self.images = Pictures(appointment_id, client_id, db, ring)
        self.roll_limiter = RateLimiter(ROLLS_PER_SECOND, 1, burst=ROLLS_BURST)
        self.dice = random.SystemRandom()  # what nobody can foretell, rolled here for everyone
        self.saved = 0  # the seq of the board's newest snapshot in storage (``saving.py``)
        self._next_save = SNAPSHOT_EVERY  # the seq at which it is written again
        self._saving: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """Rebuild the board from storage (after a restart, or on the node that took the
        room over): its snapshot and the operations stored after it, and whether the others
        may clear it."""
        await self.load_from(
            (await read_boards(self.db, [self.appointment_id]))[self.appointment_id]
        )

    async def load_from(self, stored: Stored) -> None:
        """``load``, from what was read for it (``loading.py``: read with other boards')."""
        self._clear_allowed = stored.clear_allowed
        saved = None if stored.snapshot is None else await open_snapshot(self.ring, stored.snapshot)
        if saved is not None:
            self.board, self.saved = saved, saved.seq
            self._next_save = saved.seq + SNAPSHOT_EVERY
        if stored.snapshot is not None and saved is None:  # unreadable: every one replayed
            await self._catch_up(fan_out=False)
        else:  # nobody to send to, nothing to keep for later
            self._apply_stored(stored.ops, fan_out=False)
        self.history.restart(self.board.seq)  # what was stored before is not this server's

    async def _catch_up(self, *, fan_out: bool = True) -> int:
        """Apply, and fan out, the stored operations this board has not seen; returns how
        many. Another node stored them while it held this room too: it was taken for dead
        and was not, or its event loop stalled for longer than its lease. As the board
        loads, they are only applied."""
        rows = await read_ops_after(self.db, self.appointment_id, self.board.seq)
        self._apply_stored(rows, fan_out=fan_out)
        return len(rows)

    def _apply_stored(self, rows: Sequence[StoredOp], *, fan_out: bool) -> None:
        for row in rows:
            op = parse_op(unseal(self.ring, row, "op_enc") or "{}")
            seq, changes = self.board.apply(row.author, op)
            if fan_out:
                self._fan_out(seq, row.author, changes)
        self._save_when_due()

    # -- its snapshot in storage

    def _save_when_due(self) -> None:
        """Write the board's snapshot beside the room every ``SNAPSHOT_EVERY`` operations:
        the board holds only stored operations (each is committed before it is applied), so
        the snapshot never runs ahead of storage."""
        if self.board.seq >= self._next_save:
            self._next_save = self.board.seq + SNAPSHOT_EVERY  # once, even if it fails
            if self._saving is None or self._saving.done():
                self._saving = asyncio.create_task(self._save())

    async def save(self) -> None:
        """Write the board's snapshot now unless storage has one as new (as the board leaves
        this process); after any being written, never beside it."""
        if self._saving is not None:
            await asyncio.wait([self._saving])
        if self.board.seq > self.saved:
            await self._save()

    async def _save(self) -> None:
        try:
            seq = await write_snapshot(self.db, self.ring, self.appointment_id, self.board)
        except STORAGE_FAILURES:
            # the operations are stored: the next load replays a few more of them
            log.warning("board snapshot not stored", extra={"event": "board_snapshot_failed"})
            return
        self.saved = max(self.saved, seq)

    @property
    def clear_allowed(self) -> bool:
        """Whether the therapist lets the others clear the board. Kept in storage with the
        board, so that it comes back with the board after a restart or on another node."""
        return self._clear_allowed

    async def allow_clear(self, allowed: bool) -> None:
        """Let the others clear the board, or not: kept, then told to every member, so that
        their pages show or hide clearing at once."""
        self._clear_allowed = allowed
        await keep_settings(self.db, self.appointment_id, board_clear_allowed=allowed)
        data = dump_reply(SettingsChanged(settings=self.settings()))
        for member in list(self.members.values()):
            member.peer.send("board", data)

    def settings(self) -> RoomSettings:
        """The board's settings and whether the others may clear it, as pages are told."""
        return RoomSettings(**self.board.settings_doc(), clear_allowed=self._clear_allowed)

    def join(self, participant_id: str, member: Member) -> None:
        self.members[participant_id] = member

    def leave(self, participant_id: str, peer: Link) -> None:
        member = self.members.get(participant_id)
        if member is not None and member.peer is peer:
            del self.members[participant_id]

    def open(
        self,
        participant_id: str,
        member: Member,
        since: int | None = None,
        missing: Iterable[str] = (),
        *,
        taking_over: bool = False,
    ) -> None:
        """Make ``member`` the participant's link and bring it up to date: with ``since`` (the
        ``seq`` of the board as the page holds it), only the changes after it and
        ``caught_up``, if the history holds them all; else the whole board. It then owes the
        page (``send_pictures``) the pictures those changes placed and those the page says it
        is ``missing``; with the whole board, every picture on it. ``taking_over``: the link
        it replaces has been sent every change so far and still delivers them (the socket's,
        ``server/edge/board.py``), so this one is live from now and owes what that one had
        yet to send."""
        old = self.members.get(participant_id)
        if taking_over and old is not None:
            since, missing, member.handed_from = self.board.seq, old.owed, old.peer
        self.join(participant_id, member)
        recent = self.history.after(since) if since is not None else None
        if recent is None:
            self.send_snapshot(member.peer)
            member.owed = self.pictures()
            return
        for change in recent:
            member.peer.send("board", change.data)
        answer(member.peer, "board", CaughtUp(seq=self.board.seq, settings=self.settings()))
        wanted = [p for change in recent for p in change.pictures] + list(missing)
        on_board = set(self.pictures())
        member.owed = [p for p in dict.fromkeys(wanted) if p in on_board]

    def pictures(self) -> list[str]:
        """The pictures on the board (some may come from an earlier session's box), shown or
        hidden, by their stored objects' ids."""
        return [e.data["object"] for e in self.board.elements.values() if e.kind == "picture"]

    async def send_pictures(self, participant_id: str, more: Iterable[str] = ()) -> None:
        """The pictures the participant's link owes (and ``more``), whole, one after another
        as the link carries them: a board of 48 MB of pictures never waits on a link all at
        once (``media/pacing.py``). Each is owed until the link took it whole."""
        member = self.members.get(participant_id)
        if member is None:
            return
        member.owed.extend(p for p in more if p not in member.owed)
        # until gone, or on another link now, which sends what is still owed
        await self.images.send_owed(
            member.peer, member.owed, lambda: self.members.get(participant_id) is member
        )

    def send_snapshot(self, peer: Link) -> None:
        """The whole board, in parts small enough for any data channel, then its ``seq``. A
        part holds one element at least: a stroke of 5,000 points is one part of ~100 KiB."""
        part: list[ElementDoc] = []
        size = PART_OVERHEAD
        for element in self.board.element_docs():
            encoded = encoded_size(element) + 1  # and its comma
            if part and size + encoded > SNAPSHOT_PART_BYTES:
                answer(peer, "board", SnapshotPart(elements=part))
                part, size = [], PART_OVERHEAD
            part.append(element)
            size += encoded
        if part:
            answer(peer, "board", SnapshotPart(elements=part))
        answer(peer, "board", Snapshot(seq=self.board.seq, settings=self.settings()))

    async def message(self, participant_id: str, label: str, data: str | bytes) -> None:
        """One frame from a member, on ``board``, ``objects`` or ``control``: whatever is
        refused is answered on the same channel (``docs/protocol.md``)."""
        member = self.members.get(participant_id)
        if member is None:
            return
        if label == "board":
            await self._board_message(participant_id, member, data)
        elif label == "objects":
            await self._object_message(member, data)
        elif label == "control":
            self._control(member, data)

    async def operation(self, participant_id: str, op: dict[str, Any]) -> None:
        """One operation as a socket's frame parsed it, short enough for the ``board``
        channel's text: handled as that channel's message is."""
        member = self.members.get(participant_id)
        if member is not None:
            await self._board_message(participant_id, member, op)

    # -- the board

    async def _board_message(
        self, participant_id: str, member: Member, data: str | bytes | dict[str, Any]
    ) -> None:
        if not member.writes:
            answer(member.peer, "board", NO_BOARD)
            return
        if not self.limiter.allow(participant_id):
            answer(member.peer, "board", SLOW_DOWN)
            return
        try:
            op = parse_board_message(data)
            if isinstance(op, Picture | Dice):
                raise BoardError("not_allowed", "Pictures are shared and dice are rolled.")
            if isinstance(op, Roll):
                op = self._roll(member, op)
            may_clear = member.therapist or self.clear_allowed
            await self.submit(member.author, op, may_clear, therapist=member.therapist)
        except BoardError as exc:
            answer(member.peer, "board", ChannelError(code=exc.code, message=str(exc)))
        except STORAGE_FAILURES:
            # not stored, so not applied and not shown to anyone: the sender is told
            log.warning("board operation not stored", extra={"event": "board_not_stored"})
            answer(member.peer, "board", NOT_SAVED)

    def _roll(self, member: Member, roll: Roll) -> Dice:
        """The dice, rolled here: where the page asked, or at a free spot."""
        if not self.roll_limiter.allow(member.author):
            raise BoardError("rate_limited", "Let the dice settle first.")
        values = [self.dice.randint(1, 6) for _ in range(roll.count)]
        if roll.x is not None and roll.y is not None:
            x, y = roll.x, roll.y
        else:
            x, y = self.board.free_spot(roll.count * (DIE_SIZE + DIE_GAP) - DIE_GAP, DIE_SIZE)
        return Dice(op="dice", id=roll.id, values=values, x=x, y=y)

    async def submit(
        self, author: str, op: AnyOp, may_clear: bool, *, therapist: bool = False
    ) -> None:
        """Check, number, persist, apply and fan out one operation, in that order. A
        refusal is answered before the next message is read, so answers keep its order. A
        new item made on another's spot is nudged off it before it is stored.

        When its number is already taken in storage (another node held this room too), the
        board catches up with what was stored there, then checks, numbers and stores the
        operation again, once: the board never stays behind its own storage."""
        async with self.lock:
            self.board.check(author, op, may_clear, therapist=therapist)
            op = self.board.settle(op)
            try:
                seq = await self._store(author, op)
            except IntegrityError:
                if not await self._catch_up():
                    raise  # not the number: nothing was stored behind this board's back
                log.warning("board caught up with storage", extra={"event": "board_caught_up"})
                self.board.check(author, op, may_clear, therapist=therapist)
                op = self.board.settle(op)
                seq = await self._store(author, op)
            applied, changes = self.board.apply(author, op)
            assert applied == seq
            self._fan_out(seq, author, changes)
            self._save_when_due()

    async def _store(self, author: str, op: AnyOp) -> int:
        """Persist ``op`` as the board's next operation; returns its number."""
        seq = self.board.seq + 1
        row = BoardOp(
            id=new_id(),
            appointment_id=self.appointment_id,
            seq=seq,
            author=author,
            created_at=utcnow(),
        )
        seal(self.ring, row, "op_enc", op.model_dump_json())
        await self.writer.write(row)  # committed, with whatever other rooms sent meanwhile
        return seq

    def _fan_out(self, seq: int, author: str, changes: list[AnyChange]) -> None:
        """The change to every member: encoded once, the same text to each."""
        data = dump_reply(Change(seq=seq, author=author, changes=changes))
        self.history.add(seq, data, placed(changes))
        for member in list(self.members.values()):
            member.peer.send("board", data)

    # -- pictures

    async def _object_message(self, member: Member, data: str | bytes) -> None:
        """A picture's messages, taken by ``pictures.py``; a whole one placed here."""
        if not member.writes:
            answer(member.peer, "objects", NO_BOARD)
            return

        async def place(object_id: str, clean: CleanPicture) -> None:
            """Send the stored picture to everyone (its sender too), and place it on the
            board where there is room (a ``change`` to everyone)."""
            for other in list(self.members.values()):
                await self.images.send(other.peer, object_id, clean.mime, clean.data)
            scale = min(1.0, PICTURE_SIDE / max(clean.width, clean.height))
            w, h = clean.width * scale, clean.height * scale
            x, y = self.board.free_spot(w, h)
            picture = Picture(
                op="picture",
                id=f"pic-{secrets.token_hex(6)}",
                object=object_id,
                x=max(0.0, x - w / 2),
                y=max(0.0, y - h / 2),
                w=w,
                h=h,
            )
            await self.submit(member.author, picture, member.therapist, therapist=member.therapist)

        await self.images.message(
            member.author,
            member.peer,
            member.transfers,
            data,
            lambda: len(self.board.elements) < MAX_ELEMENTS,
            place,
        )

    # -- control

    def _control(self, member: Member, data: str | bytes) -> None:
        """The page's heartbeat, answered at once; anything else, with an error."""
        try:
            ping = parse_control(data)
        except ProtocolError as exc:
            answer(member.peer, "control", ChannelError(code=exc.code, message=str(exc)))
            return
        answer(member.peer, "control", Pong(t=ping.t))
