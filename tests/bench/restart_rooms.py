"""The client processes of the restart benchmark (``bench_restart.py``): each enters its
share of the rooms (the therapist opens the room, the young person joins and is admitted,
both open the board), says so, then everyone draws (``restart_clients.py``: a person comes
back after each drop as a page does) until told to stop, and the process reports what each
person saw, and every change each room's people applied. Commands come over a pipe."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import aioice.ice
import OpenSSL.SSL
from yarl import URL

from tests.bench.restart_clients import Person, Report, Shared
from tests.bench.room_clients import loopback_only
from tests.factories import join_message

SETUP_AT_ONCE = 4  # rooms entering at the same time in one process
Room = tuple[int, str, str]  # index in the benchmark, session id, young person's token


@dataclass(frozen=True)
class Draw:
    """Draw until told to stop (any message on the pipe), then report."""


@dataclass
class RoomReport:
    session: str
    people: list[Report]
    seqs: dict[int, list[str]]  # each change either person applied: the elements it set
    elements: list[str]  # the ids on each person's board at the end


class Rooms:
    """This process's rooms."""

    def __init__(self, url: str, cookies: dict[str, str]) -> None:
        self.url = url
        self.staff = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(limit=0)
        )
        self.staff.cookie_jar.update_cookies(cookies, URL(url))
        self.outsider = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        self.rooms: dict[str, tuple[Person, Person, Shared]] = {}
        self.failed: list[str] = []

    async def enter(self, rooms: list[Room]) -> None:
        gate = asyncio.Semaphore(SETUP_AT_ONCE)

        async def one(session: str, token: str) -> None:
            shared = Shared()
            therapist = Person("therapist", self.staff, self.url, shared)
            young = Person("young_person", self.outsider, self.url, shared)
            async with gate:
                try:
                    async with asyncio.timeout(120):
                        therapist.adopt(await therapist.socket())
                        assert therapist.peer is not None
                        await therapist.peer.send({"type": "open_room", "session": session})
                        therapist.token = str(
                            (await therapist.peer.expect("room_opened"))["resume"]
                        )
                        young.adopt(await young.socket())
                        assert young.peer is not None
                        await young.peer.send(join_message(token))
                        joined = await young.peer.expect("joined")
                        young.token = str(joined["resume"])
                        await therapist.peer.send(
                            {"type": "admit", "participant": joined["you"]["id"]}
                        )
                        await young.peer.expect("admitted")
                        await asyncio.gather(therapist.open_board(False), young.open_board(False))
                except (OSError, RuntimeError, TimeoutError, aiohttp.ClientError) as exc:
                    self.failed.append(f"{type(exc).__name__}: {exc}"[:200])
                    await asyncio.gather(therapist.close(), young.close(), return_exceptions=True)
                    return
            self.rooms[session] = (therapist, young, shared)

        await asyncio.gather(*(one(session, token) for _, session, token in rooms))

    async def draw(self, stop: Awaitable[object]) -> list[RoomReport]:
        """Everyone draws until ``stop``; then the last acknowledgements, and the reports."""
        for therapist, young, _ in self.rooms.values():
            therapist.live()
            young.live()
        await stop
        now = asyncio.get_running_loop().time()
        for _, _, shared in self.rooms.values():
            shared.stop_at = now
        # every room at once: a room whose last strokes never come waits DRAIN_SECONDS alone
        finished = await asyncio.gather(
            *(asyncio.gather(t.finish(), y.finish()) for t, y, _ in self.rooms.values())
        )
        reports = []
        for (session, (therapist, young, shared)), people in zip(
            self.rooms.items(), finished, strict=True
        ):
            elements = sorted(
                {e for p in (therapist, young) if p.peer for e in p.peer.board.elements}
            )
            reports.append(RoomReport(session, list(people), dict(shared.seqs), elements))
        return reports

    async def close(self) -> None:
        people = [p for t, y, _ in self.rooms.values() for p in (t, y)]
        await asyncio.gather(*(p.close() for p in people), return_exceptions=True)
        await self.staff.close()
        await self.outsider.close()


def serve(conn: Connection, url: str, cookies: dict[str, str], rooms: list[Room]) -> None:
    """A client process: enter the rooms and say how many, then draw when told, and report."""
    aioice.ice.get_host_addresses = loopback_only
    asyncio.run(_serve(conn, url, cookies, rooms))


def _quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A data connection the server dropped still has aiortc sending on it until it is closed
    here: its "protocol is shutdown" says nothing about the run."""
    if not isinstance(context.get("exception"), OpenSSL.SSL.Error):
        loop.default_exception_handler(context)


async def _serve(conn: Connection, url: str, cookies: dict[str, str], rooms: list[Room]) -> None:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet)
    mine = Rooms(url, cookies)
    try:
        await mine.enter(rooms)
        conn.send(("entered", len(mine.rooms), mine.failed))
        command = await loop.run_in_executor(None, conn.recv)
        if isinstance(command, Draw):
            reports = await mine.draw(loop.run_in_executor(None, conn.recv))
            conn.send(json.dumps([_plain(r) for r in reports]))
    finally:
        await mine.close()


def _plain(room: RoomReport) -> dict[str, Any]:
    return {
        "session": room.session,
        "people": [p.__dict__ for p in room.people],
        "seqs": {str(k): v for k, v in room.seqs.items()},
        "elements": room.elements,
    }
