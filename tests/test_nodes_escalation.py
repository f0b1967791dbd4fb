"""An escalation's alerts outlive the nodes that send them: three real server processes on
one PostgreSQL and one Redis, each looking for due alerts. The node that raised an
escalation is killed with SIGKILL, then the node that sent its next alert: each alert goes
out once, down the rota, from whichever node is left (the claim in the database keeps two
nodes from sending the same one)."""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from server.storage.session_models import EscalationRepeat
from tests.client import ProtocolPeer
from tests.conftest import PASSWORD, require
from tests.helpers import ServerProcess, cli_env, free_port, in_thread, run_cli, running_nodes
from tests.live import LiveStaff, ready_session
from tests.test_nodes import REDIS_URL, _redis_reachable

SUPERVISORS = ("ann", "bob", "cid")  # Ann on shift; Bob and Cid off shift


class _Inbox:
    """An SMTP server on loopback (aiosmtpd) that keeps who each message went to."""

    def __init__(self) -> None:
        self.to: list[list[str]] = []
        self.arrived = threading.Condition()  # the SMTP server runs in its own thread

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.arrived:
            self.to.append(list(envelope.rcpt_tos))
            self.arrived.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 20.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.to) >= count, timeout)


@pytest.fixture
def inbox() -> Iterator[tuple[_Inbox, int]]:
    from aiosmtpd.controller import Controller

    mail = _Inbox()
    port = free_port()
    controller = Controller(mail, hostname="127.0.0.1", port=port)
    controller.start()
    yield mail, port
    controller.stop()


@pytest.fixture
def env(
    tmp_path: Path, postgres_url: str | None, inbox: tuple[_Inbox, int]
) -> Iterator[dict[str, str]]:
    """Every node's settings: this run's PostgreSQL, Redis, one key file, the mail server,
    and alerts repeated every 2 s."""
    require(in_thread(asyncio.run, _redis_reachable()), "Redis at 127.0.0.1:6379")
    require(postgres_url is not None, "PostgreSQL at 127.0.0.1:5432")
    assert postgres_url is not None
    from tests.conftest import _truncate_postgres

    in_thread(asyncio.run, _truncate_postgres(postgres_url))
    settings = cli_env(
        tmp_path / "data",
        postgres_url,
        PLAYROOM_LOG_LEVEL="WARNING",
        PLAYROOM_REDIS_URL=REDIS_URL,
        PLAYROOM_NODE_LEASE_SECONDS="2",
        PLAYROOM_ESCALATION_REPEAT_SECONDS="2",
        PLAYROOM_SMTP_HOST="127.0.0.1",
        PLAYROOM_SMTP_PORT=str(inbox[1]),
    )
    assert run_cli("migrate", env=settings).returncode == 0
    people = [("nia", "therapist"), ("ada", "admin")] + [(s, "supervisor") for s in SUPERVISORS]
    for username, role in people:
        made = run_cli(
            "create-user", "--username", username, "--role", role, "--password-stdin",
            "--email", f"{username}@example.org", env=settings, stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    for supervisor in SUPERVISORS:
        assert run_cli("supervise", supervisor, "nia", env=settings).returncode == 0
    assert run_cli("shift", "ann", "on", env=settings).returncode == 0
    yield settings


@pytest.fixture
async def three(env: dict[str, str]) -> AsyncIterator[list[ServerProcess]]:
    with running_nodes(env) as servers:
        yield servers


async def _row(url: str, escalation: str) -> tuple[int, str | None]:
    """The escalation's alerts as the database holds them: (next on the rota, last node)."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(EscalationRepeat.next_index, EscalationRepeat.claimed_by).where(
                        EscalationRepeat.escalation_id == escalation
                    )
                )
            ).one()
        return int(row[0]), row[1]
    finally:
        await engine.dispose()


async def _sent(url: str, escalation: str, turns: int) -> str:
    """Wait until ``turns`` turns of the rota have gone out; the node that sent the last."""
    async with asyncio.timeout(20):
        while True:
            next_index, node = await _row(url, escalation)
            if next_index >= turns and node:
                return node
            await asyncio.sleep(0.05)  # a condition polled, not a timer waited out


@pytest.mark.hazard("HZ-21")
async def test_alerts_go_on_when_the_nodes_sending_them_are_killed(
    three: list[ServerProcess], inbox: tuple[_Inbox, int], postgres_url: str
) -> None:
    mail, _ = inbox
    a, b, c = three
    admin = LiveStaff(b.url, "ada", PASSWORD)
    nia = LiveStaff(a.url, "nia", PASSWORD)
    try:
        nodes = {}  # node id -> its process
        for server in (b, c):
            await admin.sign_in(server.url)
            nodes[(await admin.api("GET", "/ops/status"))["node"]] = server
        await nia.sign_in()
        session, _ = await ready_session(nia)
        therapist = ProtocolPeer(await nia.ws(), media=False)  # on node A
        await therapist.send({"type": "open_room", "session": session})
        await therapist.expect("room_opened")
        await therapist.send({"type": "escalate", "concern": "risk_to_self"})
        info = (await therapist.expect("escalation"))["escalation"]
        assert info["reached"] == "Alerted, on shift: ann."

        # A sent the first alert (to Ann, on shift), then dies before the next is due
        await _sent(postgres_url, info["id"], 1)
        assert await asyncio.to_thread(mail.wait_for, 1)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        await therapist.close()

        # B or C sends the next (to the first supervisor off shift); it dies in turn
        second = await _sent(postgres_url, info["id"], 2)
        assert await asyncio.to_thread(mail.wait_for, 2)
        dying = nodes[second]
        dying.proc.send_signal(signal.SIGKILL)
        dying.proc.wait(10)
        survivor = c if dying is b else b

        # the node left sends the one after, to the other supervisor off shift
        third = await _sent(postgres_url, info["id"], 3)
        assert nodes[third] is survivor
        assert await asyncio.to_thread(mail.wait_for, 3)
        first_three = [to for (to,) in mail.to[:3]]
        assert first_three[0] == "ann@example.org"  # on shift, at once
        assert sorted(first_three[1:]) == ["bob@example.org", "cid@example.org"]  # each once

        # the survivor's watchers hear it, and one acknowledgement there stops it
        await admin.close()
        ann = LiveStaff(survivor.url, "ann", PASSWORD)
        await ann.sign_in()
        dashboard = ProtocolPeer(await ann.ws(), media=False)
        await dashboard.send({"type": "watch"})
        assert (await dashboard.expect("escalation_alert"))["escalation"]["id"] == info["id"]
        await dashboard.send({"type": "acknowledge", "escalation": info["id"]})
        update = await dashboard.expect("escalation_update")
        assert update["escalation"]["status"] == "acknowledged"
        await dashboard.close()
        await ann.close()
    finally:
        await admin.close()
        await nia.close()
