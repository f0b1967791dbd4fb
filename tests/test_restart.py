"""A real server process is killed mid-session and started again: everyone resumes straight
into the room, the board is all there, and whoever does not come back is lost. Stopped
instead (SIGTERM), it tells every socket when to come back, and everyone does."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from server.live.hub import RESTART_WINDOW_MS, RESTARTING
from tests.client import ProtocolPeer
from tests.conftest import PASSWORD
from tests.helpers import ServerProcess, serve_with_therapist
from tests.live import LiveStaff, enter_room, ready_session
from tests.scenes import stroke


@pytest.mark.hazard("HZ-10")
async def test_the_board_survives_a_server_restart(tmp_path: Path) -> None:
    """Both drew and the young person put a sticker down; after a crash both come back (the
    room rebuilt as the server started) and hold the board exactly as it was."""
    server, env = serve_with_therapist(tmp_path / "data", "rio", PASSWORD)
    staff = LiveStaff(server.url, "rio", PASSWORD)
    outsider = aiohttp.ClientSession()
    try:
        await staff.sign_in()
        session, links = await ready_session(staff)
        entered = await enter_room(staff, session, links["young_person"], outsider, board=True)
        therapist, young = entered.therapist, entered.young
        for a, b in zip(stroke("t-1", 100), stroke("y-1", 500), strict=True):
            therapist.draw(a)
            young.draw(b)
        young.draw({"op": "sticker", "id": "y-cat", "name": "cat", "x": 20, "y": 20})
        await therapist.wait_for(lambda: therapist.board.seq == 43)
        await young.wait_for(lambda: young.board.seq == 43)
        before = therapist.board.snapshot()
        await asyncio.gather(therapist.close(), young.close())

        server.proc.send_signal(signal.SIGKILL)  # no goodbye: a crash
        server.proc.wait(10)
        server = ServerProcess(env)
        server.wait_ready()
        await staff.sign_in(server.url)
        ws_url = f"{server.url.replace('http', 'ws', 1)}/ws"
        therapist, _ = await _resume(await staff.ws(), entered.therapist_token)
        young, _ = await _resume(await outsider.ws_connect(ws_url), entered.young_token)
        await asyncio.gather(therapist.open_board(), young.open_board())
        assert therapist.board.snapshot() == before
        assert young.board.snapshot() == before
        await asyncio.gather(therapist.close(), young.close())
    finally:
        await staff.close()
        await outsider.close()
        server.stop()


async def _resume(ws: aiohttp.ClientWebSocketResponse, token: str) -> tuple[ProtocolPeer, dict]:  # type: ignore[type-arg]
    peer = ProtocolPeer(ws, media=False)
    await peer.send({"type": "resume", "token": token})
    return peer, await peer.expect("resumed")


@pytest.mark.hazard("HZ-10")
async def test_after_a_crash_everyone_resumes_into_the_room(tmp_path: Path) -> None:
    server, env = serve_with_therapist(
        tmp_path / "data", "rio", PASSWORD, PLAYROOM_RECONNECT_GRACE_SECONDS="12"
    )
    staff = LiveStaff(server.url, "rio", PASSWORD)
    outsider = aiohttp.ClientSession()
    ws_url = f"{server.url.replace('http', 'ws', 1)}/ws"
    try:
        await staff.sign_in()
        session, links = await ready_session(staff)
        entered = await enter_room(staff, session, links["young_person"], outsider, board=True)
        therapist, young = entered.therapist, entered.young
        t_token, yid, y_token = entered.therapist_token, entered.young_id, entered.young_token
        for op in stroke("y-1", 300):
            young.draw(op)
        await therapist.wait_for(lambda: therapist.board.seq == 21)
        before = therapist.board.snapshot()

        server.crash_and_restart()
        therapist, resumed = await _resume(await staff.ws(), t_token)
        assert resumed["present"] == []  # the young person has not come back yet
        t_token = resumed["resume"]
        young, back = await _resume(await outsider.ws_connect(ws_url), y_token)
        assert back["you"]["id"] == yid  # straight into the room, no waiting room
        assert [p["role"] for p in back["present"]] == ["therapist"]
        await therapist.expect("peer_state", participant=yid, state="reconnected")
        await asyncio.gather(therapist.open_board(), young.open_board())
        assert therapist.board.snapshot() == before == young.board.snapshot()
        await young.close()

        # a second crash, and this time the young person does not come back: lost, and the
        # therapist is walked through the plan
        server.crash_and_restart()
        therapist, resumed = await _resume(await staff.ws(), t_token)
        await therapist.expect("peer_state", participant=yid, state="lost", within=15)
        plan = await therapist.expect("plan", participant=yid)
        assert plan["case"] == "lost" and plan["steps"]
        again = ProtocolPeer(await outsider.ws_connect(ws_url), media=False)
        await again.send({"type": "resume", "token": back["resume"]})
        assert (await again.expect("error"))["code"] == "bad_resume"
        await asyncio.gather(therapist.close(), again.close())
    finally:
        await staff.close()
        await outsider.close()
        server.stop()


async def test_a_restarted_server_rebuilds_its_rooms_before_anyone_is_back(
    tmp_path: Path,
) -> None:
    """The new process rebuilds the room as it starts, before anyone resumes; both people of
    the room then resume in the same moment into it, and nothing reads it again."""
    server, _env = serve_with_therapist(
        tmp_path / "data", "rio", PASSWORD, PLAYROOM_LOG_LEVEL="INFO"
    )
    staff = LiveStaff(server.url, "rio", PASSWORD)
    outsider = aiohttp.ClientSession()
    ws_url = f"{server.url.replace('http', 'ws', 1)}/ws"
    try:
        await staff.sign_in()
        session, links = await ready_session(staff)
        entered = await enter_room(staff, session, links["young_person"], outsider)
        tokens = (entered.therapist_token, entered.young_token)
        server.crash_and_restart()
        deadline = time.monotonic() + 20
        while '"room_restored"' not in server.stderr():  # nobody has come back yet
            assert time.monotonic() < deadline, server.stderr()[-2000:]
            await asyncio.sleep(0.05)  # the server's own log, read until it says so
        peers = [
            ProtocolPeer(await staff.ws(), media=False),
            ProtocolPeer(await outsider.ws_connect(ws_url), media=False),
        ]
        await asyncio.gather(
            *(p.send({"type": "resume", "token": t}) for p, t in zip(peers, tokens, strict=True))
        )
        answers = await asyncio.gather(*(p.expect("resumed") for p in peers))
        assert {a["you"]["id"] for a in answers} == {entered.therapist_id, entered.young_id}
        rebuilt = [line for line in server.stderr().splitlines() if '"room_restored"' in line]
        assert len(rebuilt) == 1, rebuilt
        await asyncio.gather(*(p.close() for p in peers))
    finally:
        await staff.close()
        await outsider.close()
        server.stop()


@pytest.mark.hazard("HZ-10")
async def test_a_stopping_server_tells_every_socket_when_to_come_back(tmp_path: Path) -> None:
    server, env = serve_with_therapist(tmp_path / "data", "rio", PASSWORD)
    staff = LiveStaff(server.url, "rio", PASSWORD)
    outsider = aiohttp.ClientSession()
    ws_url = f"{server.url.replace('http', 'ws', 1)}/ws"
    try:
        await staff.sign_in()
        session, links = await ready_session(staff)
        entered = await enter_room(staff, session, links["young_person"], outsider, board=True)
        therapist, young = entered.therapist, entered.young
        yid = young.me["id"] if young.me else ""

        # SIGTERM, and the same server again at the same address (the loop keeps reading)
        await asyncio.to_thread(server.restart)
        for peer in (therapist, young):
            await peer.wait_for(lambda p=peer: p.ws.closed)  # type: ignore[misc]
            told = [m for m in peer.inbox if m["type"] == "restarting"]
            assert len(told) == 1 and 0 <= told[0]["after_ms"] < RESTART_WINDOW_MS
            assert peer.ws.close_code == RESTARTING
        therapist = await therapist.come_back(staff.ws)
        assert (await therapist.expect("resumed"))["you"]["role"] == "therapist"
        young = await young.come_back(lambda: outsider.ws_connect(ws_url))
        back = await young.expect("resumed")
        assert back["you"]["id"] == yid  # straight into the room, no waiting room
        await therapist.expect("peer_state", participant=yid, state="reconnected")
        await asyncio.gather(therapist.close(), young.close())
    finally:
        await staff.close()
        await outsider.close()
        server.stop()
