"""What is kept of a session's chat: the session's record and its export show every message
with who wrote it, to whom and when; the subject-access export holds it; the session's log
says that a message was written, by whom and to whom, and neither it nor any line of the
server's own log holds its words; key rotation seals it again."""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, CHATS, DATABASE, EXPORTS, KEYRING, RECORDS, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.crypto.keys import KeyRing, read_key_file
from server.crypto.rotation import rotate
from server.storage.models import Appointment
from tests.client import ProtocolPeer
from tests.conftest import Staff
from tests.factories import join_message
from tests.scenes import Room

SECRET = "my uncle shouts at night"
OPEN = "look at my drawing https://example.org/x"


async def _chatted(aiohttp_client, client: TestClient, room: Room) -> None:  # type: ignore[no-untyped-def]
    """The young person writes privately to the therapist, and to everyone; the therapist
    answers everyone."""
    outsider = await aiohttp_client(client.server)
    young = ProtocolPeer(await outsider.ws_connect("/ws"), media=False)
    await young.send(join_message(room.token))
    joined = await young.expect("joined")
    t = room.therapist
    await t.send({"type": "admit", "participant": joined["you"]["id"]})
    await young.expect("admitted")
    therapist_id = t.opened["you"]["id"]  # type: ignore[attr-defined]
    await young.send({"type": "chat", "text": SECRET, "to": therapist_id})
    await young.send({"type": "chat", "text": OPEN})
    await t.expect("chat", text=OPEN)
    await t.send({"type": "chat", "text": "Lovely colours"})
    await young.expect("chat", text="Lovely colours")
    await young.close()


@pytest.mark.hazard("HZ-26")
async def test_the_log_says_who_wrote_to_whom_and_never_the_words(
    app: web.Application, aiohttp_client, client: TestClient, room: Room, caplog
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    await _chatted(aiohttp_client, client, room)
    entries = await app[SESSION_LOG].entries(session_stream(room.session))
    sent = [e for e in entries if e.kind == "chat.sent"]
    assert [(e.details["role"], e.details["to"]) for e in sent] == [
        ("young_person", "therapist"),
        ("young_person", "everyone"),
        ("therapist", "everyone"),
    ]
    assert sent[0].actor.startswith("young_person:")
    everything = json.dumps([e.details for e in entries])
    for words in (SECRET, OPEN, "Lovely colours"):
        assert words not in everything
        assert words not in caplog.text
        for record in caplog.records:  # the structured fields too, not only the message
            assert words not in json.dumps(record.__dict__, default=str)


@pytest.mark.hazard("HZ-26")
async def test_the_record_and_the_exports_hold_the_chat(
    app: web.Application,
    aiohttp_client,
    client: TestClient,
    room: Room,
    therapist: Staff,
) -> None:  # type: ignore[no-untyped-def]
    await _chatted(aiohttp_client, client, room)
    staff = await app[ACCOUNTS].find(therapist.username)
    record = await app[RECORDS].record(staff, room.session)
    assert [(c.who, c.to, c.private, c.text) for c in record.chat] == [
        (record.client_name, record.therapist_name, True, SECRET),
        (record.client_name, "everyone", False, OPEN),
        (record.therapist_name, "everyone", False, "Lovely colours"),
    ]
    timeline = [line.text for line in record.lines if line.kind == "chat.sent"]
    assert timeline[0] == "The young person wrote in the chat, to the therapist only"
    page = await (await client.get(f"/records/{room.session}")).text()
    assert SECRET in page and "only</strong>" in page
    assert '<a href="https://example.org' not in page  # a link is text, never a link
    exported = await (await client.get(f"/records/{room.session}/export.json")).json()
    assert [c["text"] for c in exported["chat"]] == [SECRET, OPEN, "Lovely colours"]
    assert exported["chat"][0]["private"] is True
    # subject access: the client's whole record holds it, opened
    async with app[DATABASE].read() as session:
        appointment = await session.get(Appointment, room.session)
    assert appointment is not None
    document = await app[EXPORTS].client(appointment.client_id, "system")
    rows = document["tables"]["chat_messages"]
    assert [r["text"] for r in rows] == [SECRET, OPEN, "Lovely colours"]
    assert [r["to_role"] for r in rows] == ["therapist", None, None]


async def test_key_rotation_seals_the_chat_again(
    app: web.Application, aiohttp_client, client: TestClient, room: Room
) -> None:  # type: ignore[no-untyped-def]
    await _chatted(aiohttp_client, client, room)
    path = app[KEYRING].path
    assert path is not None
    report = await rotate(app[DATABASE], KeyRing(read_key_file(path), path))
    assert report.reencrypted["chat_messages.text_enc"] == 3
    said = await app[CHATS].of_session(room.session)
    assert [s.text for s in said] == [SECRET, OPEN, "Lovely colours"]
