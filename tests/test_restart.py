"""A real server process is stopped mid-session and started again: the board is all there."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp

from media.client import ProtocolPeer
from tests.conftest import PASSWORD
from tests.helpers import ServerProcess, cli_env, run_cli
from tests.live import LiveStaff, ready_session
from tests.scenes import stroke


async def _enter(
    staff: LiveStaff, session: str, token: str, outsider: aiohttp.ClientSession
) -> tuple[ProtocolPeer, ProtocolPeer]:
    therapist = ProtocolPeer(await staff.ws(), media=False)
    await therapist.send({"type": "open_room", "session": session})
    await therapist.expect("room_opened")
    young = ProtocolPeer(
        await outsider.ws_connect(f"{staff.base.replace('http', 'ws', 1)}/ws"), media=False
    )
    await young.send({"type": "join", "token": token})
    yid = (await young.expect("joined"))["you"]["id"]
    await therapist.send({"type": "admit", "participant": yid})
    await young.expect("admitted")
    await asyncio.gather(therapist.open_board(), young.open_board())
    return therapist, young


async def test_the_board_survives_a_server_restart(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", PLAYROOM_LOG_LEVEL="WARNING")
    assert run_cli("migrate", env=env).returncode == 0
    made = run_cli(
        "create-user",
        "--username",
        "rio",
        "--role",
        "therapist",
        "--password-stdin",
        env=env,
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    server = ServerProcess(env)
    server.wait_ready()
    staff = LiveStaff(server.url, "rio", PASSWORD)
    outsider = aiohttp.ClientSession()
    try:
        await staff.sign_in()
        session, links = await ready_session(staff)
        therapist, young = await _enter(staff, session, links["young_person"], outsider)
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
        therapist, young = await _enter(staff, session, links["young_person"], outsider)
        assert therapist.board.snapshot() == before
        assert young.board.snapshot() == before
        await asyncio.gather(therapist.close(), young.close())
    finally:
        await staff.close()
        await outsider.close()
        server.stop()
