"""Reminders and text messages go once: two app instances (nodes) on one PostgreSQL run
their outbox jobs at the same moment, and a new app on the same database after a restart
finds nothing left to send. The text-message webhook is a real aiohttp server: each body is
signed, and one answered with a 500 is shown to the therapist and tried again."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from server.app import create_app
from server.appkeys import DATABASE, INVITATIONS, SCHEDULE
from server.care.addresses import ContactsIn
from server.care.notify import sign
from server.care.outbox import Outbox
from server.care.schedule import NewAppointment
from server.settings import Settings
from server.storage.db import utcnow
from server.storage.mail_models import OutboxMessage
from server.storage.models import Appointment
from tests.conftest import _truncate_postgres, make_staff, require, sign_in
from tests.factories import ready_client, therapist_view
from tests.helpers import in_thread
from tests.mailbox import Mailbox, TextHook, mailbox_fixture  # noqa: F401 - the fixture

YOUNG = "sky@example.org"
SECRET = "sms-secret"
Start = Callable[[], Awaitable[TestClient]]


@pytest.fixture
def node_settings(
    tmp_path: Path,
    postgres_url: str | None,
    mailbox: tuple[Mailbox, int],
    unused_tcp_port: int,
) -> Iterator[Settings]:
    """Every node's settings: this run's PostgreSQL, one data folder (one key file), the
    mail server, the text webhook, and reminders 24 hours and 1 hour before."""
    require(postgres_url is not None, "PostgreSQL at 127.0.0.1:5432")
    assert postgres_url is not None
    in_thread(asyncio.run, _truncate_postgres(postgres_url))
    yield Settings(
        data_dir=tmp_path,
        database_url=postgres_url,
        login_rate_per_minute=1000,
        smtp_host="127.0.0.1",
        smtp_port=mailbox[1],
        smtp_timeout_seconds=2,
        sms_webhook_url=f"http://127.0.0.1:{unused_tcp_port}/sms",
        sms_webhook_secret=SecretStr(SECRET),
        reminder_hours=[24, 1],
        outbox_poll_seconds=3600,  # the test runs each node's rounds itself, at once
        outbox_retry_seconds=0.01,
        public_url="http://playroom.example.org",  # http: the test client keeps its cookie
    )


@pytest.fixture
async def hook(node_settings: Settings) -> TextHook:
    texts = TextHook()
    assert node_settings.sms_webhook_url is not None
    port = int(node_settings.sms_webhook_url.split(":")[2].split("/")[0])
    server = TestServer(texts.app(), host="127.0.0.1", port=port)
    await server.start_server()
    yield texts  # type: ignore[misc]
    await server.close()


@pytest.fixture
def start(aiohttp_client, node_settings: Settings) -> Start:  # type: ignore[no-untyped-def]
    """A node: an app of its own on the shared database, started with its periodic jobs."""

    async def node() -> TestClient:
        client: TestClient = await aiohttp_client(create_app(node_settings))
        return client

    return node


async def _backdate(app: web.Application, appointment_id: str) -> None:
    """Scheduled two days ago: every reminder falls after it was scheduled."""
    async with app[DATABASE].session() as session:
        await session.execute(
            sa.update(Appointment)
            .where(Appointment.id == appointment_id)
            .values(created_at=utcnow() - timedelta(days=2))
        )


async def _rounds(*apps: web.Application, rounds: int = 3) -> None:
    """Every node's job, several rounds each, all at the same moment."""
    await asyncio.gather(*(app[INVITATIONS].tick() for app in apps for _ in range(rounds)))


@pytest.mark.postgres
@pytest.mark.hazard("HZ-30")
async def test_each_reminder_goes_once_from_two_nodes_and_again_never_after_a_restart(
    start: Start,
    hook: TextHook,
    mailbox: tuple[Mailbox, int],
) -> None:
    box, _ = mailbox
    one = (await start()).app
    staff = await make_staff(one, "therapist.one")
    user = await therapist_view(one, staff.username)
    sky = await ready_client(one, user)
    await one[INVITATIONS].contacts.save(
        sky.id, ContactsIn(young_person_email=YOUNG, join_to="young_person", automatic=True)
    )
    now = utcnow()
    schedule = one[SCHEDULE]
    tomorrow = await schedule.create(
        user, sky.id, NewAppointment(starts_at=now + timedelta(hours=23))
    )
    within_hour = await schedule.create(
        user, sky.id, NewAppointment(starts_at=now + timedelta(minutes=30))
    )
    just_made = await schedule.create(
        user, sky.id, NewAppointment(starts_at=now + timedelta(minutes=40))
    )  # scheduled inside both windows: its invitation said it all
    for appointment in (tomorrow, within_hour):
        await _backdate(one, appointment.id)

    two = (await start()).app
    await _rounds(one, two)

    assert box.wait_for(2)
    assert len(box.messages) == 2, box.subjects()
    assert all(to == [YOUNG] for to, _ in box.messages)
    assert all("reminder" in s for s in box.subjects())
    async with one[DATABASE].read() as session:
        rows = list(await session.scalars(sa.select(OutboxMessage)))
    kinds = sorted((r.appointment_id, r.kind, r.channel, r.status) for r in rows)
    assert kinds == sorted(
        (a.id, kind, channel, "sent")
        for a, kind in ((tomorrow, "reminder_24h"), (within_hour, "reminder_1h"))
        for channel in ("email", "sms")
    )
    assert all(r.attempts == 1 for r in rows)
    assert just_made.id not in {r.appointment_id for r in rows}
    assert len(hook.received) == 2
    for body, signature in hook.received:
        assert signature == sign(SECRET, body)
        sent = json.loads(body)
        assert sent["to"] == "07700 900123"  # the young person's number in the plan
        assert "reminder" in sent["text"] and "Sky" not in sent["text"]

    # a restart: a new app on the same database sends nothing again
    three = (await start()).app
    await _rounds(three, two)
    assert len(box.messages) == 2 and len(hook.received) == 2


@pytest.mark.postgres
@pytest.mark.hazard("HZ-30")
async def test_a_text_webhook_answering_500_is_shown_and_tried_again(
    start: Start, hook: TextHook
) -> None:
    pages = await start()
    one = pages.app
    staff = await make_staff(one, "therapist.one")
    user = await therapist_view(one, staff.username)
    sky = await ready_client(one, user)
    await one[INVITATIONS].contacts.save(sky.id, ContactsIn(automatic=True))  # texts only
    appointment = await one[SCHEDULE].create(
        user, sky.id, NewAppointment(starts_at=utcnow() + timedelta(minutes=30))
    )
    await _backdate(one, appointment.id)
    hook.answer = 500
    await one[INVITATIONS].tick()
    assert len(hook.received) == 1
    async with one[DATABASE].read() as session:
        rows = {r.channel: r for r in await session.scalars(sa.select(OutboxMessage))}
    assert rows["email"].status == "skipped" and rows["email"].last_error == "no_address"
    assert (rows["sms"].status, rows["sms"].last_error) == ("pending", "text_service_500")

    await sign_in(pages, staff)
    page = await (await pages.get(f"/sessions/{appointment.id}")).text()
    assert 'data-channel="sms" data-status="pending"' in page
    assert "the text message service" in page and "not sent yet" in page

    hook.answer = 200
    async with one[DATABASE].session() as session:
        await session.execute(sa.update(OutboxMessage).values(due_at=utcnow()))
    await _rounds(one)
    assert len(hook.received) == 2
    async with one[DATABASE].read() as session:
        sms = await session.scalar(sa.select(OutboxMessage).where(OutboxMessage.channel == "sms"))
    assert sms is not None and (sms.status, sms.attempts) == ("sent", 2)


@pytest.mark.postgres
@pytest.mark.hazard("HZ-30")
async def test_the_periodic_jobs_of_two_nodes_send_each_reminder_once(
    aiohttp_client,  # type: ignore[no-untyped-def]
    node_settings: Settings,
    hook: TextHook,
    mailbox: tuple[Mailbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The jobs as they run in a server (``_every``, every 50 ms), on two nodes, then on a
    node started after both stopped: rounds are counted, never waited for by the clock."""
    box, _ = mailbox
    rounds: Counter[int] = Counter()
    turned = asyncio.Condition()
    run = Outbox.run

    async def counted(self: Outbox, deliver: Any) -> int:
        try:
            return await run(self, deliver)
        finally:
            async with turned:
                rounds[id(self)] += 1
                turned.notify_all()

    async def until(done: Callable[[], bool]) -> None:
        async with turned:
            await asyncio.wait_for(turned.wait_for(done), timeout=30)

    monkeypatch.setattr(Outbox, "run", counted)
    fast = node_settings.model_copy(update={"outbox_poll_seconds": 0.05})
    first: TestClient = await aiohttp_client(create_app(fast))
    one = first.app
    staff = await make_staff(one, "therapist.one")
    user = await therapist_view(one, staff.username)
    sky = await ready_client(one, user)
    await one[INVITATIONS].contacts.save(
        sky.id, ContactsIn(young_person_email=YOUNG, automatic=True)
    )
    for hours in (23, 0.5):
        made = await one[SCHEDULE].create(
            user, sky.id, NewAppointment(starts_at=utcnow() + timedelta(hours=hours))
        )
        await _backdate(one, made.id)
    second: TestClient = await aiohttp_client(create_app(fast))
    nodes = [id(app[INVITATIONS].outbox) for app in (one, second.app)]
    await until(lambda: len(box.messages) >= 2 and len(hook.received) >= 2)
    seen = {node: rounds[node] for node in nodes}
    await until(lambda: all(rounds[node] >= seen[node] + 3 for node in nodes))
    assert len(box.messages) == 2 and len(hook.received) == 2

    await first.close()
    await second.close()
    third: TestClient = await aiohttp_client(create_app(fast))
    node = id(third.app[INVITATIONS].outbox)
    await until(lambda: rounds[node] >= 3)
    assert len(box.messages) == 2 and len(hook.received) == 2
