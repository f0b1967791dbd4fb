"""Scheduling sessions, their join links (copy or QR), opening a room, and the join page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from media import stickers
from server.access import tokens
from server.access.accounts import StaffView
from server.access.auth import staff_only
from server.appkeys import (
    ACCOUNTS,
    BOX,
    CATALOGUE,
    CLIENTS,
    DATABASE,
    GROUPS,
    GUESTS,
    INVITATIONS,
    KEYRING,
    OUTCOMES,
    RECORDS,
    SCHEDULE,
    SERIES,
    SESSION_LOG,
    SETTINGS,
)
from server.audit.sessionlog import session_stream, staff_actor, views_stream
from server.care import plan
from server.care.checklists import Kind
from server.care.clients import ClientView
from server.care.guests import GUEST_ROLES
from server.care.joinlinks import JOIN_ROLES
from server.care.outcomes import AfterSession
from server.care.rhythm import NewSession
from server.care.schedule import for_joining
from server.exceptions import GateClosed, NoPublicAddress, NoRelay, SessionEnded, TokenError
from server.i18n import N_
from server.nodes.relay import RELAY
from server.records.sessions import DEBRIEF_MAX
from server.storage.db import utcnow
from server.storage.models import Appointment, Link, RiskLevel, Role
from server.views.common import (
    form,
    json_body,
    link_base,
    link_note,
    parse,
    qr_data_uri,
    staff,
)
from server.views.pages import render
from server.views.security import media_page

routes = web.RouteTableDef()


def appointment_json(a: Appointment) -> dict[str, Any]:
    return {
        "id": a.id,
        "client_id": a.client_id,
        "group_id": a.group_id,
        "starts_at": a.starts_at.isoformat(),
        "ends_at": a.ends_at.isoformat(),
        "status": a.status,
        "relay_only": a.relay_only,
    }


@routes.get("/sessions/{id}", name="session")
@staff_only(Role.THERAPIST)
async def session_page(request: web.Request) -> web.StreamResponse:
    return await render_session(request)


async def render_session(
    request: web.Request, http_status: int = 200, **extra: Any
) -> web.StreamResponse:
    """The session's page; ``extra`` adds to what it is given (a move or a cancellation sent
    back with its faults, ``views/series.py``)."""
    user = await staff(request)
    schedule = request.app[SCHEDULE]
    appointment = await schedule.get(user, request.match_info["id"])
    if appointment.client_id is None:  # a group's: each member's links and way in
        from server.views.groups import group_session  # it imports this module's neighbours

        return await group_session(request, appointment, http_status, **extra)
    client = await request.app[CLIENTS].get(user, appointment.client_id)
    # the page shows the session's reflection and ratings: a look at its record, logged
    # like every other (``Records.record``)
    await request.app[SESSION_LOG].append(
        views_stream(appointment.id), "record.viewed", staff_actor(user.id), {"page": "session"}
    )
    gate = await schedule.gatekeeper.evaluate(client.id, therapist_id=user.id)
    way_in = for_joining(gate)
    try:
        base: str | None = link_base(request)
        link_problem = None
    except NoPublicAddress as exc:  # the page says why instead of showing a link
        base, link_problem = None, str(exc)
    links = []
    for join in await schedule.join_links(user, appointment.id):
        # a link is offered only while it would let the young person in (no address, no
        # QR code otherwise): consent and the gate come before any contact
        offered = base is not None and way_in.is_open and join.link.revoked_at is None
        url = f"{base}/join/{join.token}" if offered else None
        links.append(
            {
                "link": join.link,
                "url": url,
                "qr": qr_data_uri(url) if url else None,
            }
        )
    guests = []
    for view in await request.app[GUESTS].for_session(user, appointment.id):
        # a guest's link is shown like the others: only with an address to put it at
        url = f"{base}/guest/{view.token}" if base is not None and view.token else None
        guests.append({"view": view, "url": url, "qr": qr_data_uri(url) if url else None})
    series = request.app[SERIES]
    return await render(
        request,
        "session.html",
        http_status=http_status,
        hours=series.hours,
        outside_hours=[line] if (line := series.outside(appointment)) else [],
        rest=await series.rest_of(appointment),
        moved=request.query.get("moved") == "1",
        cancel_reason=series.cancel_reason(appointment),
        guests=guests,
        guest_roles=GUEST_ROLES,
        guest_added=request.query.get("guest") == "1",
        **{"values": {}, "errors": {}, "guest_values": {}, "guest_errors": {}, **extra},
        after=await request.app[OUTCOMES].for_session(user, appointment.id),
        debriefs=await request.app[RECORDS].debriefs_of(user, appointment.id),
        risk_levels=[r.value for r in RiskLevel],
        saved=request.query.get("saved"),
        appointment=appointment,
        client=client,
        links=links,
        link_problem=link_problem,
        link_note=link_note(request.app[SETTINGS]),
        gate=gate,
        way_in=way_in,
        no_relay=str(NoRelay()) if schedule.cannot_relay(appointment) else None,
        error=request.query.get("error"),
        mail=await request.app[INVITATIONS].for_page(appointment),
        mail_notice=request.query.get("mail"),
        earlier=[
            e
            for e in await request.app[BOX].entries(user, client.id)
            if e.appointment_id != appointment.id
        ],
    )


class Debrief(BaseModel):
    """The therapist's debrief after a session, and their flag for the supervisor."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: Annotated[str, Field(max_length=DEBRIEF_MAX)] = ""
    flag: bool = False


@routes.post("/sessions/{id}/after")
@staff_only(Role.THERAPIST)
async def after_session(request: web.Request) -> web.StreamResponse:
    """The form after a session: reflection, up to three goals, risk level, a debrief and a
    flag for the supervisor's attention."""
    values = await form(request)
    goals = [
        {"goal": values.get(f"goal-{n}", ""), "progress": values.get(f"progress-{n}", "")}
        for n in range(1, 4)
        if values.get(f"goal-{n}", "").strip()
    ]
    data = parse(
        AfterSession,
        {
            "reflection": values.get("reflection", ""),
            "goals": goals,
            "risk_level": values.get("risk_level") or None,
        },
    )
    debrief = parse(
        Debrief, {"note": values.get("debrief", ""), "flag": values.get("flag") == "yes"}
    )
    user, session_id = await staff(request), request.match_info["id"]
    if debrief.note or debrief.flag:
        await request.app[RECORDS].debrief(user, session_id, debrief.note, debrief.flag)
    if (
        data.reflection
        or data.goals
        or data.risk_level is not None
        or not (debrief.note or debrief.flag)
    ):  # with nothing at all, the outcomes say what to fill in
        await request.app[OUTCOMES].after_session(user, session_id, data)
    raise web.HTTPSeeOther(f"/sessions/{session_id}?saved=1#after-heading")


@routes.post("/api/sessions/{id}/after")
@staff_only(Role.THERAPIST)
async def api_after_session(request: web.Request) -> web.StreamResponse:
    data = await json_body(request, AfterSession)
    await request.app[OUTCOMES].after_session(await staff(request), request.match_info["id"], data)
    return web.json_response({"saved": True}, status=201)


@routes.post("/flags/{id}/seen")
@staff_only(Role.SUPERVISOR)
async def flag_seen(request: web.Request) -> web.StreamResponse:
    """A supervisor marks a flagged session seen: it leaves their home's list."""
    await form(request)
    await request.app[RECORDS].mark_flag_seen(await staff(request), request.match_info["id"])
    raise web.HTTPSeeOther("/#flagged-heading")


@routes.post("/sessions/{id}/links/{role}")
@staff_only(Role.THERAPIST)
async def new_join_link(request: web.Request) -> web.StreamResponse:
    link_base(request)  # a link that could not be shown is not made
    member = (await request.post()).get("member")  # in a group's session, whose link
    await request.app[SCHEDULE].issue_join_link(
        await staff(request),
        request.match_info["id"],
        request.match_info["role"],
        str(member)[:32] if member else None,
    )
    raise web.HTTPSeeOther(f"/sessions/{request.match_info['id']}")


@routes.post("/sessions/{id}/open")
@staff_only(Role.THERAPIST)
async def open_room(request: web.Request) -> web.StreamResponse:
    try:
        await request.app[SCHEDULE].open_room(await staff(request), request.match_info["id"])
    except GateClosed:
        raise web.HTTPSeeOther(f"/sessions/{request.match_info['id']}?error=gate") from None
    except NoRelay:  # the session page says why
        raise web.HTTPSeeOther(f"/sessions/{request.match_info['id']}") from None
    raise web.HTTPSeeOther(f"/sessions/{request.match_info['id']}")


@routes.post("/sessions/{id}/end")
@staff_only(Role.THERAPIST)
async def end_session(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    user = await staff(request)
    appointment = await request.app[SCHEDULE].get(user, request.match_info["id"])  # theirs
    if values.get("cancel") == "yes":  # a cancellation gives its reason (``views/series.py``)
        raise web.HTTPSeeOther(f"/sessions/{appointment.id}#cancel")
    relay = request.app[RELAY]
    await relay.at_home(appointment.id, "summaries")  # links' quality, before the log is sealed
    await request.app[SCHEDULE].end(user, appointment.id)
    await relay.at_home(appointment.id, "end_room")
    raise web.HTTPSeeOther(f"/sessions/{request.match_info['id']}")


# -- JSON API


@routes.post("/api/clients/{id}/sessions")
@staff_only(Role.THERAPIST)
async def api_schedule(request: web.Request) -> web.StreamResponse:
    data = await json_body(request, NewSession)
    base = link_base(request)  # its links are in the answer: without an address, nothing is made
    user = await staff(request)
    appointment = await request.app[SERIES].schedule_one(
        user, request.match_info["id"], data, base=base
    )
    return web.json_response(await with_links(request, user, appointment, base), status=201)


async def with_links(
    request: web.Request, user: StaffView, appointment: Appointment, base: str
) -> dict[str, Any]:
    """A session as the API gives it, with its live join links."""
    links = await request.app[SCHEDULE].join_links(user, appointment.id)
    body = appointment_json(appointment)
    body["join_links"] = [
        {
            "role": j.link.role,
            "url": f"{base}/join/{j.token}",
            "link_id": j.link.id,
        }
        for j in links
        if j.link.revoked_at is None
    ]
    return body


@routes.post("/api/sessions/{id}/open")
@staff_only(Role.THERAPIST)
async def api_open(request: web.Request) -> web.StreamResponse:
    try:
        appointment = await request.app[SCHEDULE].open_room(
            await staff(request), request.match_info["id"]
        )
    except GateClosed as exc:
        return web.json_response(
            {
                "error": {
                    "status": 409,
                    "code": exc.code,
                    "message": "The gate is not open.",
                    "gate": exc.result.as_dict(),
                }
            },
            status=409,
        )
    return web.json_response(appointment_json(appointment))


@routes.post("/api/sessions/{id}/end")
@staff_only(Role.THERAPIST)
async def api_end(request: web.Request) -> web.StreamResponse:
    await request.app[SCHEDULE].end(await staff(request), request.match_info["id"])
    await request.app[RELAY].at_home(request.match_info["id"], "end_room")
    return web.json_response({"id": request.match_info["id"], "status": "ended"})


# -- the young person's link


@routes.get("/sessions/{id}/room", name="room")
@staff_only(Role.THERAPIST)
@media_page
async def room_page(request: web.Request) -> web.StreamResponse:
    """The therapist's room: it opens over the WebSocket, where the gate is asked again.
    While the gate is closed the room is not shown (no camera starts): the gate's reasons
    are, with a link to put each right, and whoever is waiting, who cannot be let in."""
    user = await staff(request)
    schedule = request.app[SCHEDULE]
    appointment = await schedule.get(user, request.match_info["id"])
    if schedule.cannot_relay(appointment):  # the room would not open: no camera is started
        raise web.HTTPSeeOther(f"/sessions/{appointment.id}")  # the session page says why
    if appointment.client_id is not None:
        client: ClientView | None = await request.app[CLIENTS].get(user, appointment.client_id)
        whom = client.display_name if client else ""
    else:  # a group's: its name, and the gate open once it is open for one member
        client, whom = None, await request.app[GROUPS].name(appointment.group_id or "")
    gate = await schedule.opening_gate(appointment, user.id)
    if not gate.is_open:
        people = [p for p in await schedule.people_here(appointment.id) if p.role in JOIN_ROLES]
        return await render(
            request,
            "room_closed.html",
            appointment=appointment,
            client=client,
            whom=whom,
            members=(
                [] if client else await request.app[GROUPS].ready(user, appointment.group_id or "")
            ),
            gate=gate,
            way_in=for_joining(gate),
            waiting=[p.role for p in people if p.was_waiting],
            in_room=[p.role for p in people if not p.was_waiting],
        )
    return await render(
        request,
        "room.html",
        appointment=appointment,
        client=client,
        whom=whom,
        therapist=user.display_name,
        contract=request.app[CATALOGUE][Kind.CONTRACT],
        first_session=await schedule.is_first(appointment),
        clear_allowed=appointment.board_clear_allowed,  # the room's setting as it was left
    )


@routes.get("/stickers/{name}.svg", name="sticker")
async def sticker(request: web.Request) -> web.StreamResponse:
    """A picture from the built-in library."""
    path = stickers.path_of(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(
        path, headers={"Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=86400"}
    )


@routes.get("/away", name="away")
async def away_page(request: web.Request) -> web.StreamResponse:
    """Where the quick exit goes: a neutral page that says nothing about therapy."""
    return await render(request, "away.html", public=True)


@routes.get("/join/{token}", name="join")
@media_page
async def join_page(request: web.Request) -> web.StreamResponse:
    schedule = request.app[SCHEDULE]
    try:
        link, appointment = await schedule.by_join_token(request.match_info["token"])
    except TokenError as exc:
        return await render(
            request,
            "link_invalid.html",
            http_status=exc.status,
            public=True,
            message=str(exc),
            ended=isinstance(exc, SessionEnded),
        )
    days = schedule.gatekeeper
    zone = days.zone
    client_lang = await request.app[CLIENTS].language(link.client_id)  # in a group, the member's
    if link.id in await schedule.put_out(appointment.id):
        # removed or declined, and not let back: told kindly, asked nothing
        # (``edge/lobby.py`` refuses the socket's ``join`` the same way)
        return await render(
            request, "join_closed.html", public=True, out=True, client_lang=client_lang
        )
    if not (await schedule.joining_gate(link.client_id)).is_open:
        # nothing is asked, and no script runs, before consent and the gate allow the
        # session (``edge/lobby.py`` refuses the socket's ``join`` the same way)
        return await render(
            request,
            "join_closed.html",
            public=True,
            client_lang=client_lang,
            starts=appointment.starts_at.astimezone(zone),
            today=days.today(appointment.starts_at) == days.today(),
        )
    too_early = utcnow() < link.not_before
    return await render(
        request,
        "join.html",
        public=True,
        client_lang=client_lang,
        role=link.role,
        therapist=await _therapist_name(request, appointment.therapist_id),
        first_session=await schedule.is_first(appointment),
        # back in the same session: only the questions asked again (``edge/lobby.py``)
        back=not too_early and await schedule.join_checks(appointment.id, link.id) is not None,
        starts=appointment.starts_at.astimezone(zone),
        opens=link.not_before.astimezone(zone),
        too_early=too_early,
        contract=request.app[CATALOGUE][Kind.CONTRACT],
        prejoin=request.app[CATALOGUE][Kind.PRE_JOIN],
        # whether the board shows this person "Clear board": the therapist's setting when
        # the page opens (a change during the session reaches the page through the board)
        clear_allowed=appointment.board_clear_allowed,
    )


async def _therapist_name(request: web.Request, therapist_id: str) -> str:
    """The therapist's name as the young person and the parent read it on their pages."""
    therapist = await request.app[ACCOUNTS].get(therapist_id)
    return therapist.display_name if therapist is not None else N_("Your therapist")


# how long after their session ends the young person's page may still fetch its plan for after
AFTER_PLAN_MINUTES = 15


@routes.get("/join/{token}/after")
async def after_plan(request: web.Request) -> web.StreamResponse:
    """The plan for after the session, for the young person's ending screen: only with their
    own link, only once the session they were admitted to has ended (and for a few minutes
    after), never stored by the browser and never logged. Anything else is the same 404."""
    none = web.json_response({"plan": ""}, status=404, headers={"Cache-Control": "no-store"})
    try:  # the signature and purpose; the link is withdrawn by now (the session's end)
        claims = tokens.verify(
            request.app[KEYRING],
            request.match_info["token"],
            "join",
            datetime.min.replace(tzinfo=UTC),
        )
    except TokenError:
        return none
    async with request.app[DATABASE].read() as db:
        link = await db.get(Link, claims.link_id)
        appointment = (
            await db.get(Appointment, link.appointment_id) if link and link.appointment_id else None
        )
    now = utcnow()
    if (
        link is None
        or appointment is None
        or link.role != "young_person"
        or claims.role != link.role
        or appointment.status != "ended"
        or link.revoked_at is None
        or now - link.revoked_at > timedelta(minutes=AFTER_PLAN_MINUTES)
    ):
        return none
    entries = await request.app[SESSION_LOG].entries(session_stream(appointment.id))
    ended = next((e.at for e in entries if e.kind == "session.ended"), None)
    # this link's holder was let in (not someone else of a group, nor someone who only waited)
    theirs = {
        e.details.get("participant")
        for e in entries
        if e.kind == "participant.joined" and e.details.get("link") == link.id
    }
    admitted = any(
        e.kind == "participant.admitted" and e.details.get("participant") in theirs for e in entries
    )
    if ended is None or not admitted or link.revoked_at < ended:  # withdrawn before the end
        return none
    answers = await request.app[SCHEDULE].gatekeeper.plan_answers(link.client_id)  # theirs
    return web.json_response(
        {"plan": plan.after_session(answers)}, headers={"Cache-Control": "no-store"}
    )
