"""A busy database delays a request, never drops it: a young person resuming, and a parent
joining, while many rooms' boards and logs are written and the server's event loop is busy
with its rooms, are answered, and their log entries are written."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import DATABASE, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.storage.db import utcnow
from server.storage.groupcommit import GroupCommit
from server.storage.models import new_id
from server.storage.session_models import BoardOp
from tests.client import ProtocolPeer
from tests.scenes import Room, admitted, join_with

# as the probe's: many rooms drawing at once, and a few of them logging something
DRAWING_ROOMS = 100
LOGGING_ROOMS = 5


def _busy_turn() -> None:
    """A turn of the event loop spent on other rooms' work (their media, their channels),
    as on a server with live rooms: the loop comes back to a transaction only after it."""
    hashlib.pbkdf2_hmac("sha256", b"room", b"work", 20_000)


class Burst:
    """Writes from many rooms at once, until stopped; whatever write fails is kept."""

    def __init__(self, app: web.Application, session_id: str) -> None:
        self.app, self.session_id = app, session_id
        self.writer = GroupCommit(app[DATABASE])
        self.stop = asyncio.Event()
        self.failures: list[BaseException] = []
        self.written = 0
        self.tasks: list[asyncio.Task[None]] = []

    def rows(self, room: int) -> Iterator[BoardOp]:
        seq = 100_000 * (room + 1)
        while True:
            seq += 1
            yield BoardOp(id=new_id(), appointment_id=self.session_id, seq=seq, author="a",
                          created_at=utcnow(), op_enc=b"x")  # fmt: skip

    async def draw(self, room: int) -> None:
        for row in self.rows(room):
            if self.stop.is_set():
                return
            try:
                await self.writer.write(row)
                self.written += 1
            except Exception as exc:  # noqa: BLE001 - kept, and the test fails on it
                self.failures.append(exc)

    async def log(self, room: int) -> None:
        while not self.stop.is_set():
            try:
                await self.app[SESSION_LOG].append(f"session:busy-{room}", "board.saved", "system")
                self.written += 1
            except Exception as exc:  # noqa: BLE001 - kept, and the test fails on it
                self.failures.append(exc)

    async def busy_loop(self) -> None:
        while not self.stop.is_set():
            _busy_turn()
            await asyncio.sleep(0)

    async def __aenter__(self) -> Burst:
        self.tasks = [asyncio.create_task(self.busy_loop())]
        self.tasks += [asyncio.create_task(self.draw(n)) for n in range(DRAWING_ROOMS)]
        self.tasks += [asyncio.create_task(self.log(n)) for n in range(LOGGING_ROOMS)]
        return self

    async def __aexit__(self, *_: object) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)


async def _answer(peer: ProtocolPeer, *kinds: str) -> dict[str, Any]:
    """The server's answer, or the socket's end: however long a busy database makes it."""

    def answered() -> dict[str, Any] | None:
        return next((m for m in peer.inbox if m["type"] in (*kinds, "error")), None)

    await peer.wait_for(lambda: answered() is not None or peer.ws.closed, within=300)
    found = answered()
    assert found is not None, f"closed with {peer.ws.close_code} and no answer"
    return found


@pytest.mark.hazard("HZ-25")
async def test_a_resume_and_a_join_during_a_burst_of_writes_are_answered_and_logged(
    app: web.Application, aiohttp_client, client: TestClient, room: Room, caplog
) -> None:  # type: ignore[no-untyped-def]
    young, joined = await admitted(aiohttp_client, client, room)
    yid, token = joined["you"]["id"], joined["resume"]
    async with Burst(app, room.session) as burst:
        for _ in range(3):
            await young.close()
            young = ProtocolPeer(
                await (await aiohttp_client(client.server)).ws_connect("/ws"), media=False
            )
            await young.send({"type": "resume", "token": token})
            back = await _answer(young, "resumed")
            assert back["type"] == "resumed", back
            token = back["resume"]
        parent = await join_with(aiohttp_client, client, room.parent_token)
        came = await _answer(parent, "joined")
        assert came["type"] == "joined", came
    assert burst.written > 0 and burst.failures == []
    assert not [r for r in caplog.records if getattr(r, "event", None) == "socket_failed"]
    entries = await app[SESSION_LOG].entries(session_stream(room.session))
    mine = [e.kind for e in entries if e.details.get("participant") == yid]
    assert mine.count("participant.interrupted") == 3
    assert mine.count("participant.reconnected") == 3
    assert [e.kind for e in entries].count("participant.joined") == 2  # the young person's too
    await asyncio.gather(young.close(), parent.close())
