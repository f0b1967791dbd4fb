"""The witness of the session logs: a store outside the database that each signed checkpoint
is also sent to, as Certificate Transparency's witnesses are sent each signed tree head
(RFC 6962, RFC 9162).

The witness checks the checkpoint's signature (the server's Ed25519 key), refuses one that
does not extend what it saw of that log, keeps what it takes in an append-only file of its
own (one JSON line each, fsynced before it answers) and countersigns it with a key of its
own, kept apart from the server's key file. It keeps ids and hashes: nothing personal.

A checkpoint extends what the witness saw of its log when it signs a size the witness saw
with the head it saw (sent again, or the session's end signed where an interval checkpoint
had), or a larger size, the server showing the hash its log holds at the size the witness
saw last (``prior``), which must be the head the witness saw there: the log grew from
there, it was not cut back and written again. Anything else is refused (``WitnessRefused``):
a size the witness did not see below the newest it saw (``behind``: the log was cut back,
unless an older checkpoint merely came late), another head at a size it saw (``forks``), a
larger size without the hash at the witness's size (``needs_prior``, which tells that size),
or a log that retention deleted whole, which the server says in a signed ``Retirement``.

The checks (``judge``) are pure; the store (``FileStore``) is the only I/O, and several
processes on one machine may share it: each takes the file's lock and reads what the others
appended before it writes. The server's side is in ``witnessing.py``; the witness as a
service of its own, over HTTP, in ``witness_service.py``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.audit.verify import VERSION, head_message
from server.exceptions import ConfigurationError, WitnessRefused

log = logging.getLogger(__name__)

WITNESS_VERSION = "playroom-witness-v1"
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
StreamName = Annotated[str, Field(pattern=r"^[a-z_]{1,20}:[A-Za-z0-9_-]{1,64}$")]
Signature = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{86}==$")]  # 64 bytes, base64
PublicKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]{43}=$")]  # 32 bytes, base64
Moment = Annotated[str, Field(min_length=10, max_length=40)]  # an ISO time, as signed


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def signed_by(key: bytes, message: bytes, signature: str) -> bool:
    """Whether ``signature`` (base64) is ``key``'s Ed25519 signature of ``message``."""
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(unb64(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def retirement_message(stream: str, retired_at: str) -> bytes:
    """What the server signs when retention deletes a log whole."""
    return json.dumps([VERSION, "retired", stream, retired_at]).encode()


# -- what travels between a server and its witness


class WireModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Prior(WireModel):
    """The hash the server's log holds at ``seq``: the size the witness saw last."""

    seq: Annotated[int, Field(ge=1)]
    hash: Hex64


class Submission(WireModel):
    """A checkpoint as the server signed it (``log_checkpoints``), with its public key."""

    stream: StreamName
    seq: Annotated[int, Field(ge=1)]
    head: Hex64
    reason: Annotated[str, Field(pattern=r"^[a-z_]{1,20}$")]
    signed_at: Moment
    signature: Signature
    server_key: PublicKey
    prior: Prior | None = None

    def message(self) -> bytes:
        return head_message(self.stream, self.seq, self.head, self.reason, self.signed_at)


class Retirement(WireModel):
    """The server's word that retention deleted ``stream`` whole (with its record)."""

    stream: StreamName
    retired_at: Moment
    signature: Signature
    server_key: PublicKey

    def message(self) -> bytes:
        return retirement_message(self.stream, self.retired_at)


class Seen(WireModel):
    """A checkpoint the witness took: the server's, countersigned by the witness."""

    stream: StreamName
    seq: Annotated[int, Field(ge=1)]
    head: Hex64
    reason: Annotated[str, Field(pattern=r"^[a-z_]{1,20}$")]
    signed_at: Moment
    signature: Signature
    witnessed_at: Moment
    countersignature: Signature

    def message(self) -> bytes:
        """What the server signed."""
        return head_message(self.stream, self.seq, self.head, self.reason, self.signed_at)

    def countersigned(self) -> bytes:
        """What the witness signed: the checkpoint, the server's signature and when."""
        body = [WITNESS_VERSION, "countersign", self.stream, self.seq, self.head]
        return json.dumps([*body, self.signature, self.witnessed_at]).encode()


class Sighting(WireModel):
    """What the witness saw of one log: every checkpoint it took, in the order it took them,
    and when retention deleted it, if it did."""

    stream: StreamName
    seen: tuple[Seen, ...] = ()
    retired_at: Moment | None = None

    @property
    def newest(self) -> Seen | None:
        return max(self.seen, key=lambda s: s.seq, default=None)


class Head(WireModel):
    """The newest checkpoint the witness took of one log (``seq`` 0: none, only retired)."""

    stream: StreamName
    seq: Annotated[int, Field(ge=0)]
    head: str
    retired: bool


# -- the checks


def judge(sighting: Sighting | None, sub: Submission) -> Seen | None:
    """Whether ``sub`` extends what the witness saw of its log: None to take it, the same
    checkpoint taken before (nothing to add), or ``WitnessRefused`` naming why not."""
    if sighting is None:
        return None
    if sighting.retired_at is not None:
        raise WitnessRefused("retired", f"Retention deleted this log on {sighting.retired_at}.")
    same = next((s for s in sighting.seen if s.signature == sub.signature), None)
    if same is not None:
        return same
    newest = sighting.newest
    if newest is None:
        return None
    size, head = newest.seq, newest.head
    heads = {s.seq: s.head for s in sighting.seen}
    if sub.seq in heads:
        if heads[sub.seq] != sub.head:
            raise WitnessRefused(
                "forks",
                f"Entry {sub.seq} is not the one the witness saw there: the log was rewritten.",
                size,
                head,
            )
        return None
    if sub.seq < size:
        raise WitnessRefused(
            "behind",
            f"The witness saw this log to entry {size}; this checkpoint signs entry {sub.seq}.",
            size,
            head,
        )
    if sub.prior is None or sub.prior.seq != size:
        raise WitnessRefused(
            "needs_prior",
            f"Show the hash of entry {size}, the newest the witness saw.",
            size,
            head,
        )
    if sub.prior.hash != head:
        raise WitnessRefused(
            "forks",
            f"Entry {size} is not the one the witness saw there: the log was cut back and "
            "written again.",
            size,
            head,
        )
    return None


# -- the store


@dataclass
class State:
    """What the store holds, as read so far: each log's sighting, and the servers' keys."""

    sightings: dict[str, Sighting] = field(default_factory=dict)
    servers: list[str] = field(default_factory=list)
    damaged: int = 0  # lines that are not a record: a torn write, or an edit

    def apply(self, doc: dict[str, Any]) -> None:
        kind = doc.get("type")
        if kind == "server":
            self.servers.append(str(doc["key"]))
        elif kind == "seen":
            seen = Seen.model_validate({k: v for k, v in doc.items() if k != "type"})
            old = self.sightings.get(seen.stream) or Sighting(stream=seen.stream)
            self.sightings[seen.stream] = old.model_copy(update={"seen": (*old.seen, seen)})
        elif kind == "retired":
            stream, at = str(doc["stream"]), str(doc["retired_at"])
            old = self.sightings.get(stream) or Sighting(stream=stream)
            self.sightings[stream] = old.model_copy(update={"retired_at": at})
        else:
            raise ValueError(f"no record of type {kind!r}")


class FileStore:
    """An append-only file of JSON lines: a server key trusted, a checkpoint taken, a log
    retired. Each use first reads what was appended since the last (by this process or
    another), under the file's lock, shared to read and exclusive to write; each line
    written is fsynced before the witness answers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        created = not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        if created:  # the file's name survives a power cut too
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        self._mutex = threading.Lock()  # flock is per open file: threads take turns here
        self._offset = 0
        self._torn = b""  # the start of a line not yet ended
        self.state = State()

    def close(self) -> None:
        os.close(self._fd)

    @contextlib.contextmanager
    def reading(self) -> Iterator[State]:
        with self._mutex:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            try:
                self._catch_up()
                yield self.state
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def writing(self) -> Iterator[State]:
        with self._mutex:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                self._catch_up()
                if self._torn:  # a write cut short: end its line, so the next stands alone
                    self._write(b"\n")
                    self._torn = b""
                    self.state.damaged += 1
                yield self.state
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record (inside ``writing``) and take it into the state."""
        line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
        self._write(line.encode())
        self.state.apply(record)

    def _write(self, data: bytes) -> None:
        os.write(self._fd, data)
        os.fsync(self._fd)
        self._offset += len(data)  # nobody else writes while the exclusive lock is held

    def _catch_up(self) -> None:
        size = os.fstat(self._fd).st_size
        if size <= self._offset:
            return
        data = self._torn + os.pread(self._fd, size - self._offset, self._offset)
        self._offset = size
        *lines, self._torn = data.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            try:
                self.state.apply(json.loads(line))
            except (ValueError, KeyError, TypeError, ValidationError):
                self.state.damaged += 1
                log.warning("witness store: a damaged line", extra={"event": "witness_damaged"})


# -- the witness


def load_witness_key(path: Path) -> Ed25519PrivateKey:
    """The witness's own signing key, made on first use (mode 0600)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        seed = key.private_bytes_raw()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return load_witness_key(path)  # another process made it first
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps({"version": WITNESS_VERSION, "witness_key": b64(seed)}))
            handle.flush()
            os.fsync(handle.fileno())
        return key
    try:
        seed = unb64(json.loads(text)["witness_key"])
        return Ed25519PrivateKey.from_private_bytes(seed)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"witness key file {path} is not a witness key") from exc


def now_text() -> str:
    return datetime.now(UTC).isoformat()


class Witness:
    """Takes checkpoints that extend what it saw, countersigned; refuses the rest. Blocking
    (the store's file): an event loop calls it from a thread.

    ``servers``: the public keys of the servers it serves; none: the first one it is shown,
    which it keeps in its store and holds to from then on."""

    def __init__(
        self, store: FileStore, key: Ed25519PrivateKey, servers: Sequence[str] = ()
    ) -> None:
        self.store = store
        self.key = key
        self.servers = list(servers)

    @property
    def public_key(self) -> str:
        return b64(self.key.public_key().public_bytes_raw())

    def submit(self, sub: Submission) -> Seen:
        with self.store.writing() as state:
            self._trust(state, sub.server_key, sub.message(), sub.signature)
            same = judge(state.sightings.get(sub.stream), sub)
            if same is not None:
                return same
            at = now_text()
            unsigned = {**sub.model_dump(exclude={"server_key", "prior"}), "witnessed_at": at}
            countersignature = b64(self.key.sign(Seen.model_construct(**unsigned).countersigned()))
            seen = Seen(**unsigned, countersignature=countersignature)
            self.store.append({"type": "seen", **seen.model_dump()})
            return seen

    def retire(self, retirement: Retirement) -> None:
        with self.store.writing() as state:
            self._trust(state, retirement.server_key, retirement.message(), retirement.signature)
            old = state.sightings.get(retirement.stream)
            if old is not None and old.retired_at is not None:
                return
            record = {"type": "retired", **retirement.model_dump(exclude={"server_key"})}
            self.store.append(record)

    def sighting(self, stream: str) -> Sighting:
        with self.store.reading() as state:
            return state.sightings.get(stream) or Sighting(stream=stream)

    def heads(self) -> list[Head]:
        with self.store.reading() as state:
            return [
                Head(
                    stream=s.stream,
                    seq=newest.seq if (newest := s.newest) else 0,
                    head=newest.head if newest else "",
                    retired=s.retired_at is not None,
                )
                for s in state.sightings.values()
            ]

    def _trust(self, state: State, key: str, message: bytes, signature: str) -> None:
        """The statement is signed by a server this witness serves (the first one shown,
        when none is set)."""
        trusted = self.servers or state.servers
        if trusted and key not in trusted:
            raise WitnessRefused("unknown_server", "This witness serves another server.")
        if not signed_by(unb64(key), message, signature):
            raise WitnessRefused("not_signed", "The server's signature does not match.")
        if not trusted:
            self.store.append({"type": "server", "key": key})
            log.info("witness: serving the server first shown", extra={"event": "witness_pin"})


def open_witness(folder: Path, key_file: Path, servers: Sequence[str] = ()) -> Witness:
    """The witness whose store is ``folder/checkpoints.jsonl``; one that cannot be opened
    stops start-up, saying where."""
    try:
        key = load_witness_key(key_file)
        store = FileStore(folder / "checkpoints.jsonl")
    except OSError as exc:
        raise ConfigurationError(
            f"the witness's store or key in {exc.filename or folder} cannot be used: "
            f"{exc.strerror}. Give it a folder this process can write (PLAYROOM_WITNESS__DIR), "
            "or a witness service (PLAYROOM_WITNESS__URL)."
        ) from exc
    return Witness(store, key, servers)
