"""Practice links: the therapist makes one from the client's page; the young person or the
parent opens ``/practice/{token}`` any day before the session, to check their camera and
microphone, read the agreement and see what the room looks like. The page opens no socket
and writes nothing: a log line counts the opening, naming the role only."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from server.access.auth import staff_only
from server.appkeys import CATALOGUE, CLIENTS, PRACTICE, SETTINGS
from server.care.checklists import Kind
from server.care.practice import NeedsConsent
from server.exceptions import NoPublicAddress, TokenError
from server.storage.models import Link, Role
from server.views.common import form, link_base, link_note, qr_data_uri, staff
from server.views.pages import render
from server.views.security import media_page

routes = web.RouteTableDef()
log = logging.getLogger(__name__)


@routes.post("/clients/{id}/practice-links/{role}")
@staff_only(Role.THERAPIST)
async def new_practice_link(request: web.Request) -> web.StreamResponse:
    """Make (or make again) the practice link of one role; the client's page shows it."""
    await form(request)
    link_base(request)  # a link that could not be shown is not made
    client_id = request.match_info["id"]
    await request.app[PRACTICE].issue(await staff(request), client_id, request.match_info["role"])
    raise web.HTTPSeeOther(f"/clients/{client_id}#practice")


def practice_links(request: web.Request, made: list[Link], consent: bool) -> dict[str, Any]:
    """What the client's page shows of its practice links (``made``: the live ones): for each
    role its address and QR code (or why there is none), and whether the young person's may
    be made yet (``consent``: a parent's or carer's consent stands)."""
    try:
        base: str | None = link_base(request)
        problem = None
    except NoPublicAddress as exc:
        base, problem = None, str(exc)
    shown = {}
    for role, entry in request.app[PRACTICE].by_role(made).items():
        url = f"{base}/practice/{entry.token}" if base else None
        shown[role] = {"link": entry.link, "url": url, "qr": qr_data_uri(url) if url else None}
    return {
        "practice": shown,
        "practice_consent": consent,
        "practice_problem": problem,
        "practice_note": link_note(request.app[SETTINGS]),
    }


@routes.get("/practice/{token}", name="practice")
@media_page
async def practice_page(request: web.Request) -> web.StreamResponse:
    """The family's practice page: no room, no therapist, nothing kept; in the family's
    language as the join page is (``?lang=``, the client's, the browser's)."""
    try:
        link = await request.app[PRACTICE].open(request.match_info["token"])
    except NeedsConsent as exc:  # told kindly that it is not working now, never why
        return await render(
            request, "practice.html", http_status=exc.status, public=True, closed=True
        )
    except TokenError as exc:
        return await render(
            request, "link_invalid.html", http_status=exc.status, public=True, message=str(exc)
        )
    client_lang = await request.app[CLIENTS].language(link.client_id)
    # the one trace of a visit: counted in the server's log, by role, never in the database
    log.info("practice link opened", extra={"event": "practice_opened", "role": link.role})
    return await render(
        request,
        "practice.html",
        public=True,
        client_lang=client_lang,
        closed=False,
        role=link.role,
        contract=request.app[CATALOGUE][Kind.CONTRACT],
    )
