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
    assert sender.finish("t1").data() == b"a" * CHUNK + b"b" * CHUNK + b"c" * CHUNK


@pytest.mark.parametrize(
    "size, code", [(0, "bad_message"), (-5, "bad_message"), (1024**3, "too_large")]
)
def test_impossible_sizes_are_refused(size: int, code: str) -> None:
    with pytest.raises(TransferError) as info:
        Transfers().begin("t", size)
    assert info.value.code == code  # nothing is too large that has no bytes at all


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
        sender.finish("t")
    with pytest.raises(TransferError) as info:
        sender.finish("another")  # not the picture on its way
    assert info.value.code == "no_transfer" and sender.current is not None


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


def test_a_stalled_transfer_is_not_resumed(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(transfer.time, "monotonic", lambda: now[0])
    sender = Transfers()
    sender.begin("t", 100)
    sender.chunk(b"x" * 10)
    assert sender.resumes("t") and not sender.resumes("u")
    now[0] += transfer.STALL_SECONDS + 1
    assert not sender.resumes("t")  # begun afresh, from nothing
    assert sender.begin("t", 100).received == 0
