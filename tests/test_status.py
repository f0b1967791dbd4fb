"""An administrator's view of what a process holds (rooms, sockets, peers, tasks, files,
memory), for watching for leaks; nobody else sees it."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.storage.models import Role
from tests.conftest import Staff, make_staff, sign_in


async def test_an_administrator_sees_counts_and_a_therapist_does_not(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    await sign_in(client, therapist)
    assert (await client.get("/ops/status")).status == 403
    client.session.cookie_jar.clear()
    admin = await make_staff(app, "ada.admin", Role.ADMIN)
    await sign_in(client, admin)
    resp = await client.get("/ops/status")
    assert resp.status == 200
    status = await resp.json()
    assert status["rooms"] == status["server_peers"] == status["boards"] == 0
    assert status["tasks"] > 0 and status["open_files"] > 0 and status["rss_bytes"] > 1 << 20
    assert "python_objects" not in status  # a collection stops the loop: only when asked
    resp = await client.get("/ops/status?collect=1")
    status = await resp.json()
    assert status["python_objects"] > 1000 and status["python_blocks"] > status["python_objects"]
