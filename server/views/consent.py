"""Parent/carer consent: the therapist issues a link; the parent/carer answers through it."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from aiohttp import web

from server import i18n
from server.access.accounts import StaffView
from server.access.auth import csrf_exempt, staff_only
from server.appkeys import (
    CATALOGUE,
    CLIENTS,
    CONSENTS,
    DATABASE,
    GATEKEEPER,
    LINKS,
    SESSION_LOG,
    SETTINGS,
)
from server.audit.sessionlog import client_stream, session_stream, staff_actor
from server.care.checklists import Kind
from server.care.consent_form import Faults, read_form, read_withdrawal
from server.exceptions import PlayroomError, TokenError
from server.storage.models import Link, LinkKind, Role
from server.views.common import form, link_base, link_note, qr_data_uri, staff
from server.views.pages import language, render

routes = web.RouteTableDef()


@routes.post("/clients/{id}/consent-link")
@staff_only(Role.THERAPIST)
async def issue_link(request: web.Request) -> web.StreamResponse:
    user = await staff(request)
    base = link_base(request)  # before the link is made: without an address, none is
    client = await request.app[CLIENTS].get(user, request.match_info["id"], write=True)
    issued = await request.app[CONSENTS].issue_link(client.id, user.id)
    url = f"{base}/consent/{issued.token}"
    return await render(
        request,
        "consent_link.html",
        client=client,
        link_url=url,
        qr=qr_data_uri(url),
        link=issued.link,
        link_note=link_note(request.app[SETTINGS]),
    )


@routes.post("/api/clients/{id}/consent-links")
@staff_only(Role.THERAPIST)
async def api_issue_link(request: web.Request) -> web.StreamResponse:
    user = await staff(request)
    base = link_base(request)
    client = await request.app[CLIENTS].get(user, request.match_info["id"], write=True)
    issued = await request.app[CONSENTS].issue_link(client.id, user.id)
    url = f"{base}/consent/{issued.token}"
    return web.json_response(
        {"link_id": issued.link.id, "url": url, "expires_at": issued.link.expires_at.isoformat()},
        status=201,
    )


@routes.post("/links/{id}/revoke")
@staff_only(Role.THERAPIST)
async def revoke_link(request: web.Request) -> web.StreamResponse:
    """Revoke a consent, join or practice link of one of this therapist's clients."""
    user = await staff(request)
    link = await _own_link(request, user)
    await request.app[LINKS].revoke(link.id)
    stream = (
        session_stream(link.appointment_id)
        if link.appointment_id
        else client_stream(link.client_id)
    )
    await request.app[SESSION_LOG].append(
        stream, "link.revoked", staff_actor(user.id), {"link": link.id, "role": link.role}
    )
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"revoked": link.id})
    where = "#practice" if link.kind == LinkKind.PRACTICE else ""
    raise web.HTTPSeeOther(f"/clients/{link.client_id}{where}")


async def _own_link(request: web.Request, user: StaffView) -> Link:
    """The link named in the path, if it belongs to one of ``user``'s clients."""
    async with request.app[DATABASE].session() as session:
        link = await session.get(Link, request.match_info["id"])  # an id: ``pathids``
    if link is None:
        raise PlayroomError("There is no such link.")
    await request.app[CLIENTS].get(user, link.client_id, write=True)  # raises for others
    return link


# -- the parent/carer's page (no account: the link is the capability)


def anchor(field: str) -> str:
    """The id of a form field's input on the consent page (the first of a group of radio
    buttons), so that the list of problems can link to it: ``confirm:confirm.own_device`` ->
    ``confirm-confirm-own-device``."""
    return re.sub(r"[^a-z0-9]+", "-", field.lower()).strip("-")


async def _link(request: web.Request) -> Link:
    return await request.app[LINKS].verify(request.match_info["token"], LinkKind.CONSENT)


async def _language(request: web.Request, link: Link) -> str:
    """The language of the parent's page: theirs, the client's, or their browser's."""
    return language(request, await request.app[CLIENTS].language(link.client_id))


def _chosen(request: web.Request) -> str:
    """The language picked on the page, for the address of the page's other form."""
    lang = i18n.supported(request.query.get("lang"))
    return f"?lang={lang}" if lang else ""


def _today(request: web.Request) -> date:
    """Today in the service's time zone: the date every answer through a link carries."""
    return request.app[GATEKEEPER].today()


async def _page(
    request: web.Request,
    status: int = 200,
    *,
    faults: Faults | None = None,
    withdraw_faults: Faults | None = None,
    values: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    try:
        link = await _link(request)
    except TokenError as exc:
        return await render(
            request, "link_invalid.html", http_status=exc.status, public=True, message=str(exc)
        )
    consents = request.app[CONSENTS]
    history = await consents.history(link.client_id)
    mine = [c for c in history if c.link_id == link.id]
    latest = history[-1] if history else None
    faults = faults or {}
    withdraw_faults = withdraw_faults or {}
    shown = faults or withdraw_faults
    prefix = "w-" if withdraw_faults else ""
    return await render(
        request,
        "consent.html",
        http_status=status,
        public=True,
        client_lang=await request.app[CLIENTS].language(link.client_id),
        form=request.app[CATALOGUE][Kind.CONSENT],
        who=await consents.for_whom(link.client_id),
        service=request.app[SETTINGS].service_name,
        today=_today(request),
        latest=latest,
        answered=bool(mine),
        can_withdraw=bool(mine) and latest is not None and latest.decision == "given",
        withdraw_url=f"/consent/{request.match_info['token']}/withdraw{_chosen(request)}",
        values=values or {},
        faults=faults,
        withdraw_faults=withdraw_faults,
        error_links=[
            (prefix + anchor(field) if field != "form" else "", message)
            for field, message in shown.items()
        ],
        anchor=anchor,
        **extra,
    )


@routes.get("/consent/{token}", name="consent")
async def consent_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@routes.post("/consent/{token}")
@csrf_exempt  # the link is the credential; the session cookie plays no part
async def consent_submit(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    today = _today(request)
    try:
        link = await _link(request)
        lang = await _language(request, link)
        with i18n.using(lang):  # its faults in the parent's words
            data, faults = read_form(values, request.app[CATALOGUE][Kind.CONSENT], today)
        if data is None or faults:
            return await _page(request, 400, faults=faults, values=values)
        await request.app[CONSENTS].record(link, data, today, lang)  # and what they read
    except TokenError:
        return await _page(request)
    except PlayroomError as exc:
        return await _page(request, 400, error=str(exc), values=values)
    return await _page(request, done=data.decision)


@routes.get("/consent/{token}/withdraw")
async def consent_withdraw_page(request: web.Request) -> web.StreamResponse:
    """The address a withdrawal's answer was shown at, opened again (a language chosen on
    that page, or the page reloaded): the consent page, in the language asked for."""
    lang = request.query.get("lang", "")
    query = f"?lang={lang}" if lang in i18n.SUPPORTED else ""
    raise web.HTTPSeeOther(f"/consent/{request.match_info['token']}{query}")


@routes.post("/consent/{token}/withdraw")
@csrf_exempt
async def consent_withdraw(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    try:
        link = await _link(request)
        lang = await _language(request, link)
        with i18n.using(lang):
            data, faults = read_withdrawal(values)
        if data is None:
            return await _page(request, 400, withdraw_faults=faults, values=values)
        await request.app[CONSENTS].withdraw(link, data, _today(request), lang)
    except TokenError:
        return await _page(request)
    except PlayroomError as exc:
        return await _page(request, 400, error=str(exc), values=values)
    return await _page(request, done="withdrawn")
