"""The family's e-mail addresses on the client's page, and sending by e-mail: a consent link
to the parent or carer, a session's join link to whoever the therapist chose. Pressing send
puts the message in the outbox and comes straight back: the periodic job sends it, and the
session's page shows whether it went."""

from __future__ import annotations

from aiohttp import web

from server.access.auth import staff_only
from server.appkeys import CLIENTS, CONSENTS, INVITATIONS, SCHEDULE
from server.care.addresses import read_contacts
from server.care.schedule import for_joining
from server.exceptions import PlayroomError
from server.storage.models import Role
from server.views.common import form, link_base, staff

routes = web.RouteTableDef()


@routes.post("/clients/{id}/contacts")
@staff_only(Role.THERAPIST)
async def contacts_submit(request: web.Request) -> web.StreamResponse:
    """The addresses and who gets the join link. A refused address keeps nothing and comes
    back to the page naming the field (the address itself is not put in the address bar)."""
    user = await staff(request)
    client = await request.app[CLIENTS].get(user, request.match_info["id"], write=True)
    values = await form(request)
    try:
        data = read_contacts(values)
    except PlayroomError as exc:
        field = "parent" if str(exc).startswith("The parent") else "young"
        raise web.HTTPSeeOther(
            f"/clients/{client.id}?contacts={exc.code}&field={field}#family-email"
        ) from None
    await request.app[INVITATIONS].contacts.save(client.id, data)
    raise web.HTTPSeeOther(f"/clients/{client.id}?contacts=saved#family-email")


@routes.post("/clients/{id}/consent-email")
@staff_only(Role.THERAPIST)
async def consent_email(request: web.Request) -> web.StreamResponse:
    """A new consent link, sent to the parent's or carer's address."""
    user = await staff(request)
    base = link_base(request)  # before the link is made: without an address, none is
    client = await request.app[CLIENTS].get(user, request.match_info["id"], write=True)
    invitations = request.app[INVITATIONS]
    contacts = await invitations.contacts.get(client.id)
    if not contacts.parent_email or not invitations.mailer.configured:
        raise web.HTTPSeeOther(f"/clients/{client.id}?contacts=cannot_send#family-email")
    issued = await request.app[CONSENTS].issue_link(client.id, user.id)
    await invitations.send_consent(client.id, issued.link.id, base)
    raise web.HTTPSeeOther(f"/clients/{client.id}?contacts=consent_queued#family-email")


@routes.post("/sessions/{id}/invite")
@staff_only(Role.THERAPIST)
async def send_invitation(request: web.Request) -> web.StreamResponse:
    """The join link by e-mail to whoever the therapist chose, only once the gate would let
    them in (as the link itself is shown only then)."""
    user = await staff(request)
    base = link_base(request)
    schedule = request.app[SCHEDULE]
    appointment = await schedule.get(user, request.match_info["id"])
    invitations = request.app[INVITATIONS]
    if appointment.client_id is None:  # a group's: each member's link is copied
        raise web.HTTPSeeOther(f"/sessions/{appointment.id}?mail=cannot_send#mail-heading")
    contacts = await invitations.contacts.get(appointment.client_id)
    gate = for_joining(await schedule.gatekeeper.evaluate(appointment.client_id))
    if (
        appointment.status not in ("scheduled", "open")
        or not gate.is_open
        or not contacts.join_address
        or not invitations.mailer.configured
    ):
        raise web.HTTPSeeOther(f"/sessions/{appointment.id}?mail=cannot_send#mail-heading")
    await invitations.invite(appointment, base)
    raise web.HTTPSeeOther(f"/sessions/{appointment.id}?mail=queued#mail-heading")
