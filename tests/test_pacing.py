"""Pacing: a board full of pictures goes to a member no faster than their link carries it.
Links here drain only when a test moves their network by hand: nothing sleeps."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable

import pytest
from aiortc import RTCDataChannel
from aiortc.rtcdatachannel import RTCDataChannelParameters

from media.pacing import LOW_WATER, Backlog, channel_drained, send_paced
from media.transfer import CHUNK

MiB = 1024 * 1024
PICTURE = 1 * MiB  # 48 of them: the board the note on issue 10 found closing a socket
STEP = 64 * 1024  # what the network carries between two turns of the event loop


class SocketLike:
    """A link with its own queue of frames, as the signalling socket: past ``bound`` it
    would close as too slow; its network carries what a test tells it to."""

    def __init__(self, bound: int) -> None:
        self.bound = bound
        self.backlog = Backlog()
        self.frames: deque[bytes] = deque()
        self.delivered: list[bytes] = []
        self.most = 0  # the most that ever waited
        self.overflowed = False

    def send(self, data: bytes) -> bool:
        if self.backlog.closed:
            return False
        if self.backlog.size + len(data) > self.bound:
            self.overflowed = True
            self.close()
            return False
        self.backlog.add(len(data))
        self.frames.append(data)
        self.most = max(self.most, self.backlog.size)
        return True

    async def drained(self, label: str, low: int) -> None:
        await self.backlog.drained(low)  # one queue for every channel

    def transmit(self, size: int) -> None:
        while self.frames and size > 0:
            frame = self.frames.popleft()
            size -= len(frame)
            self.backlog.take(len(frame))
            self.delivered.append(frame)

    def close(self) -> None:
        self.backlog.close()


def _picture(link: SocketLike, number: int) -> bool:
    """One picture whole, as the board sends it: its start, its chunks, its end."""
    data = bytes([number]) * PICTURE
    link.send(b"start %d" % number)
    for at in range(0, len(data), CHUNK):
        link.send(data[at : at + CHUNK])
    return link.send(b"end %d" % number)


async def _run(link: SocketLike, pacing: Awaitable[int], steps: int = 100_000) -> int:
    """Turn the event loop, the network carrying ``STEP`` a turn, until ``pacing`` ends."""
    task = asyncio.ensure_future(pacing)
    for _ in range(steps):
        await asyncio.sleep(0)
        if task.done():
            return task.result()
        link.transmit(STEP)
    raise AssertionError("the pacing never ended")


async def _sent(link: SocketLike, number: int) -> bool:
    return _picture(link, number)


async def test_a_board_full_of_pictures_never_overflows_a_slow_link() -> None:
    link = SocketLike(bound=8 * MiB)
    sent = await _run(link, send_paced(link, "objects", range(48), lambda n: _sent(link, n)))
    link.transmit(link.backlog.size)
    assert sent == 48 and not link.overflowed
    assert link.most <= LOW_WATER + PICTURE + 64  # the mark, one picture and its two messages
    starts = [frame for frame in link.delivered if frame.startswith(b"start")]
    assert starts == [b"start %d" % n for n in range(48)]  # all of them, in order
    assert b"".join(f for f in link.delivered if len(f) == CHUNK) == b"".join(
        bytes([n]) * PICTURE for n in range(48)
    )  # each whole, none cut by another


def test_the_same_board_sent_at_once_overflows_it() -> None:
    """What pacing is for: 48 MiB at once is past any bound below it."""
    link = SocketLike(bound=8 * MiB)
    assert not all(_picture(link, n) for n in range(48))
    assert link.overflowed


async def test_pacing_ends_when_the_link_closes() -> None:
    link = SocketLike(bound=64 * MiB)

    async def send(number: int) -> bool:
        if number == 5:
            link.close()  # the member left, or went to the waiting room
        return _picture(link, number)

    assert await _run(link, send_paced(link, "objects", range(48), send)) == 5


async def test_a_closed_link_wakes_a_pacer_that_waits() -> None:
    link = SocketLike(bound=64 * MiB)
    _picture(link, 0)  # more than the mark waits, and the network carries nothing
    task = asyncio.ensure_future(
        send_paced(link, "objects", range(1, 48), lambda n: _sent(link, n))
    )
    for _ in range(10):
        await asyncio.sleep(0)
    assert not task.done()
    link.close()
    assert await asyncio.wait_for(task, 1) == 0  # woken at once, and nothing more sent


# -- a backlog


async def test_each_waiter_wakes_at_its_own_mark_and_a_cancelled_one_is_forgotten() -> None:
    backlog = Backlog()
    backlog.add(100)
    low, lower, gone = (
        asyncio.ensure_future(backlog.drained(60)),
        asyncio.ensure_future(backlog.drained(10)),
        asyncio.ensure_future(backlog.drained(0)),
    )
    await asyncio.sleep(0)
    gone.cancel()
    backlog.take(30)
    await asyncio.sleep(0)
    assert not low.done() and not lower.done()
    backlog.take(20)  # 50 wait
    await asyncio.sleep(0)
    assert low.done() and not lower.done()
    backlog.take(45)
    await asyncio.sleep(0)
    assert lower.done() and gone.cancelled() and backlog._waiting == []
    await backlog.drained(5)  # at the mark already: at once


# -- a data channel (aiortc's own, on a transport the test drives)


class Network:
    """The transport under a data channel: it buffers what is sent and carries it when told."""

    def _data_channel_add_negotiated(self, channel: RTCDataChannel) -> None:
        channel._setReadyState("open")

    def _data_channel_send(self, channel: RTCDataChannel, data: str | bytes) -> None:
        channel._addBufferedAmount(len(data))

    def _data_channel_close(self, channel: RTCDataChannel) -> None:
        channel._setReadyState("closed")

    @staticmethod
    def carry(channel: RTCDataChannel, size: int) -> None:
        channel._addBufferedAmount(-min(size, channel.bufferedAmount))


def _channel() -> RTCDataChannel:
    parameters = RTCDataChannelParameters(label="objects", negotiated=True, id=1)
    return RTCDataChannel(Network(), parameters)  # type: ignore[arg-type]


async def test_a_data_channel_is_waited_for_until_it_falls_to_the_mark() -> None:
    channel = _channel()
    await channel_drained(channel, 100)  # nothing waits: at once
    channel.send(b"x" * 1000)
    waiting = asyncio.ensure_future(channel_drained(channel, 100))
    await asyncio.sleep(0)
    assert channel.bufferedAmountLowThreshold == 100
    Network.carry(channel, 500)
    await asyncio.sleep(0)
    assert not waiting.done()
    Network.carry(channel, 400)  # 100 wait: the mark
    await asyncio.sleep(0)
    assert waiting.done()
    assert channel.listeners("bufferedamountlow") == channel.listeners("close") == []


async def test_a_data_channel_that_closes_wakes_its_waiter() -> None:
    channel = _channel()
    channel.send(b"x" * 1000)
    waiting = asyncio.ensure_future(channel_drained(channel, 100))
    await asyncio.sleep(0)
    channel.close()
    await asyncio.wait_for(waiting, 1)
    await channel_drained(channel, 0)  # closed: never waits


async def test_a_cancelled_wait_leaves_no_listener_behind() -> None:
    channel = _channel()
    channel.send(b"x" * 1000)
    waiting = asyncio.ensure_future(channel_drained(channel, 100))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert channel.listeners("bufferedamountlow") == []


async def test_pictures_on_a_slow_data_channel_wait_for_it() -> None:
    channel = _channel()

    class Peer:
        async def drained(self, label: str, low: int) -> None:
            await channel_drained(channel, low)

    most = 0

    async def send(number: int) -> bool:
        nonlocal most
        for _ in range(PICTURE // CHUNK):
            channel.send(bytes([number]) * CHUNK)
        most = max(most, channel.bufferedAmount)
        return True

    task = asyncio.ensure_future(send_paced(Peer(), "objects", range(48), send))
    for _ in range(100_000):
        await asyncio.sleep(0)
        if task.done():
            break
        Network.carry(channel, STEP)
    assert task.result() == 48 and most <= LOW_WATER + PICTURE
