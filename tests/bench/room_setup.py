"""Setting up the rooms benchmark (``bench_rooms.py``): the sessions, made by the server's own
services against its database while it stands idle (as ``bench_pages.py`` seeds: one client
whose gate is open, its checklists, plan and consent through ``tests.factories``, and a
session a room, each with the young person's join link); the therapist's staff cookie; and
the client processes (``room_clients.py``) on the clients' core, driven over pipes."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aiohttp import web
from yarl import URL

from tests.bench.room_clients import Enter, Room, serve
from tests.bench.room_phase import CLIENT_CPU, pin_all
from tests.helpers import ServerProcess


class Sessions:
    """Sessions of one client whose gate is open, made by the server's own services against
    its database while it stands idle; each with the young person's join link."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.client_id: str | None = None
        self.rooms: list[Room] = []

    async def upto(self, count: int) -> list[Room]:
        from server.app import create_app
        from server.appkeys import ACCOUNTS, SCHEDULE
        from server.care.schedule import NewAppointment
        from server.settings import Settings
        from server.storage.db import utcnow
        from tests.factories import ready_client

        if count <= len(self.rooms):
            return self.rooms[:count]
        data = Path(self.server.env["PLAYROOM_DATA_DIR"])
        app = create_app(Settings(data_dir=data, log_level="WARNING"))
        runner = web.AppRunner(app)
        await runner.setup()  # opens storage and builds the services; listens nowhere
        try:
            therapist = await app[ACCOUNTS].find("bench")
            if self.client_id is None:
                self.client_id = (await ready_client(app, therapist, age_band="16-17")).id
            schedule = app[SCHEDULE]
            for index in range(len(self.rooms), count):
                starts = NewAppointment(starts_at=utcnow() + timedelta(minutes=1), minutes=120)
                made = await schedule.create(therapist, self.client_id, starts)
                links = await schedule.join_links(therapist, made.id)
                token = next(j.token for j in links if j.link.role == "young_person")
                self.rooms.append((index, made.id, token))
        finally:
            await runner.cleanup()
        return self.rooms


async def cookies(url: str) -> dict[str, str]:
    """The therapist signed in (the second factor enrolled): the staff cookie."""
    from tests.conftest import PASSWORD
    from tests.live import LiveStaff

    staff = LiveStaff(url, "bench", PASSWORD)
    try:
        await staff.sign_in()
        assert staff.http is not None
        jar = staff.http.cookie_jar.filter_cookies(URL(url))
        return {name: morsel.value for name, morsel in jar.items()}
    finally:
        await staff.close()


class Clients:
    """The client processes, on the clients' core; room ``i`` lives in process ``i % count``."""

    def __init__(self, url: str, cookies: dict[str, str], count: int) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no loop inherited
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for _ in range(count):
            parent, child = context.Pipe()
            proc = context.Process(target=serve, args=(child, url, cookies), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
        for pid in self.pids:
            pin_all(pid, CLIENT_CPU)
        self.collect("ready")

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def collect(self, expected: object = None, within: float = 120) -> list[Any]:
        replies = []
        for conn, proc in zip(self.conns, self.procs, strict=True):
            if not conn.poll(within):
                raise TimeoutError(f"client process {proc.pid} did not answer")
            replies.append(conn.recv())
            if isinstance(replies[-1], str) and replies[-1].startswith("failed"):
                raise RuntimeError(f"client process {proc.pid}: {replies[-1]}")
            assert expected is None or replies[-1] == expected, replies[-1]
        return replies

    def enter(self, rooms: list[Room], channels: int, receivers: bool) -> None:
        count = len(self.conns)
        for w, conn in enumerate(self.conns):
            conn.send(Enter([r for r in rooms if r[0] % count == w], channels, receivers))
        self.collect(within=120 + 2 * len(rooms))

    def close(self) -> None:
        for conn in self.conns:
            conn.send(None)
        for proc in self.procs:
            proc.join(30)
            if proc.is_alive():
                proc.terminate()
