"""Invitations, change notices and reminders, read as a real SMTP server (aiosmtpd) got
them: plain text and HTML as alternatives, the calendar file parsed back with icalendar (the
time with the service's TZID, the link, one UID per session), a moved session's new link and
a cancelled event, each in the family's language; a mail server that is down is shown to the
therapist and tried again."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from icalendar import Calendar

from server.appkeys import CATALOGUE, CLIENTS, DATABASE, INVITATIONS, SCHEDULE, SERIES
from server.care.addresses import ContactsIn
from server.care.checklists import Kind
from server.care.clients import Language
from server.care.rhythm import Cancel, Move, NewSeries
from server.care.schedule import NewAppointment
from server.settings import Settings
from server.storage.db import utcnow
from server.storage.mail_models import OutboxMessage
from server.storage.models import Appointment
from tests.conftest import Staff, csrf_from, sign_in
from tests.factories import (
    answer,
    daily_checks,
    give_consent,
    give_supervisor,
    new_client,
    ready_client,
    safe_answers,
    therapist_view,
)
from tests.mailbox import Mailbox, mailbox_fixture, parts  # noqa: F401 - the fixture

PARENT = "pat.parent@example.org"
YOUNG = "sky@example.org"


@pytest.fixture
def settings(settings: Settings, mailbox: tuple[Mailbox, int]) -> Settings:
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": mailbox[1],
            "smtp_timeout_seconds": 2,
            "outbox_poll_seconds": 3600,  # the tests run the job's rounds themselves
            "outbox_retry_seconds": 0.01,
            "service_name": "Riverside CAMHS",
        }
    )


async def _session(app: web.Application, therapist: Staff, join_to: str = "young_person"):  # type: ignore[no-untyped-def]
    user = await therapist_view(app, therapist.username)
    client = await ready_client(app, user, display_name="Skylar Jones")
    await app[INVITATIONS].contacts.save(
        client.id, ContactsIn(parent_email=PARENT, young_person_email=YOUNG, join_to=join_to)
    )
    starts = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    appointment = await app[SCHEDULE].create(
        user, client.id, NewAppointment(starts_at=starts, minutes=50)
    )
    return user, client, appointment


def _event(message):  # type: ignore[no-untyped-def]
    calendar = Calendar.from_ical(parts(message)["text/calendar"])
    events = [c for c in calendar.walk() if c.name == "VEVENT"]
    assert len(events) == 1
    return calendar, events[0]


@pytest.mark.hazard("HZ-30")
async def test_the_invitation_goes_as_text_html_and_a_calendar_file(
    app: web.Application,
    client: TestClient,
    therapist: Staff,
    mailbox: tuple[Mailbox, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    box, _ = mailbox
    _, sky, appointment = await _session(app, therapist)
    csrf = await sign_in(client, therapist)
    resp = await client.post(
        f"/sessions/{appointment.id}/invite", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert resp.status == 303 and "mail=queued" in resp.headers["Location"]
    assert box.messages == []  # nothing is sent from the request: the job sends it
    page = await (await client.get(f"/sessions/{appointment.id}")).text()
    assert "to go " in page and "s•••@example.org" in page and YOUNG not in page

    assert await app[INVITATIONS].tick() == 1
    assert box.wait_for(1)
    to, message = box.messages[0]
    assert to == [YOUNG]
    subject = str(message["Subject"])
    assert "Riverside CAMHS" in subject and "Skylar" not in subject
    starts = appointment.starts_at.astimezone(ZoneInfo("Europe/London"))
    assert starts.strftime("%H:%M") in subject
    assert message.get_content_type() == "multipart/mixed"
    assert any(p.get_content_type() == "multipart/alternative" for p in message.walk())
    found = parts(message)
    link = re.search(r"http://[^\s]+/join/[A-Za-z0-9._-]+", found["text/plain"])
    assert link is not None
    assert link.group(0) in found["text/html"]
    assert "Skylar" not in found["text/plain"] + found["text/html"]
    calendar, event = _event(message)
    assert str(calendar["METHOD"]) == "REQUEST"
    assert event["DTSTART"].params["TZID"] == "Europe/London"
    assert event.decoded("DTSTART") == starts
    assert str(event["UID"]) == f"{appointment.id}@playroom"
    assert str(event["URL"]) == link.group(0)
    assert link.group(0) in str(event["DESCRIPTION"])
    assert any(c.name == "VTIMEZONE" for c in calendar.walk())
    # the link in the message lets the young person in
    joined = await client.get(link.group(0).split(str(client.server.port), 1)[1])
    assert joined.status == 200
    page = await (await client.get(f"/sessions/{appointment.id}")).text()
    assert 'data-status="sent"' in page
    assert await app[INVITATIONS].tick() == 0  # sent once
    # never in a log line of Playroom's (the test's own SMTP server, ``mail.log``, logs it)
    ours = "\n".join(
        r.getMessage() + str(r.__dict__) for r in caplog.records if r.name != "mail.log"
    )
    assert YOUNG not in ours and PARENT not in ours


@pytest.mark.hazard("HZ-31")
async def test_the_invitation_goes_in_the_familys_language(
    app: web.Application, therapist: Staff, mailbox: tuple[Mailbox, int]
) -> None:
    """In the language the therapist set for the client when it is sent: its subject, text,
    HTML (right to left in Arabic) and calendar file; the link and the time as in English."""
    box, _ = mailbox
    user, sky, appointment = await _session(app, therapist)
    await app[CLIENTS].set_language(user, sky.id, Language(language="cy"))
    await app[INVITATIONS].invite(appointment, "http://playroom.test")
    assert await app[INVITATIONS].tick() == 1
    assert box.wait_for(1)
    _, message = box.messages[0]
    starts = appointment.starts_at.astimezone(ZoneInfo("Europe/London"))
    subject = str(message["Subject"])
    assert subject.startswith("Riverside CAMHS: eich sesiwn ar ")  # "your session on"
    assert f"am {starts:%H:%M}" in subject and "Skylar" not in subject
    found = parts(message)
    text, html = found["text/plain"], found["text/html"]
    assert text.startswith("Helo,")
    assert "Dyma eich dolen ar gyfer eich sesiwn ar-lein" in text  # "Here is your link ..."
    assert "Ymunwch yma, o ychydig funudau cyn y dechrau:" in text  # "Join here, ..."
    assert re.search(r"http://playroom\.test/join/[A-Za-z0-9._-]+", text)
    assert '<html lang="cy" dir="ltr">' in html and "Ymuno â'r sesiwn" in html
    for english in ("Hello", "Here is", "Join here", "calendar file", "London time"):
        assert english not in text + subject
    _, event = _event(message)
    assert str(event["SUMMARY"]) == "Sesiwn Riverside CAMHS"
    assert "Ymunwch yma" in str(event["DESCRIPTION"])

    # set to Arabic before it goes again: the next one is in Arabic, right to left
    await app[CLIENTS].set_language(user, sky.id, Language(language="ar"))
    await app[INVITATIONS].invite(appointment, "http://playroom.test")
    assert await app[INVITATIONS].tick() == 1
    assert box.wait_for(2)
    _, again = box.messages[1]
    assert str(again["Subject"]).startswith("Riverside CAMHS: جلستك في ")  # "your session on"
    html = parts(again)["text/html"]
    assert '<html lang="ar" dir="rtl">' in html and "انضم إلى الجلسة" in html  # "Join ..."


@pytest.mark.hazard("HZ-30")
async def test_a_moved_session_gets_a_new_link_and_a_cancelled_one_a_cancelled_event(
    app: web.Application,
    client: TestClient,
    therapist: Staff,
    mailbox: tuple[Mailbox, int],
) -> None:
    box, _ = mailbox
    user, _, appointment = await _session(app, therapist, join_to="parent")
    invitations = app[INVITATIONS]
    await invitations.invite(appointment, "https://playroom.example.org")
    await invitations.tick()
    first = re.search(r"/join/(\S+)", parts(box.messages[0][1])["text/plain"])
    assert first is not None and box.messages[0][0] == [PARENT]
    _, invited = _event(box.messages[0][1])

    # the scheduling code moves the session, then tells the family through the callback
    moved_to = appointment.starts_at + timedelta(days=1, hours=2)
    async with app[DATABASE].session() as session:
        row = await session.get(Appointment, appointment.id)
        assert row is not None
        row.starts_at, row.ends_at = moved_to, moved_to + timedelta(minutes=50)
    await invitations.appointment_changed(appointment.id, "moved")
    assert await invitations.tick() == 1
    _, message = box.messages[1]
    assert "moved" in str(message["Subject"])
    second = re.search(r"/join/(\S+)", parts(message)["text/plain"])
    assert second is not None and second.group(1) != first.group(1)
    _, event = _event(message)
    assert str(event["UID"]) == str(invited["UID"])
    assert event.decoded("DTSTART") == moved_to.astimezone(ZoneInfo("Europe/London"))
    assert int(event["SEQUENCE"]) >= int(invited["SEQUENCE"])
    old = await client.get(f"/join/{first.group(1)}")
    assert "withdrawn" in await old.text()  # the old link no longer works

    await app[SCHEDULE].end(user, appointment.id, "cancelled")
    await invitations.appointment_changed(appointment.id, "cancelled")
    assert await invitations.tick() == 1
    _, message = box.messages[2]
    assert "cancelled" in str(message["Subject"])
    calendar, event = _event(message)
    assert str(calendar["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == str(invited["UID"])
    assert "/join/" not in parts(message)["text/plain"]


async def test_a_session_scheduled_goes_out_only_when_set_to_go_automatically(
    app: web.Application,
    therapist: Staff,
    mailbox: tuple[Mailbox, int],
) -> None:
    box, _ = mailbox
    _, sky, appointment = await _session(app, therapist)
    invitations = app[INVITATIONS]
    await invitations.appointment_changed(appointment.id, "scheduled")
    assert await invitations.tick() == 0
    await invitations.contacts.save(sky.id, ContactsIn(young_person_email=YOUNG, automatic=True))
    invitations.settings = invitations.settings.model_copy(
        update={"public_url": "https://playroom.example.org/"}
    )
    await invitations.appointment_changed(appointment.id, "scheduled")
    assert await invitations.tick() == 1
    assert box.messages[0][0] == [YOUNG]
    assert "https://playroom.example.org/join/" in parts(box.messages[0][1])["text/plain"]


@pytest.mark.hazard("HZ-30")
async def test_a_mail_server_that_is_down_is_shown_and_tried_again(
    app: web.Application,
    client: TestClient,
    therapist: Staff,
    settings: Settings,
    mailbox: tuple[Mailbox, int],
) -> None:
    box, port = mailbox
    _, _, appointment = await _session(app, therapist)
    invitations = app[INVITATIONS]
    invitations.mailer.settings = settings.model_copy(update={"smtp_port": 1})  # nobody there
    await invitations.invite(appointment, "https://playroom.example.org")
    assert await invitations.tick() == 0
    async with app[DATABASE].read() as session:
        row = await session.scalar(sa.select(OutboxMessage))
    assert row is not None
    assert (row.status, row.last_error, row.attempts) == ("pending", "mail_server_down", 1)
    await sign_in(client, therapist)
    page = await (await client.get(f"/sessions/{appointment.id}")).text()
    assert "not sent yet" in page and "the mail server could not be reached" in page
    invitations.mailer.settings = settings  # back up: the next round sends it
    async with app[DATABASE].session() as session:
        await session.execute(sa.update(OutboxMessage).values(due_at=utcnow()))
    assert await invitations.tick() == 1
    assert box.wait_for(1) and len(box.messages) == 1


@pytest.mark.hazard("HZ-30")
async def test_a_series_invites_a_week_before_each_session_not_all_at_once(
    app: web.Application, therapist: Staff, mailbox: tuple[Mailbox, int]
) -> None:
    """Twelve weekly sessions set to go by themselves: the family gets the first week's
    invitation now and each of the others a week before its session; a session moved
    before its invitation went sends no notice of the move (its invitation, when it goes,
    gives the new time), and one cancelled then sends no cancellation."""
    box, _ = mailbox
    user = await therapist_view(app, therapist.username)
    sky = await ready_client(app, user, display_name="Skylar Jones")
    await app[INVITATIONS].contacts.save(
        sky.id, ContactsIn(parent_email=PARENT, join_to="parent", automatic=True)
    )
    starts = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    _, rows = await app[SERIES].schedule_series(
        user, sky.id, NewSeries(starts_at=starts, count=12), "https://playroom.example.org"
    )
    assert await app[INVITATIONS].tick() == 1  # the first only: the others are not due
    assert box.wait_for(1) and len(box.messages) == 1
    async with app[DATABASE].read() as session:
        waiting = list(
            await session.scalars(sa.select(OutboxMessage).where(OutboxMessage.status == "pending"))
        )
    by_session = {r.appointment_id: r for r in waiting}
    assert len(by_session) == 11
    for row in rows[1:]:
        due = by_session[row.id].due_at
        assert abs((row.starts_at - due) - timedelta(days=7)) < timedelta(minutes=1)
    later = rows[5]
    await app[SERIES].move(
        user, later.id, Move(starts_at=later.starts_at + timedelta(days=1)), None
    )
    await app[SERIES].cancel(user, rows[6].id, Cancel(reason="The therapist is away"), None)
    async with app[DATABASE].read() as session:
        kinds = {
            (r.appointment_id, r.kind) for r in await session.scalars(sa.select(OutboxMessage))
        }
    assert (later.id, "invitation") in kinds and (later.id, "moved") not in kinds
    assert not {k for a, k in kinds if a == rows[6].id}  # nothing went, nothing to take back
    assert await app[INVITATIONS].tick() == 0 and len(box.messages) == 1


@pytest.mark.hazard("HZ-30")
async def test_an_invitation_waits_for_consent_without_using_up_its_tries(
    app: web.Application, therapist: Staff, settings: Settings, mailbox: tuple[Mailbox, int]
) -> None:
    """A session scheduled before the parent consents: its invitation waits, shown as
    such, however many rounds pass (it is not a failure of the sending, and is never given
    up on), and goes in the round after consent is given."""
    box, _ = mailbox
    user = await therapist_view(app, therapist.username)
    await give_supervisor(app, user)
    sky = await new_client(app, user, display_name="Skylar Jones")
    catalogue = app[CATALOGUE]
    for kind in (Kind.SUITABILITY, Kind.DISCONNECTION_PLAN):
        await answer(app, user, sky, kind, safe_answers(catalogue[kind]))
    await daily_checks(app, user)  # everything but the parent's consent
    await app[INVITATIONS].contacts.save(sky.id, ContactsIn(parent_email=PARENT, join_to="parent"))
    starts = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    appointment = await app[SCHEDULE].create(user, sky.id, NewAppointment(starts_at=starts))
    invitations = app[INVITATIONS]
    await invitations.invite(appointment, "https://playroom.example.org")
    for _ in range(settings.outbox_max_attempts + 2):  # more rounds than a failure may take
        async with app[DATABASE].session() as session:
            await session.execute(sa.update(OutboxMessage).values(due_at=utcnow()))
        assert await invitations.tick() == 0
    async with app[DATABASE].read() as session:
        row = await session.scalar(sa.select(OutboxMessage))
    assert row is not None
    assert (row.status, row.last_error, row.attempts) == ("pending", "gate_closed", 0)
    await give_consent(app, user, sky)
    async with app[DATABASE].session() as session:
        await session.execute(sa.update(OutboxMessage).values(due_at=utcnow()))
    assert await invitations.tick() == 1
    assert box.wait_for(1) and box.messages[0][0] == [PARENT]


async def test_without_a_mail_server_the_page_offers_the_link_to_copy(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    _, _, appointment = await _session(app, therapist)
    app[INVITATIONS].mailer.settings = app[INVITATIONS].settings.model_copy(
        update={"smtp_host": None}
    )
    csrf = await sign_in(client, therapist)
    page = await (await client.get(f"/sessions/{appointment.id}")).text()
    assert "Copy link" in page and 'id="mail-off"' in page and "Send invitation" not in page
    resp = await client.post(
        f"/sessions/{appointment.id}/invite", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert "cannot_send" in resp.headers["Location"]
    assert csrf_from(page)


@pytest.mark.hazard("HZ-30")
async def test_a_mail_server_that_never_answers_is_given_up_on_and_shown(
    app: web.Application, client: TestClient, therapist: Staff, settings: Settings
) -> None:
    """A server that takes the connection and says nothing: the send gives up after the
    timeout, the page that queued it had answered at once, and the therapist sees why."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # no greeting, ever

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        _, _, appointment = await _session(app, therapist)
        invitations = app[INVITATIONS]
        invitations.mailer.settings = settings.model_copy(
            update={"smtp_port": port, "smtp_timeout_seconds": 0.3}
        )
        csrf = await sign_in(client, therapist)
        resp = await asyncio.wait_for(
            client.post(
                f"/sessions/{appointment.id}/invite",
                data={"csrf_token": csrf},
                allow_redirects=False,
            ),
            timeout=5,
        )
        assert resp.status == 303
        assert await asyncio.wait_for(invitations.tick(), timeout=5) == 0
        page = await (await client.get(f"/sessions/{appointment.id}")).text()
        assert "the mail server did not answer in time" in page
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.hazard("HZ-30")
async def test_sessions_scheduled_and_cancelled_on_the_pages_are_told_to_the_family(
    app: web.Application, client: TestClient, therapist: Staff, mailbox: tuple[Mailbox, int]
) -> None:
    """With the family's e-mail set to go automatically, scheduling a session on the client
    page sends its invitation, and cancelling it on the session page its cancellation."""
    box, _ = mailbox
    user = await therapist_view(app, therapist.username)
    sky = await ready_client(app, user, display_name="Skylar Jones")
    await app[INVITATIONS].contacts.save(
        sky.id, ContactsIn(parent_email=PARENT, join_to="parent", automatic=True)
    )
    csrf = await sign_in(client, therapist)
    starts = (utcnow() + timedelta(days=2)).astimezone(ZoneInfo("Europe/London"))
    resp = await client.post(
        f"/clients/{sky.id}/sessions",
        data={"csrf_token": csrf, "starts_at": starts.strftime("%Y-%m-%dT%H:%M")},
        allow_redirects=False,
    )
    assert resp.status == 303
    session_id = resp.headers["Location"].rsplit("/", 1)[1]
    assert await app[INVITATIONS].tick() == 1
    assert box.messages[0][0] == [PARENT]
    assert "Here is the link for the online session" in parts(box.messages[0][1])["text/plain"]
    resp = await client.post(
        f"/sessions/{session_id}/cancel",
        data={"csrf_token": csrf, "reason": "The therapist is unwell"},
        allow_redirects=False,
    )
    assert resp.status == 303
    assert await app[INVITATIONS].tick() == 1
    assert "cancelled" in str(box.messages[1][1]["Subject"])
    page = await (await client.get(f"/sessions/{session_id}")).text()
    assert page.count('data-status="sent"') == 2
