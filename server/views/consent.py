"""Parent/carer consent: the therapist issues a link; the parent/carer answers through it."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.access.accounts import StaffView
from server.access.auth import csrf_exempt, staff_only
from server.appkeys import CATALOGUE, CLIENTS, CONSENTS, DATABASE, LINKS, SESSION_LOG, SETTINGS
from server.audit.sessionlog import client_stream, session_stream, staff_actor
from server.care.checklists import Kind
from server.care.consent import ConsentIn, WithdrawIn
from server.exceptions import PlayroomError, TokenError
from server.storage.models import Link, LinkKind, Role
from server.views.common import absolute, form, parse, qr_data_uri, staff
from server.views.pages import render

routes = web.RouteTableDef()


@routes.post("/clients/{id}/consent-link")
@staff_only(Role.THERAPIST)
async def issue_link(request: web.Request) -> web.StreamResponse:
    user = await staff(request)
    client = await request.app[CLIENTS].get(user, request.match_info["id"], write=True)
    issued = await request.app[CONSENTS].issue_link(client.id, user.id)
    url = absolute(request, f"/consent/{issued.token}", request.app[SETTINGS].public_url)
    return await render(
        request,
        "consent_link.html",
        client=client,
        link_url=url,
        qr=qr_data_uri(url),
        link=issued.link,
    )


@routes.post("/api/clients/{id}/consent-links")
@staff_only(Role.THERAPIST)
async def api_issue_link(request: web.Request) -> web.StreamResponse:
    user = await staff(request)
    client = await request.app[CLIENTS].get(user, request.match_info["id"], write=True)
    issued = await request.app[CONSENTS].issue_link(client.id, user.id)
    url = absolute(request, f"/consent/{issued.token}", request.app[SETTINGS].public_url)
    return web.json_response(
        {"link_id": issued.link.id, "url": url, "expires_at": issued.link.expires_at.isoformat()},
        status=201,
    )


@routes.post("/links/{id}/revoke")
@staff_only(Role.THERAPIST)
async def revoke_link(request: web.Request) -> web.StreamResponse:
    """Revoke a consent or join link of one of this therapist's clients."""
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
    raise web.HTTPSeeOther(f"/clients/{link.client_id}")


async def _own_link(request: web.Request, user: StaffView) -> Link:
    """The link named in the path, if it belongs to one of ``user``'s clients."""
    async with request.app[DATABASE].session() as session:
        link = await session.get(Link, request.match_info["id"])  # an id: ``pathids``
    if link is None:
        raise PlayroomError("There is no such link.")
    await request.app[CLIENTS].get(user, link.client_id, write=True)  # raises for others
    return link


# -- the parent/carer's page (no account: the link is the capability)


async def _link(request: web.Request) -> Link:
    return await request.app[LINKS].verify(request.match_info["token"], LinkKind.CONSENT)


async def _page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    try:
        link = await _link(request)
    except TokenError as exc:
        return await render(
            request, "link_invalid.html", http_status=exc.status, public=True, message=str(exc)
        )
    history = await request.app[CONSENTS].history(link.client_id)
    mine = [c for c in history if c.link_id == link.id]
    latest = history[-1] if history else None
    return await render(
        request,
        "consent.html",
        http_status=status,
        public=True,
        form=request.app[CATALOGUE][Kind.CONSENT],
        latest=latest,
        answered=bool(mine),
        can_withdraw=bool(mine) and latest is not None and latest.decision == "given",
        withdraw_url=f"/consent/{request.match_info['token']}/withdraw",
        values=extra.pop("values", {}),
        **extra,
    )


@routes.get("/consent/{token}", name="consent")
async def consent_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@routes.post("/consent/{token}")
@csrf_exempt  # the link is the credential; the session cookie plays no part
async def consent_submit(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    try:
        link = await _link(request)
        data = parse(ConsentIn, _consent_data(values))
        await request.app[CONSENTS].record(link, data)
    except TokenError:
        return await _page(request)
    except PlayroomError as exc:
        return await _page(request, 400, error=str(exc), values=values)
    return await _page(request, done=data.decision)


@routes.post("/consent/{token}/withdraw")
@csrf_exempt
async def consent_withdraw(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    try:
        link = await _link(request)
        data = parse(WithdrawIn, {k: values.get(k, "") for k in ("typed_name", "signed_on")})
        await request.app[CONSENTS].withdraw(link, data)
    except TokenError:
        return await _page(request)
    except PlayroomError as exc:
        return await _page(request, 400, error=str(exc), values=values)
    return await _page(request, done="withdrawn")


def _consent_data(values: dict[str, str]) -> dict[str, Any]:
    contacts = []
    for n in (1, 2, 3):
        contact = {
            f: values.get(f"contact{n}_{f}", "").strip() for f in ("name", "relationship", "phone")
        }
        if any(contact.values()):
            contacts.append(contact)
    return {
        "decision": values.get("decision", ""),
        "typed_name": values.get("typed_name", ""),
        "relationship": values.get("relationship", ""),
        "signed_on": values.get("signed_on", ""),
        "contacts": contacts,
        "confirmations": {k[8:]: v for k, v in values.items() if k.startswith("confirm:")},
    }
