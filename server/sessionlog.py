"""The tamper-evident log of each session (and of each client, for what happens outside a
session, such as sign-offs).

Each entry holds what happened (``kind``), who did it (``actor``: a staff id, a role and a
participant id, or ``system``) and sealed details; the SHA-256 of the details (with a random
salt, so the digest reveals nothing) goes into the entry's hash along with its position, time
and the hash of the entry before it, and the server signs that hash with its Ed25519 key. A
signed checkpoint of the head is written at the end of a session and at regular intervals.

Someone who can write to the database but does not hold the signing key cannot add an entry
(no valid signature), change one (its hash no longer matches), remove one (a gap in the
positions, or a broken chain), or move one (its hash matches another position) without
``verify`` naming that entry. Removing the newest entries is caught by the next checkpoint.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.db import Database, utcnow
from server.exceptions import DecryptionError
from server.keys import KeyRing
from server.models import LogCheckpoint, LogEntry, new_id
from server.sealed import seal, unseal

log = logging.getLogger(__name__)
VERSION = "playroom-log-v1"


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


def genesis(stream: str) -> str:
    return hashlib.sha256(f"{VERSION}\ngenesis\n{stream}".encode()).hexdigest()


def entry_hash(
    stream: str, seq: int, at: datetime, kind: str, actor: str, digest: str, prev: str
) -> str:
    body = json.dumps([VERSION, stream, seq, at.isoformat(), kind, actor, digest, prev])
    return hashlib.sha256(body.encode()).hexdigest()


def _checkpoint_message(cp: LogCheckpoint) -> bytes:
    body = [VERSION, "checkpoint", cp.stream, cp.seq, cp.head_hash, cp.reason]
    return json.dumps([*body, cp.signed_at.isoformat()]).encode()


def _entry_message(hash_hex: str) -> bytes:
    return f"{VERSION}\nentry\n{hash_hex}".encode()


async def _head(session: AsyncSession, stream: str) -> sa.Row[int, str] | None:
    """The newest entry's position and hash."""
    return (
        await session.execute(
            sa.select(LogEntry.seq, LogEntry.hash)
            .where(LogEntry.stream == stream)
            .order_by(LogEntry.seq.desc())
            .limit(1)
        )
    ).first()


async def _write_lock(session: AsyncSession, stream: str) -> None:
    """Hold the database's write lock for ``stream`` until the transaction ends, so that
    reading the head and writing after it are one step for every server."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(stream.encode()).digest()[:8], "big", signed=True)
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
    else:  # SQLite: a write statement first takes its one write lock (waiting if need be)
        await session.execute(sa.update(LogEntry).where(sa.false()).values(seq=LogEntry.seq))


@dataclass
class Entry:
    """An entry as read back: its details opened."""

    seq: int
    at: datetime
    kind: str
    actor: str
    details: dict[str, Any]


@dataclass
class Finding:
    seq: int | None
    problem: str  # altered, removed, inserted, reordered, checkpoint
    detail: str


@dataclass
class Report:
    stream: str
    entries: int
    checkpoints: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "intact": self.intact,
            "findings": [f.__dict__ for f in self.findings],
        }


class SessionLog:
    def __init__(self, db: Database, ring: KeyRing) -> None:
        self.db = db
        self.ring = ring
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def append(
        self, stream: str, kind: str, actor: str, details: dict[str, Any] | None = None
    ) -> int:
        """Add an entry at the head of ``stream``; returns its position. Writers of one stream
        take turns: within a process by a lock, across servers by the database's own lock."""
        async with self._locks[stream]:
            for _ in range(5):
                try:
                    return await self._append(stream, kind, actor, details or {})
                except IntegrityError:
                    continue  # a writer that does not take the lock: read the head again
            raise RuntimeError("the log could not be appended to")

    async def _append(self, stream: str, kind: str, actor: str, details: dict[str, Any]) -> int:
        async with self.db.session() as session:
            await _write_lock(session, stream)
            head = await _head(session, stream)
            seq, prev = (head.seq + 1, head.hash) if head else (1, genesis(stream))
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
                signature=self.ring.sign(_entry_message(hash_hex)),
            )
            seal(self.ring, row, "details_enc", plain)
            session.add(row)
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
            cp.signature = self.ring.sign(_checkpoint_message(cp))
            session.add(cp)
            return cp

    async def unsealed_streams(self) -> list[str]:
        """Streams with entries newer than their last checkpoint."""
        async with self.db.session() as session:
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

    async def entries(self, stream: str) -> list[Entry]:
        """The entries of ``stream`` in order, details opened (for the timeline)."""
        async with self.db.session() as session:
            rows = await session.scalars(
                sa.select(LogEntry).where(LogEntry.stream == stream).order_by(LogEntry.seq)
            )
            out = []
            for row in rows:
                try:
                    details = json.loads(unseal(self.ring, row, "details_enc") or "{}")
                except DecryptionError:
                    details = {"unreadable": True}
                details.pop("salt", None)
                out.append(Entry(row.seq, row.at, row.kind, row.actor, details))
            return out

    async def verify(self, stream: str) -> Report:
        """Re-check every hash, signature and checkpoint; name each entry that is wrong."""
        async with self.db.session() as session:
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
        report = Report(stream, len(rows), len(checkpoints))
        self._verify_entries(stream, rows, report)
        self._verify_checkpoints(rows, checkpoints, report)
        return report

    def _signed(self, message: bytes, signature: bytes) -> bool:
        try:
            self.ring.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def _details_match(self, row: LogEntry) -> bool:
        try:
            plain = unseal(self.ring, row, "details_enc") or ""
        except DecryptionError:
            return False
        return hashlib.sha256(plain.encode()).hexdigest() == row.digest

    def _verify_entries(self, stream: str, rows: list[LogEntry], report: Report) -> None:
        expected_seq, expected_prev = 1, genesis(stream)
        hashes = {row.hash for row in rows}
        inserted = 0
        for i, row in enumerate(rows):
            found = report.findings.append
            if not self._signed(_entry_message(row.hash), row.signature):
                following = rows[i + 1] if i + 1 < len(rows) else None
                if following is not None and following.prev_hash != expected_prev:
                    # the chain ran through an entry here: it was rewritten, not added
                    found(Finding(row.seq, "altered", "rewritten by hand: its signature fails"))
                    expected_seq, expected_prev = row.seq + 1, following.prev_hash
                else:
                    found(Finding(row.seq, "inserted", "not signed by this server: added by hand"))
                    inserted += 1
                continue

            def hash_at(seq: int, row: LogEntry = row) -> str:
                fields = (row.at, row.kind, row.actor, row.digest, row.prev_hash)
                return entry_hash(stream, seq, *fields)

            shown_seq = row.seq
            if hash_at(row.seq) != row.hash:
                written_at = next(
                    (n for n in range(1, len(rows) + 2) if hash_at(n) == row.hash), None
                )
                if written_at is None:
                    found(Finding(row.seq, "altered", "its contents changed after writing"))
                elif written_at != row.seq - inserted:
                    found(
                        Finding(
                            row.seq,
                            "reordered",
                            f"written as entry {written_at}, now stored at {row.seq}",
                        )
                    )
                    shown_seq = written_at
                else:
                    shown_seq = written_at  # only shifted by an entry inserted before it
            elif not self._details_match(row):
                found(Finding(row.seq, "altered", "its details changed after writing"))
            if shown_seq > expected_seq:
                missing = (
                    f"entry {expected_seq}"
                    if shown_seq == expected_seq + 1
                    else f"entries {expected_seq} to {shown_seq - 1}"
                )
                found(Finding(expected_seq, "removed", f"{missing} missing"))
            elif row.prev_hash != expected_prev and shown_seq == expected_seq:
                problem = "reordered" if row.prev_hash in hashes else "removed"
                if not any(f.seq == row.seq for f in report.findings):
                    found(Finding(row.seq, problem, "the entry before it is not the one written"))
            expected_seq, expected_prev = max(expected_seq, shown_seq + 1), row.hash

    def _verify_checkpoints(
        self, rows: list[LogEntry], checkpoints: list[LogCheckpoint], report: Report
    ) -> None:
        """Each checkpoint must be signed and its head must still be in the log: not changed
        (its hash is gone but its position is there), not removed (the log ends before it).
        Entries after the end-of-session checkpoint were added after the log was sealed."""
        position = {row.hash: i for i, row in enumerate(rows)}
        last = rows[-1].seq if rows else 0
        for cp in checkpoints:
            if not self._signed(_checkpoint_message(cp), cp.signature):
                report.findings.append(
                    Finding(cp.seq, "checkpoint", "a checkpoint's signature is wrong")
                )
            elif cp.head_hash in position:
                continue
            elif last >= cp.seq:
                report.findings.append(
                    Finding(cp.seq, "altered", "differs from the entry its checkpoint signed")
                )
            else:
                report.findings.append(
                    Finding(
                        cp.seq,
                        "removed",
                        f"a checkpoint signed entry {cp.seq}, but the log ends at {last}",
                    )
                )
        ends = [cp for cp in checkpoints if cp.reason == "end" and cp.head_hash in position]
        if ends:
            after = rows[position[ends[-1].head_hash] + 1 :]
            if after:
                report.findings.append(
                    Finding(after[0].seq, "inserted", "added after the log was sealed")
                )
