"""Checking a session log (``SessionLog.verify``): the chain's format, and which entry was
altered, removed, inserted or reordered.

An entry's hash covers the position it was written at, so a signed entry says where it
belongs whatever its row says now: ``entry_hash(stream, n, ...) == row.hash`` for that ``n``
only. Verification recovers each signed entry's original position, then:

- a row whose signature fails was not written by this server: *inserted*, or *altered* when
  it stands where signed entries leave exactly its room (the chain ran through it);
- a signed entry whose hash no longer comes out of its fields, or whose details no longer
  match their digest, is *altered*;
- original positions missing from 1 to the newest are *removed*, one finding a gap;
- entries off the longest run of increasing original positions are *reordered* (after a
  swap neither of the two is on every such run, so both are named);
- a checkpoint (in the database, or kept outside it: by the witness, ``witness.py``, or in
  the application's log) whose head is gone names what went after it;
- a session that exists has a log, and one that ended has its end-of-session checkpoint.

Apart from these (which say the log was tampered with), a log can be whole and still leave
something unsaid: a room restored after a crash or a restart names whom it expects back
(``room.restored``), and each of them should have a later entry saying they came back, were
lost or left, or that the session ended. Anyone without one is *unaccounted* for: an entry
that was due and never written (a write the server could not make), not one taken away.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from server.crypto.keys import KeyRing
from server.crypto.sealed import unseal
from server.exceptions import DecryptionError
from server.storage.models import OVER
from server.storage.session_models import LogCheckpoint, LogEntry

VERSION = "playroom-log-v1"
# what became of someone a restored room expected back: each entry names them
ACCOUNTED = frozenset(
    {
        "participant.reconnected",
        "participant.lost",
        "participant.left",
        "participant.removed",
        "participant.declined",
    }
)
ENDED = frozenset({"session.ended", "session.cancelled"})  # and with it, everyone's place
# (position, head hash) of a checkpoint kept outside the database, such as the
# ``log_checkpoint`` lines of the application's log
Witness = tuple[int, str]


def genesis(stream: str) -> str:
    """The hash the first entry of ``stream`` links back to."""
    return hashlib.sha256(f"{VERSION}\ngenesis\n{stream}".encode()).hexdigest()


def entry_hash(
    stream: str, seq: int, at: datetime, kind: str, actor: str, digest: str, prev: str
) -> str:
    """The hash of the entry written at position ``seq`` of ``stream``."""
    body = json.dumps([VERSION, stream, seq, at.isoformat(), kind, actor, digest, prev])
    return hashlib.sha256(body.encode()).hexdigest()


def checkpoint_message(cp: LogCheckpoint) -> bytes:
    """What a checkpoint's signature covers."""
    return head_message(cp.stream, cp.seq, cp.head_hash, cp.reason, cp.signed_at.isoformat())


def head_message(stream: str, seq: int, head: str, reason: str, signed_at: str) -> bytes:
    """A checkpoint's signed words, from its fields (as the witness is sent them)."""
    body = [VERSION, "checkpoint", stream, seq, head, reason]
    return json.dumps([*body, signed_at]).encode()


def entry_message(hash_hex: str) -> bytes:
    """What an entry's signature covers."""
    return f"{VERSION}\nentry\n{hash_hex}".encode()


@dataclass
class Finding:
    """One thing wrong: ``seq`` is the entry's stored position (None: the log as a whole)."""

    seq: int | None
    problem: str  # altered, removed, inserted, reordered, checkpoint
    detail: str


@dataclass
class WitnessNote:
    """What the witness outside the database saw of the log, in words for the record page:
    ``status`` is ``seen`` (every checkpoint the database holds), ``not_yet`` (a newer one is
    still to reach it), ``refused``, ``retired``, ``away`` (not reached) or ``off``."""

    status: str
    seen_to: int | None
    message: str


@dataclass
class Report:
    """What ``verify`` found in one stream."""

    stream: str
    entries: int
    checkpoints: int
    findings: list[Finding] = field(default_factory=list)
    witness: WitnessNote | None = None
    # entries that were due and never written (see the module's docstring): not tampering
    unaccounted: list[Finding] = field(default_factory=list)

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
            "unaccounted": [f.__dict__ for f in self.unaccounted],
            "witness": self.witness.__dict__ if self.witness else None,
        }

    def add(self, seq: int | None, problem: str, detail: str) -> None:
        self.findings.append(Finding(seq, problem, detail))

    def names(self, seq: int) -> bool:
        return any(f.seq == seq for f in self.findings)


@dataclass(frozen=True)
class Anchor:
    """What the rest of the database says about a session's log: the session exists (so it
    has a log), and whether it ended (so its log was sealed by an end checkpoint)."""

    status: str

    @property
    def ended(self) -> bool:
        return self.status in OVER


def _outward(start: int, bound: int) -> Iterator[int]:
    """1..bound, nearest ``start`` first: an entry is most likely where it is stored."""
    start = min(max(start, 1), bound)
    yield start
    for d in range(1, bound):
        if start + d <= bound:
            yield start + d
        if start - d >= 1:
            yield start - d
        if start + d > bound and start - d < 1:
            return


def written_at(stream: str, row: LogEntry, bound: int) -> int | None:
    """The position ``row`` was written at, or None if its fields changed since."""
    fields = (row.at, row.kind, row.actor, row.digest, row.prev_hash)
    return next(
        (n for n in _outward(row.seq, bound) if entry_hash(stream, n, *fields) == row.hash), None
    )


def _run_lengths(values: Sequence[int]) -> list[int]:
    """For each value, the length of the longest strictly increasing run ending at it."""
    tails: list[int] = []
    lengths = []
    for v in values:
        k = bisect_left(tails, v)
        tails[k : k + 1] = [v]
        lengths.append(k + 1)
    return lengths


def off_every_run(values: Sequence[int]) -> list[bool]:
    """For each value, whether it is missing from some longest increasing run of ``values``:
    the entries that a reordering moved (when two swapped, both)."""
    ending = _run_lengths(values)
    starting = _run_lengths([-v for v in reversed(values)])[::-1]
    best = max(ending, default=0)
    on_some = [e + s - 1 == best for e, s in zip(ending, starting, strict=True)]
    level = Counter(e for e, on in zip(ending, on_some, strict=True) if on)
    return [not (on and level[e] == 1) for e, on in zip(ending, on_some, strict=True)]


def _span(first: int, last: int) -> str:
    return f"entry {first}" if first == last else f"entries {first} to {last}"


class Verifier:
    """Checks rows already read: signatures with the ring's public key, details by opening
    them with its data keys."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring

    def check(
        self,
        stream: str,
        rows: Sequence[LogEntry],
        checkpoints: Sequence[LogCheckpoint],
        anchor: Anchor | None = None,
        witnessed: Sequence[Witness] = (),
        countersigned: Sequence[Witness] = (),
    ) -> Report:
        """``rows`` in stored order; ``anchor`` for a session's own log; ``witnessed`` and
        ``countersigned``: checkpoints kept outside the database, in the application's log
        and by the witness (``witness.py``)."""
        report = Report(stream, len(rows), len(checkpoints))
        signed = [c for c in checkpoints if self.ring.verify(checkpoint_message(c), c.signature)]
        for cp in checkpoints:
            if cp not in signed:
                report.add(cp.seq, "checkpoint", "a checkpoint's signature is wrong")
        sealed_to = max((c.seq for c in signed), default=0)
        at = self._positions(stream, rows, sealed_to, report)
        known = {row.hash: n for row, n in zip(rows, at, strict=True) if n is not None}
        top = max(known.values(), default=0)
        missing = set(range(1, top + 1)) - set(known.values())
        for first in sorted(p for p in missing if p - 1 not in missing):
            last = first
            while last + 1 in missing:
                last += 1
            report.add(first, "removed", f"{_span(first, last)} missing")
        heads = [(c.seq, c.head_hash, "a checkpoint") for c in signed]
        heads += [(seq, head, "a checkpoint kept outside the database") for seq, head in witnessed]
        heads += [(seq, head, "the witness outside the database") for seq, head in countersigned]
        self._heads(heads, known, top, missing, report)
        if anchor is not None:
            self._anchored(anchor, rows, checkpoints, top, report)
        report.findings.sort(key=lambda f: (f.seq is None, f.seq or 0))
        in_order = sorted((n, row) for row, n in zip(rows, at, strict=True) if n is not None)
        self._expected_back([row for _, row in in_order], report)
        return report

    def _expected_back(self, rows: Sequence[LogEntry], report: Report) -> None:
        """Each person a restored room expected back has a later entry saying what became
        of them (``rows`` signed, in the order they were written)."""
        waiting: dict[str, tuple[int, str]] = {}  # participant -> (restored at, role)
        for row in rows:
            if row.kind in ENDED:
                waiting.clear()
                continue
            if row.kind != "room.restored" and row.kind not in ACCOUNTED:
                continue
            details = self._opened(row)
            if row.kind in ACCOUNTED:
                waiting.pop(str(details.get("participant")), None)
                continue
            for person in details.get("expected", []):
                if isinstance(person, dict):
                    waiting[str(person.get("participant"))] = (row.seq, str(person.get("role")))
        for pid, (seq, role) in sorted(waiting.items(), key=lambda w: w[1][0]):
            report.unaccounted.append(
                Finding(
                    seq,
                    "unaccounted",
                    f"the {role.replace('_', ' ')} ({pid}) was expected back after the restart, "
                    "but no later entry says they came back, were lost or left, or that the "
                    "session ended",
                )
            )

    def _positions(
        self, stream: str, rows: Sequence[LogEntry], sealed_to: int, report: Report
    ) -> list[int | None]:
        """Each row's original position (None: not known), naming what is wrong on the way."""
        bound = max([sealed_to, *(r.seq for r in rows)], default=0) + len(rows) + 1
        at: list[int | None] = [None] * len(rows)
        unsigned, changed = [], []
        index: dict[str, int] = {}
        for i, row in enumerate(rows):
            if not self.ring.verify(entry_message(row.hash), row.signature):
                unsigned.append(i)
            elif row.hash in index:
                copied = rows[index[row.hash]].seq
                report.add(row.seq, "inserted", f"a copy of the entry stored at {copied}")
            else:
                index[row.hash] = i
                at[i] = written_at(stream, row, bound)
                if at[i] is None:
                    changed.append(i)
                elif not self._details_match(row):
                    report.add(row.seq, "altered", "its details changed after writing")
        self._changed(rows, changed, index, at, report)
        placed = [i for i, n in enumerate(at) if n is not None]
        moved = off_every_run([at[i] or 0 for i in placed])
        for i, off in zip(placed, moved, strict=True):
            if off:
                where = f"now stored at {rows[i].seq}" if at[i] != rows[i].seq else "out of order"
                report.add(rows[i].seq, "reordered", f"written as entry {at[i]}, {where}")
        self._unsigned(rows, unsigned, at, sealed_to, report)
        return at

    @staticmethod
    def _changed(
        rows: Sequence[LogEntry],
        changed: list[int],
        index: dict[str, int],
        at: list[int | None],
        report: Report,
    ) -> None:
        """Signed entries whose fields changed: their position from their neighbours in the
        chain (their hash is still the one the next entry links back to)."""
        taken = {n for n in at if n is not None}
        after = {rows[i].prev_hash: n for i, n in enumerate(at) if n is not None}
        for i in changed:
            row = rows[i]
            following = after.get(row.hash)
            before = index.get(row.prev_hash)
            preceding = at[before] if before is not None else None
            if following is not None:
                guess = following - 1
            elif preceding is not None:
                guess = preceding + 1
            else:
                guess = row.seq  # cut off from the chain on both sides: where it is stored
            at[i] = None if guess in taken else guess
            taken.add(guess)
            report.add(row.seq, "altered", "its contents changed after writing")

    @staticmethod
    def _unsigned(
        rows: Sequence[LogEntry],
        unsigned: list[int],
        at: list[int | None],
        sealed_to: int,
        report: Report,
    ) -> None:
        """Rows without a valid signature, run by run: a run standing where exactly as many
        signed entries are missing was rewritten; anything else was added."""
        taken = {n for n in at if n is not None}
        runs: list[list[int]] = []
        for i in unsigned:
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
        for run in runs:
            placed = [(j, n) for j, n in enumerate(at) if n is not None]
            before = next((n for j, n in reversed(placed) if j < run[0]), 0)
            after = next((n for j, n in placed if j > run[-1]), max(before, sealed_to) + 1)
            room = [p for p in range(before + 1, after) if p not in taken]
            if len(room) != len(run):
                for i in run:
                    report.add(rows[i].seq, "inserted", "not signed by this server: added by hand")
                continue
            for i, p in zip(run, room, strict=True):
                at[i] = p
                taken.add(p)
                report.add(rows[i].seq, "altered", "rewritten without the key: its signature fails")

    @staticmethod
    def _heads(
        heads: list[tuple[int, str, str]],
        known: dict[str, int],
        top: int,
        missing: set[int],
        report: Report,
    ) -> None:
        """Each signed head must still be in the log: not changed (its position is there but
        its hash is gone), not removed (the log ends before it)."""
        beyond = []
        for seq, head, source in heads:
            if head in known:
                continue
            if seq > top:
                beyond.append((seq, source))
            elif seq not in missing and not report.names(seq):
                report.add(seq, "altered", f"differs from the entry {source} signed")
        if beyond:
            seq, source = max(beyond)
            ends = f"the log ends at {top}" if top else "the whole log is gone"
            report.add(
                top + 1,
                "removed",
                f"{_span(top + 1, seq)} missing: {source} signed entry {seq}, but {ends}",
            )

    @staticmethod
    def _anchored(
        anchor: Anchor,
        rows: Sequence[LogEntry],
        checkpoints: Sequence[LogCheckpoint],
        top: int,
        report: Report,
    ) -> None:
        """A session that exists has a log; one that ended has its end checkpoint (whether
        its head is still in the log is checked with the other checkpoints)."""
        if not rows:
            report.add(
                None, "removed", "the session exists, but its log is empty: all of it was removed"
            )
        elif anchor.ended and not any(c.reason == "end" for c in checkpoints):
            report.add(
                None,
                "removed",
                f"the session is {anchor.status}, but its end-of-session checkpoint is gone "
                f"(the log ends at entry {top}): it was removed, with any entries after it",
            )

    def _opened(self, row: LogEntry) -> dict[str, Any]:
        try:
            plain = unseal(self.ring, row, "details_enc") or "{}"
            details = json.loads(plain)
        except (DecryptionError, ValueError):
            return {}
        return details if isinstance(details, dict) else {}

    def _details_match(self, row: LogEntry) -> bool:
        try:
            plain = unseal(self.ring, row, "details_enc") or ""
        except DecryptionError:
            return False
        return hashlib.sha256(plain.encode()).hexdigest() == row.digest
