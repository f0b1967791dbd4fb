"""The agreement read together in the room: the therapist shows it one part at a time on
everyone's screen, only the therapist leads, someone coming in sees the part showing, and the
session's record notes that it was read together."""

from __future__ import annotations

from aiohttp import web

from server.appkeys import ACCOUNTS, CATALOGUE, RECORDS, SESSION_LOG
from server.audit.sessionlog import session_stream
from server.care.checklists import Kind
from tests.conftest import Staff
from tests.scenes import Scene


async def test_the_therapist_reads_the_agreement_with_the_young_person(
    app: web.Application, scene: Scene, therapist: Staff
) -> None:
    parts = len(app[CATALOGUE][Kind.CONTRACT].sections)
    assert parts >= 2
    t, y = scene.therapist, scene.young

    await t.send({"type": "agreement", "section": 0})
    assert (await t.expect("agreement")) == {"v": 1, "type": "agreement", "section": 0, "of": parts}
    assert (await y.expect("agreement"))["section"] == 0

    # only the therapist leads; a part the agreement does not have is named
    await y.send({"type": "agreement", "section": 1})
    assert (await y.expect("error"))["code"] == "refused"
    await t.send({"type": "agreement", "section": parts})
    refused = await t.expect("error")
    assert refused["code"] == "bad_section" and f"has {parts} sections" in refused["message"]

    for section in range(1, parts):
        await t.send({"type": "agreement", "section": section})
        assert (await y.expect("agreement"))["section"] == section
        await t.expect("agreement", section=section)
    await t.send({"type": "agreement", "done": True})
    assert "section" not in await y.expect("agreement")  # off everyone's screen
    assert "section" not in await t.expect("agreement")

    entries = await app[SESSION_LOG].entries(session_stream(scene.session))
    read = [e for e in entries if e.kind == "agreement.read_together"]
    assert len(read) == 1 and read[0].details == {"sections": parts, "of": parts}
    staff = await app[ACCOUNTS].find(therapist.username)
    record = await app[RECORDS].record(staff, scene.session)
    assert any(
        line.text == f"The agreement read together ({parts} of {parts} sections)"
        for line in record.lines
    )


async def test_closing_an_agreement_not_shown_is_refused(scene: Scene) -> None:
    await scene.therapist.send({"type": "agreement", "done": True})
    assert (await scene.therapist.expect("error"))["code"] == "no_agreement"
