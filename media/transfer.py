"""Chunked, resumable transfers of one object over a data channel, with hard bounds."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from media.images import MAX_BYTES
from server.exceptions import TransferError

CHUNK = 16 * 1024
STALL_SECONDS = 60.0


@dataclass
class Transfer:
    """An object arriving in chunks; it may resume from ``received`` after a reconnect."""

    id: str
    size: int
    parts: list[bytes] = field(default_factory=list)
    received: int = 0
    touched: float = field(default_factory=lambda: time.monotonic())  # read at creation

    def add(self, chunk: bytes) -> None:
        if len(chunk) > CHUNK:
            raise TransferError("chunk_too_large", f"Chunks are limited to {CHUNK} bytes.")
        if self.received + len(chunk) > self.size:
            raise TransferError("too_much", "More data arrived than was announced.")
        self.parts.append(chunk)
        self.received += len(chunk)
        self.touched = time.monotonic()

    @property
    def complete(self) -> bool:
        return self.received == self.size

    def data(self) -> bytes:
        return b"".join(self.parts)


class Transfers:
    """The transfers of one sender; at most one at a time, stalled ones are dropped."""

    def __init__(self) -> None:
        self.current: Transfer | None = None

    def begin(self, transfer_id: str, size: int) -> Transfer:
        if size <= 0:
            raise TransferError("bad_message", "size: a picture has at least one byte.")
        if size > MAX_BYTES:
            raise TransferError(
                "too_large", f"Pictures are limited to {MAX_BYTES // (1024 * 1024)} MB."
            )
        if self.current is not None and self.current.id == transfer_id:
            return self.current  # resuming
        self.current = Transfer(transfer_id, size)
        return self.current

    def resumes(self, transfer_id: str) -> bool:
        """Whether ``begin(transfer_id)`` carries on the picture on its way; one that has
        stalled is dropped first (its next chunk would be refused as stalled)."""
        self.drop_stalled()
        return self.current is not None and self.current.id == transfer_id

    def chunk(self, data: bytes) -> Transfer:
        if self.current is None:
            raise TransferError("no_transfer", "Send 'begin' before the data.")
        if time.monotonic() - self.current.touched > STALL_SECONDS:
            self.current = None
            raise TransferError("stalled", "The transfer stalled and was dropped. Send it again.")
        self.current.add(data)
        return self.current

    def finish(self, transfer_id: str) -> Transfer:
        """The whole of ``transfer_id``; one not yet whole stays, to be resumed."""
        transfer = self.current
        if transfer is None or transfer.id != transfer_id:
            raise TransferError("no_transfer", "No picture with that id is on its way.")
        if not transfer.complete:
            raise TransferError("incomplete", "The transfer is not complete.")
        self.current = None
        return transfer

    def drop_stalled(self) -> None:
        if self.current is not None and time.monotonic() - self.current.touched > STALL_SECONDS:
            self.current = None
