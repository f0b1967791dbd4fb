"""The reports page after a real session, held through the services as the pages hold it: a
session with an escalation and a young person's rating is never reported as "Escalations 0"
and "No session ratings yet". One young person in a week hides that week, and a figure that
leaves the hidden week out says it is not shown rather than none."""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import ACCOUNTS, ESCALATIONS, OUTCOMES, SCHEDULE
from server.care.schedule import NewAppointment
from server.records.reports import HIDDEN
from server.storage.db import utcnow
from server.storage.models import Role
from tests.conftest import make_staff, sign_in
from tests.factories import ready_client, therapist_view


def _figures(page: str) -> dict[str, str]:
    shown = re.search(r'<dl class="summary" id="figures">(.*?)</dl>', page, re.S)
    assert shown is not None
    return dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", shown[1]))


async def test_a_session_with_an_escalation_and_a_rating_is_not_reported_as_none(
    app: web.Application, aiohttp_client, client: TestClient
) -> None:  # type: ignore[no-untyped-def]
    await make_staff(app, "ther.r")
    sup = await make_staff(app, "sup.r", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("sup.r", "ther.r")
    ther = await therapist_view(app, "ther.r")
    kid = await ready_client(app, ther)
    session = await app[SCHEDULE].create(ther, kid.id, NewAppointment(starts_at=utcnow()))
    await app[SCHEDULE].open_room(ther, session.id)
    await app[ESCALATIONS].raise_concern(ther, session.id, "risk_to_self")
    await app[OUTCOMES].rating(session.id, "p1", 3)
    await app[SCHEDULE].end(ther, session.id)

    browser = await aiohttp_client(client.server)
    await sign_in(browser, sup)
    page = await (await browser.get("/reports")).text()
    figures = _figures(page)
    # one young person this week: the week is hidden, and with it what happened in it
    assert figures["Escalations"] == HIDDEN  # was "0"
    assert "No session ratings yet" not in page
    assert "1 of 12 weeks is left out" in page
    assert "Session ratings in the hidden week are left out" in page
    assert "Goal-based ratings in the hidden week are left out" in page
