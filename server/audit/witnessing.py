"""A server's side of its witness (``witness.py``).

Each checkpoint is offered as it is signed and sent in the background, in order for each
log, with the hash the log holds where the witness saw it last. What cannot be sent (the
witness away) is kept and sent again every ``PLAYROOM_WITNESS__RETRY_SECONDS``; after a
restart, whatever the database signed beyond what the witness saw is found and sent. Nothing
waits on the witness: a session goes on without it, and its record says the witness has not
yet seen the checkpoint. Checking a log sends what is waiting for that log first, then reads
back what the witness saw, its countersignatures checked, as evidence kept outside the
database (``SessionLog.verify``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from pydantic import ValidationError

from server.audit.verify import WitnessNote
from server.audit.witness import (
    Head,
    Prior,
    Retirement,
    Seen,
    Sighting,
    Submission,
    Witness,
    b64,
    now_text,
    open_witness,
    retirement_message,
    signed_by,
    unb64,
)
from server.audit.witness_service import RemoteWitness
from server.crypto.keys import KeyRing
from server.exceptions import STORAGE_FAILURES, WitnessRefused, WitnessUnavailable
from server.settings import Settings
from server.storage.db import Database
from server.storage.session_models import LogCheckpoint, LogEntry

log = logging.getLogger(__name__)
# what keeps a checkpoint waiting, to be sent again: no witness, or no database for its prior
AWAY: tuple[type[Exception], ...] = (WitnessUnavailable, *STORAGE_FAILURES)
MAX_WAITING = 64  # checkpoints kept for one log while the witness is away (the newest count)


class WitnessApi(Protocol):
    """A witness, in this process or a service: raises ``WitnessRefused`` for a refusal and
    ``WitnessUnavailable`` when it cannot be reached."""

    async def submit(self, sub: Submission) -> Seen: ...
    async def retire(self, retirement: Retirement) -> None: ...
    async def sighting(self, stream: str) -> Sighting: ...
    async def heads(self) -> list[Head]: ...
    async def public_key(self) -> str: ...
    async def close(self) -> None: ...


class LocalWitness:
    """The embedded witness: its file work in a thread, a failing disk as a witness away."""

    def __init__(self, witness: Witness) -> None:
        self.witness = witness

    async def submit(self, sub: Submission) -> Seen:
        with _disk():
            return await asyncio.to_thread(self.witness.submit, sub)

    async def retire(self, retirement: Retirement) -> None:
        with _disk():
            await asyncio.to_thread(self.witness.retire, retirement)

    async def sighting(self, stream: str) -> Sighting:
        with _disk():
            return await asyncio.to_thread(self.witness.sighting, stream)

    async def heads(self) -> list[Head]:
        with _disk():
            return await asyncio.to_thread(self.witness.heads)

    async def public_key(self) -> str:
        return self.witness.public_key

    async def close(self) -> None:
        self.witness.store.close()


@contextlib.contextmanager
def _disk() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise WitnessUnavailable(f"The witness's store cannot be used: {exc.strerror}.") from exc


@dataclass(frozen=True)
class Witnessed:
    """What the witness saw of one log, its countersignatures checked: ``heads`` are the
    (position, head hash) it countersigned; ``unchecked`` records failed a signature."""

    heads: list[tuple[int, str]]
    retired_at: str | None
    unchecked: int

    @property
    def newest(self) -> int:
        return max((seq for seq, _ in self.heads), default=0)


class Witnessing:
    """Sends a server's checkpoints to its witness, keeps what it cannot send yet, and
    reads back what the witness saw."""

    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        witness: WitnessApi,
        retry_seconds: float,
        witness_key: str | None = None,
    ) -> None:
        self.db = db
        self.ring = ring
        self.witness = witness
        self.retry_seconds = retry_seconds
        self.pending: dict[str, list[LogCheckpoint]] = {}
        self.retiring: list[Retirement] = []
        self.refused: dict[str, tuple[int, str]] = {}  # the newest refusal of each log
        self._witness_key = witness_key  # set: the witness must answer with this key
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._sending: asyncio.Task[None] | None = None
        self._away = False
        self._caught_up = False

    @property
    def server_key(self) -> str:
        return b64(self.ring.public_key.public_bytes_raw())

    # -- sending

    def offer(self, cp: LogCheckpoint) -> None:
        """Send ``cp`` soon, after any of its log's still waiting; never waits itself."""
        waiting = self.pending.setdefault(cp.stream, [])
        waiting.append(cp)
        if len(waiting) > MAX_WAITING:  # the newest vouch for the older: the log grew from them
            del waiting[1 : 1 - MAX_WAITING]  # (the first may be on its way)
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._send_all())

    async def flush(self, stream: str) -> None:
        """Send what waits for ``stream`` now (raises ``WitnessUnavailable``)."""
        async with self._locks[stream]:
            queue = self.pending.get(stream, [])
            while queue:
                await self._submit(queue[0])
                queue.pop(0)
            self.pending.pop(stream, None)

    async def _send_all(self) -> None:
        try:
            for stream in list(self.pending):
                await self.flush(stream)
        except AWAY as exc:
            self._gone(exc)  # kept: sent again by ``run``
        except Exception:  # a background task: nothing above it would hear of it
            log.exception("sending to the witness failed", extra={"event": "witness_failed"})
        else:
            self._back()

    async def _submit(self, cp: LogCheckpoint) -> None:
        try:
            sub = Submission(
                stream=cp.stream,
                seq=cp.seq,
                head=cp.head_hash,
                reason=cp.reason,
                signed_at=cp.signed_at.isoformat(),
                signature=b64(cp.signature),
                server_key=self.server_key,
                prior=await self._prior(cp.stream, cp.seq),
            )
        except ValidationError:  # not a checkpoint the witness takes: said, not sent again
            await self._refused(
                cp, WitnessRefused("unsendable", "it is not in the witness's form.")
            )
            return
        try:
            await self.witness.submit(sub)
        except WitnessRefused as exc:
            if exc.code == "needs_prior":  # the witness saw the log last at another size
                prior = await self._entry(cp.stream, exc.size)
                if prior is None:
                    gone = f"the database no longer holds entry {exc.size}, which it saw."
                    await self._refused(cp, WitnessRefused("gone", gone))
                    return
                sub = sub.model_copy(update={"prior": prior})
                try:
                    await self.witness.submit(sub)
                except WitnessRefused as again:
                    await self._refused(cp, again)
                    return
            else:
                await self._refused(cp, exc)
                return
        self.refused.pop(cp.stream, None)

    async def _refused(self, cp: LogCheckpoint, exc: WitnessRefused) -> None:
        if exc.code == "behind" and await self._entry(cp.stream, exc.size) == Prior(
            seq=exc.size, hash=exc.head
        ):
            return  # an older checkpoint that came late: the log holds what the witness saw
        self.refused[cp.stream] = (cp.seq, str(exc))
        log.error(
            "the witness refused a checkpoint",
            extra={
                "event": "witness_refused",
                "stream": cp.stream,
                "seq": cp.seq,
                "code": exc.code,
            },
        )

    async def _prior(self, stream: str, seq: int) -> Prior | None:
        """The hash at the newest checkpoint before ``seq``: where the witness most likely
        saw the log last (if not, it says where it did)."""
        async with self.db.read() as session:
            before = await session.scalar(
                sa.select(sa.func.max(LogCheckpoint.seq)).where(
                    LogCheckpoint.stream == stream, LogCheckpoint.seq < seq
                )
            )
        return None if before is None else await self._entry(stream, before)

    async def _entry(self, stream: str, seq: int) -> Prior | None:
        async with self.db.read() as session:
            found = await session.scalar(
                sa.select(LogEntry.hash)
                .where(LogEntry.stream == stream, LogEntry.seq == seq)
                .limit(1)
            )
        return None if found is None else Prior(seq=seq, hash=found)

    async def retire(self, streams: list[str]) -> None:
        """Tell the witness that retention deleted these logs whole (signed by this server,
        so nobody without its key can pass a deletion off as retention)."""
        for stream in streams:
            at = now_text()
            signature = b64(self.ring.sign(retirement_message(stream, at)))
            self.retiring.append(
                Retirement(
                    stream=stream, retired_at=at, signature=signature, server_key=self.server_key
                )
            )
        try:
            await self._send_retirements()
        except WitnessUnavailable as exc:
            self._gone(exc)

    async def _send_retirements(self) -> None:
        while self.retiring:
            try:
                await self.witness.retire(self.retiring[0])
            except WitnessRefused as exc:
                log.error("the witness refused a retirement", extra={"code": exc.code})
            self.retiring.pop(0)

    async def catch_up(self) -> None:
        """Queue the newest checkpoint of every log the database signed beyond what the
        witness saw (after a restart, say, with some still to send)."""
        heads = {h.stream: h.seq for h in await self.witness.heads()}
        newest = sa.select(LogCheckpoint.stream, sa.func.max(LogCheckpoint.seq).label("seq"))
        top = newest.group_by(LogCheckpoint.stream).subquery()
        async with self.db.read() as session:
            rows = await session.scalars(
                sa.select(LogCheckpoint)
                .join(
                    top,
                    sa.and_(LogCheckpoint.stream == top.c.stream, LogCheckpoint.seq == top.c.seq),
                )
                .order_by(LogCheckpoint.signed_at)
            )
            latest = {cp.stream: cp for cp in rows}
        for stream, cp in latest.items():
            waiting = self.pending.get(stream, [])
            if cp.seq > heads.get(stream, 0) and not any(w.seq >= cp.seq for w in waiting):
                self.pending.setdefault(stream, []).append(cp)

    async def run(self) -> None:
        """Catch up once the witness answers, then send what waits, every retry interval."""
        while True:
            try:
                if not self._caught_up:
                    await self.catch_up()
                    self._caught_up = True
                await self._send_retirements()
                await self._send_all()
            except AWAY as exc:
                self._gone(exc)
            except Exception:  # the next round tries again; this loop must outlive a fault
                log.exception("a witness round failed", extra={"event": "witness_failed"})
            await asyncio.sleep(self.retry_seconds)  # the interval itself

    def _gone(self, exc: Exception) -> None:
        if not self._away:
            self._away = True
            log.warning(
                "the witness cannot be reached: checkpoints wait and are sent again",
                extra={"event": "witness_away", "error": type(exc).__name__},
            )

    def _back(self) -> None:
        if self._away:
            self._away = False
            log.info("the witness is reached again", extra={"event": "witness_back"})

    async def close(self) -> None:
        if self._sending is not None:
            self._sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sending
        await self.witness.close()

    # -- reading back

    async def witnessed(self, stream: str) -> Witnessed:
        """What the witness saw of ``stream``, after sending it what waits for it; only
        records whose signatures (the server's and the witness's) check are kept."""
        with contextlib.suppress(*AWAY):
            await self.flush(stream)
        sighting = await self.witness.sighting(stream)
        key = unb64(await self._key())
        good = [
            (s.seq, s.head)
            for s in sighting.seen
            if s.stream == stream
            and self.ring.verify(s.message(), unb64(s.signature))
            and signed_by(key, s.countersigned(), s.countersignature)
        ]
        return Witnessed(good, sighting.retired_at, len(sighting.seen) - len(good))

    async def streams(self) -> list[str]:
        """Every log the witness saw and retention did not delete."""
        return [h.stream for h in await self.witness.heads() if not h.retired]

    async def _key(self) -> str:
        if self._witness_key is None:
            self._witness_key = await self.witness.public_key()
        return self._witness_key

    def note(self, stream: str, seen: Witnessed | None, signed_to: int) -> WitnessNote:
        """The witness's part of a log's check, in words (``signed_to``: the newest
        checkpoint the database holds whose signature checks)."""
        if seen is None:
            waiting = max((cp.seq for cp in self.pending.get(stream, [])), default=0)
            still = (
                f" It has not yet seen the checkpoint of entry {waiting}, which is sent again "
                "until it has."
                if waiting
                else ""
            )
            return WitnessNote(
                "away",
                None,
                "The witness outside the database could not be reached, so this check used "
                "the database alone." + still,
            )
        to = seen.newest
        left_out = (
            f" {seen.unchecked} of its records failed a signature and were left out."
            if seen.unchecked
            else ""
        )
        if seen.retired_at is not None:
            return WitnessNote(
                "retired",
                to or None,
                f"Retention deleted this log whole on {seen.retired_at[:10]}, as the witness "
                "was told (signed by this server).",
            )
        refused = self.refused.get(stream)
        if refused is not None and refused[0] > to:
            return WitnessNote(
                "refused",
                to or None,
                f"The witness refused the checkpoint of entry {refused[0]}: {refused[1]}"
                + left_out,
            )
        if signed_to > to:
            so_far = f" (it has countersigned up to entry {to})" if to else ""
            return WitnessNote(
                "not_yet",
                to or None,
                f"The witness outside the database has not yet seen the checkpoint of entry "
                f"{signed_to}{so_far}: it is sent again until the witness has it." + left_out,
            )
        if not to:
            return WitnessNote(
                "seen",
                None,
                "Nothing of this log is signed yet: the witness sees its first checkpoint.",
            )
        return WitnessNote(
            "seen",
            to,
            f"The witness outside the database has countersigned this log up to entry {to}."
            + left_out,
        )


def open_witnessing(settings: Settings, db: Database, ring: KeyRing) -> Witnessing | None:
    """The configured witness (the embedded one by default), or None when it is off."""
    options = settings.witness
    if not options.enabled:
        return None
    witness: WitnessApi
    if options.url:
        witness = RemoteWitness(options.url, options.timeout_seconds)
    else:
        servers = [b64(ring.public_key.public_bytes_raw())]
        witness = LocalWitness(
            open_witness(settings.witness_dir, settings.witness_key_file, servers)
        )
    return Witnessing(db, ring, witness, options.retry_seconds, options.public_key)
