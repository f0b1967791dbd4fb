"""Chunked picture transfers: bounded, resumable, and dropped when they stall."""

from __future__ import annotations

import pytest

from media import transfer
from media.transfer import CHUNK, Transfers
from server.exceptions import TransferError


def test_a_transfer_resumes_after_a_reconnect() -> None:
    sender = Transfers()
    sender.begin("t1", 3 * CHUNK)
    sender.chunk(b"a" * CHUNK)
    again = sender.begin("t1", 3 * CHUNK)  # the same id: carry on where it stopped
    assert again.received == CHUNK
    sender.chunk(b"b" * CHUNK)
    sender.chunk(b"c" * CHUNK)
    assert sender.finish().data() == b"a" * CHUNK + b"b" * CHUNK + b"c" * CHUNK


@pytest.mark.parametrize("size", [0, -5, 1024**3])
def test_impossible_sizes_are_refused(size: int) -> None:
    with pytest.raises(TransferError):
        Transfers().begin("t", size)


def test_more_than_announced_or_unannounced_data_is_refused() -> None:
    sender = Transfers()
    with pytest.raises(TransferError, match="begin"):
        sender.chunk(b"x")
    sender.begin("t", 10)
    with pytest.raises(TransferError, match="More data"):
        sender.chunk(b"x" * 11)
    with pytest.raises(TransferError, match="limited"):
        sender.chunk(b"x" * (CHUNK + 1))
    with pytest.raises(TransferError, match="not complete"):
        sender.finish()


def test_a_transfer_that_never_finishes_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(transfer.time, "monotonic", lambda: now[0])
    sender = Transfers()
    sender.begin("t", 100)
    sender.chunk(b"x" * 10)
    now[0] += transfer.STALL_SECONDS + 1
    with pytest.raises(TransferError, match="stalled"):
        sender.chunk(b"x")
    assert sender.current is None
