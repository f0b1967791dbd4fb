"""The tamper-evident log of each session (and of each client, for what happens outside a
session, such as sign-offs).

Each entry holds what happened (``kind``), who did it (``actor``: a staff id, a role and a
participant id, or ``system``) and sealed details; the SHA-256 of the details (with a random
salt, so the digest reveals nothing) goes into the entry's hash along with its position, time
and the hash of the entry before it, and the server signs that hash with its Ed25519 key. A
signed checkpoint of the head is written at the end of a session and at regular intervals;
each is also sent to the witness outside the database (``witness.py``, through
``witnessing.py``), which countersigns it, and written to the application's log (event
``log_checkpoint``).

Someone who can write to the database but does not hold the signing key cannot add an entry
(no valid signature), change one (its hash no longer matches), remove one (a gap in the
positions), or move one (its hash names another position) without ``verify`` naming that
entry (``server/audit/verify.py``). Removing the newest entries is caught by the next checkpoint;
removing them with that checkpoint, by the session's end checkpoint (which an ended session
must have) and by the witness, which alone catches a log cut back with its session's row set
back to open, or deleted whole with the session's row.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.verify import (
    Anchor,
    Finding,
    Report,
    Verifier,
    Witness,
    WitnessNote,
    checkpoint_message,
    entry_hash,
    entry_message,
    genesis,
)
from server.audit.witnessing import Witnessed, Witnessing
from server.crypto.keys import KeyRing
from server.crypto.sealed import seal, unseal
from server.exceptions import DecryptionError, WitnessUnavailable
from server.storage.db import Database, batches, utcnow
from server.storage.groupcommit import GroupCommit
from server.storage.ids import is_id
from server.storage.models import Appointment, new_id
from server.storage.session_models import LogCheckpoint, LogEntry

__all__ = [
    "Entry",
    "Finding",
    "Report",
    "SessionLog",
    "Witness",
    "client_stream",
    "entry_hash",
    "genesis",
    "participant_actor",
    "session_stream",
    "staff_actor",
    "views_stream",
]

log = logging.getLogger(__name__)


def session_stream(appointment_id: str) -> str:
    return f"session:{appointment_id}"


def client_stream(client_id: str) -> str:
    return f"client:{client_id}"


def views_stream(appointment_id: str) -> str:
    """Who looked at or exported a session's record: a log of its own, so a sealed session
    log stays sealed."""
    return f"views:{appointment_id}"


def staff_actor(user_id: str) -> str:
    return f"staff:{user_id}"


def participant_actor(role: str, participant_id: str) -> str:
    return f"{role}:{participant_id}"


class Head(NamedTuple):
    """A stream's newest entry: its position and hash."""

    seq: int
    hash: str


# a session's info: the heads of the streams a batch of the group commit writes to, read
# at once under the write lock (``_read_heads``), and kept as each unit writes
_HEADS = "log_heads"
# a session's info: the transaction in which SQLite's write lock is held (``_write_lock``)
_LOCKED = "sqlite_write_locked"


async def _head(session: AsyncSession, stream: str) -> Head | None:
    """The newest entry's position and hash.

    Entries of other streams that the transaction has added and not yet written stay
    unwritten (``no_autoflush``): they cannot change this stream's head, and the entries of
    a batch for many rooms (``storage/groupcommit.py``) are then one INSERT at its commit
    instead of one before each head is read. Entries of this stream are written first,
    should the transaction hold any."""
    known: dict[str, Head | None] = session.info.get(_HEADS, {})
    if stream in known:
        return known[stream]
    query = (
        sa.select(LogEntry.seq, LogEntry.hash)
        .where(LogEntry.stream == stream)
        .order_by(LogEntry.seq.desc())
        .limit(1)
    )
    if any(isinstance(row, LogEntry) and row.stream == stream for row in session.new):
        row = (await session.execute(query)).first()
    else:
        with session.no_autoflush:
            row = (await session.execute(query)).first()
    return None if row is None else Head(row.seq, row.hash)


async def _read_heads(session: AsyncSession, units: list[_Append]) -> None:
    """For a batch of the group commit: the write lock, then the head of every stream its
    entries go to, in one statement."""
    streams = sorted({unit.stream for unit in units})
    for stream in streams:  # on SQLite the first takes the whole file's lock
        await _write_lock(session, stream)
    newest = (
        sa.select(LogEntry.stream, sa.func.max(LogEntry.seq).label("seq"))
        .where(LogEntry.stream.in_(streams))
        .group_by(LogEntry.stream)
        .subquery()
    )
    query = sa.select(LogEntry.stream, LogEntry.seq, LogEntry.hash).join(
        newest, sa.and_(LogEntry.stream == newest.c.stream, LogEntry.seq == newest.c.seq)
    )
    with session.no_autoflush:
        rows = (await session.execute(query)).all()
    heads: dict[str, Head | None] = dict.fromkeys(streams)
    heads.update({row.stream: Head(row.seq, row.hash) for row in rows})
    session.info[_HEADS] = heads


async def _write_lock(session: AsyncSession, stream: str) -> None:
    """Hold the database's write lock for ``stream`` until the transaction ends, so that
    reading the head and writing after it are one step for every server."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(stream.encode()).digest()[:8], "big", signed=True)
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
        return
    # SQLite: a write statement first takes its one write lock (waiting if need be), which
    # is the whole file's and is held to the transaction's end: once is enough for every
    # entry a batch of the group commit writes
    transaction = session.sync_session.get_transaction()
    if transaction is not None and session.info.get(_LOCKED) is transaction:
        return
    with session.no_autoflush:
        await session.execute(sa.update(LogEntry).where(sa.false()).values(seq=LogEntry.seq))
    session.info[_LOCKED] = session.sync_session.get_transaction()


class _Append:
    """A unit of the group commit: ``entries`` added at the head of ``stream``."""

    prepare = staticmethod(_read_heads)  # once for all of a batch's entries

    def __init__(
        self, log: SessionLog, stream: str, entries: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> None:
        self.log, self.stream, self.entries = log, stream, entries

    async def __call__(self, session: AsyncSession) -> int:
        return await self.log._add(session, self.stream, self.entries)


@dataclass
class Entry:
    """An entry as read back: its details opened."""

    seq: int
    at: datetime
    kind: str
    actor: str
    details: dict[str, Any]


class SessionLog:
    """The logs; ``witnessing``: the witness each checkpoint is sent to (None: no witness)."""

    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        witnessing: Witnessing | None = None,
        group: GroupCommit | None = None,
    ) -> None:
        self.db = db
        self.ring = ring
        self.witnessing = witnessing
        # entries written with whatever else the process is writing (``storage/groupcommit``)
        self.group = group
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def append(
        self, stream: str, kind: str, actor: str, details: dict[str, Any] | None = None
    ) -> int:
        """Add an entry at the head of ``stream``; returns its position. Writers of one stream
        take turns: within a process by a lock, across servers by the database's own lock."""
        return await self.append_all(stream, [(kind, actor, details or {})])

    async def append_all(
        self, stream: str, entries: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> int:
        """Add ``entries`` (kind, actor, details) at the head of ``stream``, one after the
        other with nothing between them, all or none; returns the last one's position."""
        async with self._locks[stream]:
            for _ in range(5):
                try:
                    return await self._append(stream, entries)
                except IntegrityError:
                    continue  # a writer that does not take the lock: read the head again
            raise RuntimeError("the log could not be appended to")

    async def _append(self, stream: str, entries: Sequence[tuple[str, str, dict[str, Any]]]) -> int:
        if self.group is not None:
            return await self.group.transaction(_Append(self, stream, entries))
        async with self.db.session() as session:
            return await self._add(session, stream, entries)

    async def _add(
        self, session: AsyncSession, stream: str, entries: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> int:
        """Write ``entries`` after the head of ``stream`` in ``session``'s transaction."""
        await _write_lock(session, stream)
        head = await _head(session, stream)
        seq, prev = (head.seq, head.hash) if head else (0, genesis(stream))
        for kind, actor, details in entries:
            seq += 1
            plain = json.dumps({"salt": secrets.token_hex(16), **details}, sort_keys=True)
            digest = hashlib.sha256(plain.encode()).hexdigest()
            at = utcnow()
            hash_hex = entry_hash(stream, seq, at, kind, actor, digest, prev)
            row = LogEntry(
                id=new_id(),
                stream=stream,
                seq=seq,
                at=at,
                kind=kind,
                actor=actor,
                digest=digest,
                prev_hash=prev,
                hash=hash_hex,
                signature=self.ring.sign(entry_message(hash_hex)),
            )
            seal(self.ring, row, "details_enc", plain)
            session.add(row)
            prev = hash_hex
        if _HEADS in session.info:  # the next unit of the batch on this stream, if any
            session.info[_HEADS][stream] = Head(seq, prev)
        return seq

    async def checkpoint(self, stream: str, reason: str = "interval") -> LogCheckpoint | None:
        """Sign the head of ``stream`` (nothing to do for an empty log, or an unchanged one
        unless the session is ending)."""
        async with self._locks[stream], self.db.session() as session:
            head = await _head(session, stream)
            if head is None:
                return None
            last = await session.scalar(
                sa.select(sa.func.max(LogCheckpoint.seq)).where(LogCheckpoint.stream == stream)
            )
            if last == head.seq and reason != "end":
                return None
            cp = LogCheckpoint(
                id=new_id(),
                stream=stream,
                seq=head.seq,
                head_hash=head.hash,
                reason=reason,
                signed_at=utcnow(),
                signature=b"",
            )
            cp.signature = self.ring.sign(checkpoint_message(cp))
            session.add(cp)
        if self.witnessing is not None:
            self.witnessing.offer(cp)  # sent in the background: nothing waits on the witness
        # a copy in the application's log too: ids and hashes only, neither of them personal
        log.info(
            "log checkpoint",
            extra={
                "event": "log_checkpoint",
                "stream": stream,
                "seq": cp.seq,
                "head": cp.head_hash,
            },
        )
        return cp

    async def unsealed_streams(self) -> list[str]:
        """Streams with entries newer than their last checkpoint."""
        async with self.db.read() as session:
            heads = sa.select(LogEntry.stream, sa.func.max(LogEntry.seq).label("seq")).group_by(
                LogEntry.stream
            )
            sealed = sa.select(
                LogCheckpoint.stream, sa.func.max(LogCheckpoint.seq).label("seq")
            ).group_by(LogCheckpoint.stream)
            h, c = heads.subquery(), sealed.subquery()
            rows = await session.execute(
                sa.select(h.c.stream)
                .outerjoin(c, c.c.stream == h.c.stream)
                .where(sa.or_(c.c.seq.is_(None), c.c.seq < h.c.seq))
            )
            return [r.stream for r in rows]

    async def entries(self, stream: str, kinds: Sequence[str] = ()) -> list[Entry]:
        """The entries of ``stream`` in order, details opened (for the timeline); only those
        of ``kinds``, when given."""
        return (await self.entries_of([stream], kinds)).get(stream, [])

    async def entries_of(
        self, streams: Sequence[str], kinds: Sequence[str] = ()
    ) -> dict[str, list[Entry]]:
        """``entries`` of many streams at once, in one read (a stream with none: no key)."""
        out: dict[str, list[Entry]] = {}
        async with self.db.read() as session:
            for some in batches(streams):
                query = sa.select(LogEntry).where(LogEntry.stream.in_(some))
                if kinds:
                    query = query.where(LogEntry.kind.in_(kinds))
                for row in await session.scalars(query.order_by(LogEntry.stream, LogEntry.seq)):
                    try:
                        details = json.loads(unseal(self.ring, row, "details_enc") or "{}")
                    except DecryptionError:
                        details = {"unreadable": True}
                    details.pop("salt", None)
                    entry = Entry(row.seq, row.at, row.kind, row.actor, details)
                    out.setdefault(row.stream, []).append(entry)
        return out

    async def verify(
        self, stream: str, witnessed: Sequence[Witness] = (), consult_witness: bool = True
    ) -> Report:
        """Re-check every hash, signature and checkpoint; name each entry that is wrong. A
        session's own log is also checked against its session: one that exists has a log,
        one that ended has its end checkpoint. Every checkpoint the witness countersigned
        must still be in the log (unless ``consult_witness`` is off), which catches the
        newest entries removed together with the database's checkpoints of them, whatever
        the session's row says, and a log gone whole. ``witnessed``: more checkpoints kept
        outside the database (``log_checkpoint`` lines of the application's log)."""
        async with self.db.read() as session:
            rows = list(
                await session.scalars(
                    sa.select(LogEntry)
                    .where(LogEntry.stream == stream)
                    .order_by(LogEntry.seq, LogEntry.id)
                )
            )
            checkpoints = list(
                await session.scalars(
                    sa.select(LogCheckpoint)
                    .where(LogCheckpoint.stream == stream)
                    .order_by(LogCheckpoint.seq, LogCheckpoint.signed_at)
                )
            )
            anchor = await _anchor(session, stream)
        seen = await self._witnessed(stream) if consult_witness else None
        countersigned = seen.heads if seen is not None and seen.retired_at is None else []
        verifier = Verifier(self.ring)
        report = verifier.check(stream, rows, checkpoints, anchor, witnessed, countersigned)
        signed_to = max(
            (c.seq for c in checkpoints if self.ring.verify(checkpoint_message(c), c.signature)),
            default=0,
        )
        if self.witnessing is None:
            report.witness = WitnessNote(
                "off", None, "No witness is set up: this check used the database alone."
            )
        elif not consult_witness:
            report.witness = WitnessNote(
                "off", None, "The witness was not asked: this check used the database alone."
            )
        else:
            report.witness = self.witnessing.note(stream, seen, signed_to)
        return report

    async def _witnessed(self, stream: str) -> Witnessed | None:
        if self.witnessing is None:
            return None
        try:
            return await self.witnessing.witnessed(stream)
        except WitnessUnavailable:
            return None

    async def streams(self) -> list[str]:
        """Every log there is: in the database, and (retention aside) seen by the witness,
        whether or not it is still in the database."""
        async with self.db.read() as session:
            found = set(await session.scalars(sa.select(LogEntry.stream).distinct()))
            found |= set(await session.scalars(sa.select(LogCheckpoint.stream).distinct()))
        if self.witnessing is not None:
            with contextlib.suppress(WitnessUnavailable):
                found |= set(await self.witnessing.streams())
        return sorted(found)


async def _anchor(session: AsyncSession, stream: str) -> Anchor | None:
    """The session a ``session:`` stream belongs to, if it still exists (other streams, and
    the logs of sessions deleted whole by retention, have none)."""
    kind, _, ident = stream.partition(":")
    if kind != "session" or not is_id(ident):
        return None
    status = await session.scalar(sa.select(Appointment.status).where(Appointment.id == ident))
    return None if status is None else Anchor(status)
