"""Several nodes on one PostgreSQL and one Redis: three real server processes on loopback.

The therapist is on one node and the young person on another; the room lives on the
therapist's node and the young person's signalling is relayed to it over Redis. That node is
killed with SIGKILL mid-session: the room is taken over by a live node, rebuilt from the
database, both come back into it, the board is whole and the log verifies. Escalations reach
a supervisor's dashboard on another node, and ending the session on yet another node ends
the live room. A room rebuilt elsewhere keeps the therapist's settings (two apps in this
process, on one database).
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as redis_async
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.exceptions import RedisError

from server.app import create_app
from server.appkeys import WHITEBOARDS
from server.nodes.ends import MOVED
from server.settings import Settings
from tests.client import ProtocolPeer
from tests.conftest import PASSWORD, Staff, require, sign_in
from tests.factories import join_message, ready_client, therapist_view
from tests.helpers import ServerProcess, cli_env, in_thread, run_cli, running_nodes
from tests.live import LiveStaff, ready_session
from tests.scenes import join_token, schedule_session, stroke

REDIS_URL = "redis://127.0.0.1:6379/0"


async def _redis_reachable() -> bool:
    client = redis_async.from_url(REDIS_URL)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


@pytest.fixture
def nodes_env(tmp_path: Path, postgres_url: str | None) -> Iterator[dict[str, str]]:
    """The settings every node shares: this run's PostgreSQL database, Redis, one key file."""
    require(in_thread(asyncio.run, _redis_reachable()), "Redis at 127.0.0.1:6379")
    require(postgres_url is not None, "PostgreSQL at 127.0.0.1:5432")
    assert postgres_url is not None
    from tests.conftest import _truncate_postgres

    in_thread(asyncio.run, _truncate_postgres(postgres_url))
    env = cli_env(
        tmp_path / "data",
        postgres_url,
        PLAYROOM_LOG_LEVEL="INFO",
        PLAYROOM_REDIS_URL=REDIS_URL,
        PLAYROOM_NODE_LEASE_SECONDS="2",
        PLAYROOM_RECONNECT_GRACE_SECONDS="20",
    )
    assert run_cli("migrate", env=env).returncode == 0
    for username, role in (("nia", "therapist"), ("sol", "supervisor")):
        made = run_cli(
            "create-user", "--username", username, "--role", role, "--password-stdin",
            env=env, stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    assert run_cli("supervise", "sol", "nia", env=env).returncode == 0
    yield env


@pytest.fixture
async def three(nodes_env: dict[str, str]) -> AsyncIterator[list[ServerProcess]]:
    with running_nodes(nodes_env) as servers:
        yield servers


def _ws(base: str) -> str:
    return f"{base.replace('http', 'ws', 1)}/ws"


async def _resume(
    http: aiohttp.ClientSession, base: str, token: str
) -> tuple[ProtocolPeer, dict[str, object]]:
    peer = ProtocolPeer(await http.ws_connect(_ws(base)), media=False)
    await peer.send({"type": "resume", "token": token})
    return peer, await peer.expect("resumed")


@pytest.mark.hazard("HZ-10")
async def test_a_room_survives_the_death_of_its_node(three: list[ServerProcess]) -> None:
    a, b, c = three
    staff = LiveStaff(a.url, "nia", PASSWORD)
    supervisor = LiveStaff(b.url, "sol", PASSWORD)
    outsider = aiohttp.ClientSession()
    try:
        await staff.sign_in()
        session, links = await ready_session(staff)
        therapist = ProtocolPeer(await staff.ws(), media=False)  # on node A: the room's home
        await therapist.send({"type": "open_room", "session": session})
        t_token = (await therapist.expect("room_opened"))["resume"]
        young = ProtocolPeer(await outsider.ws_connect(_ws(b.url)), media=False)  # on node B
        await young.send(join_message(links["young_person"]))
        joined = await young.expect("joined")
        yid, y_token = joined["you"]["id"], joined["resume"]
        await therapist.expect("lobby", within=5)
        await therapist.send({"type": "admit", "participant": yid})
        await young.expect("admitted")
        await asyncio.gather(therapist.open_board(), young.open_board())
        for t_op, y_op in zip(stroke("t-1", 100), stroke("y-1", 400), strict=True):
            therapist.draw(t_op)
            young.draw(y_op)
        await young.wait_for(lambda: young.board.seq == 42)
        await therapist.wait_for(lambda: therapist.board.seq == 42)
        before = therapist.board.snapshot()

        # a supervisor's dashboard on node B hears of an escalation raised on node A
        await supervisor.sign_in()
        dashboard = ProtocolPeer(await supervisor.ws(), media=False)
        await dashboard.send({"type": "watch"})
        await dashboard.send({"type": "ping", "n": 1})
        await dashboard.expect("pong")
        await therapist.send({"type": "escalate", "concern": "risk_to_self"})
        escalation = (await therapist.expect("escalation"))["escalation"]
        await dashboard.expect("escalation_alert", within=5)
        await dashboard.send({"type": "acknowledge", "escalation": escalation["id"]})
        update = await therapist.expect("escalation_update", within=5)
        assert update["escalation"]["status"] == "acknowledged"

        # node A dies: no goodbye
        killed = time.monotonic()
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        await young.wait_for(lambda: young.ws.closed, within=10)
        assert young.ws.close_code == MOVED  # B's relay found the room's home gone

        # the therapist comes back through node C, which takes the room over
        await staff.sign_in(c.url)
        therapist, resumed = await _resume(staff.http, c.url, t_token)  # type: ignore[arg-type]
        assert resumed["present"] == []
        young, back = await _resume(outsider, b.url, y_token)  # relayed by B to C
        assert back["you"]["id"] == yid
        assert [p["role"] for p in back["present"]] == ["therapist"]  # type: ignore[union-attr]
        await therapist.expect("peer_state", participant=yid, state="reconnected")
        await asyncio.gather(therapist.open_board(), young.open_board())
        recovered = time.monotonic() - killed
        assert therapist.board.snapshot() == before == young.board.snapshot()
        for op in stroke("y-2", 600):  # the room works on its new node
            young.draw(op)
        await therapist.wait_for(lambda: therapist.board.seq == 42 + 21)
        assert recovered < 15, recovered

        # ending the session through node B ends the live room on node C
        await supervisor.close()
        await staff.sign_in(b.url)
        await staff.api("POST", f"/api/sessions/{session}/end")
        await young.expect("room_ended", within=5)
        await asyncio.gather(therapist.close(), young.close(), dashboard.close())
    finally:
        await staff.close()
        await supervisor.close()
        await outsider.close()

    checked = run_cli("verify-log", session, "--json", env=b.env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["intact"]
    assert '"event": "room_restored"' in c.stderr()  # node C rebuilt the room


@pytest.mark.hazard("HZ-02")
async def test_someone_removed_stays_out_on_every_node(three: list[ServerProcess]) -> None:
    """The room lives on node A; the young person, on node B, is removed. Through node C
    their link is refused; node A dies, and the node that takes the room over keeps them out
    (their resume token and their link refused) and shows the therapist whom to let back."""
    a, b, c = three
    staff = LiveStaff(a.url, "nia", PASSWORD)
    outsider = aiohttp.ClientSession()
    try:
        await staff.sign_in()
        session, links = await ready_session(staff)
        therapist = ProtocolPeer(await staff.ws(), media=False)  # on node A: the room's home
        await therapist.send({"type": "open_room", "session": session})
        t_token = (await therapist.expect("room_opened"))["resume"]
        young = ProtocolPeer(await outsider.ws_connect(_ws(b.url)), media=False)
        await young.send(join_message(links["young_person"]))
        joined = await young.expect("joined")
        await therapist.send({"type": "admit", "participant": joined["you"]["id"]})
        await young.expect("admitted")
        await therapist.send({"type": "remove", "participant": joined["you"]["id"], "id": "r"})
        await therapist.expect("done", id="r")
        elsewhere = ProtocolPeer(await outsider.ws_connect(_ws(c.url)), media=False)
        await elsewhere.send(join_message(links["young_person"]))
        assert (await elsewhere.expect("error", within=5))["code"] == "not_let_back"

        a.proc.send_signal(signal.SIGKILL)  # the room's home dies
        a.proc.wait(10)
        await staff.sign_in(b.url)
        therapist, _ = await _resume(staff.http, b.url, t_token)  # type: ignore[arg-type]

        def out() -> list[dict[str, str]]:
            lobbies = [m for m in therapist.inbox if m["type"] == "lobby"]
            return lobbies[-1]["out"] if lobbies else []

        await therapist.wait_for(lambda: len(out()) == 1)
        assert (out()[0]["role"], out()[0]["how"]) == ("young_person", "removed")
        back = ProtocolPeer(await outsider.ws_connect(_ws(c.url)), media=False)
        await back.send({"type": "resume", "token": joined["resume"]})
        assert (await back.expect("error", within=5))["code"] == "bad_resume"
        await back.send(join_message(links["young_person"]))
        assert (await back.expect("error", within=5))["code"] == "not_let_back"
        await therapist.send({"type": "let_back", "link": out()[0]["link"], "id": "l"})
        await therapist.expect("done", id="l")
        await back.send(join_message(links["young_person"]))
        await back.expect("waiting", within=5)
        await asyncio.gather(therapist.close(), young.close(), elsewhere.close(), back.close())
    finally:
        await staff.close()
        await outsider.close()


async def test_a_room_comes_back_as_the_therapist_left_it_where_it_is_rebuilt(  # type: ignore[no-untyped-def]
    app: web.Application,
    aiohttp_client,
    client: TestClient,
    therapist: Staff,
    settings: Settings,
) -> None:
    """The room's lock, the therapist's "others may clear the board" and the chat turned off
    live with the room in memory; the node that rebuilds the room from the database (after
    its node died, or a restart) must bring them back. The second node is a second app on
    the same database."""
    csrf = await sign_in(client, therapist)
    kid = await ready_client(app, await therapist_view(app, therapist.username))
    made = await schedule_session(client, csrf, kid.id)
    t = ProtocolPeer(await client.ws_connect("/ws"), media=False)
    await t.send({"type": "open_room", "session": made["id"]})
    t_token = (await t.expect("room_opened"))["resume"]
    await t.send({"type": "lock", "locked": True})
    await t.expect("lobby", locked=True)
    await t.send({"type": "allow_clear", "allowed": True})
    await t.send({"type": "chat_setting", "on": False})
    await t.send({"type": "ping", "n": 1})
    await t.expect("pong")  # both taken, and stored: the socket handles one message at a time
    await t.close()  # the first node's socket drops (or the node dies)

    other = await aiohttp_client(create_app(settings))  # the node that takes the room over
    await sign_in(other, therapist)
    t = ProtocolPeer(await other.ws_connect("/ws"), media=False)
    young = ProtocolPeer(await (await aiohttp_client(other.server)).ws_connect("/ws"), media=False)
    try:
        await t.send({"type": "resume", "token": t_token})
        await t.expect("resumed")
        assert (await t.expect("chat_history"))["on"] is False  # the chat still off
        assert (await t.expect("lobby"))["locked"] is True
        await young.send(join_message(join_token(made)))
        yid = (await young.expect("joined"))["you"]["id"]
        lobby = await t.expect("lobby")
        while not lobby["waiting"]:
            lobby = await t.expect("lobby")
        assert lobby["locked"] is True
        await t.send({"type": "admit", "participant": yid})
        assert "locked" in (await t.expect("error"))["message"]  # the lock still holds
        board = await other.app[WHITEBOARDS].get(made["id"], kid.id)
        assert board.clear_allowed
    finally:
        await asyncio.gather(t.close(), young.close())
