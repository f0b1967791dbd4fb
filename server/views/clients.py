"""The therapist's client pages and their JSON API: list, create, levels, checklists, gate."""

from __future__ import annotations

import math
import re
from typing import Any

from aiohttp import web

from server import i18n
from server.access.auth import staff_only
from server.appkeys import (
    CATALOGUE,
    CLIENTS,
    CONSENTS,
    DATABASE,
    GATEKEEPER,
    INVITATIONS,
    PRACTICE,
    SERIES,
    SETTINGS,
    SIGN_OFF_REQUESTS,
)
from server.care.checklists import Checklist, Kind
from server.care.clients import AnswersIn, ClientView, Language, Levels, NewClient
from server.care.gate import GateResult
from server.care.rules import needs_rationale, sentences
from server.care.signoffs import pending
from server.exceptions import NotFound, PlayroomError
from server.storage.models import ConsentDecision, IThrive, Link, RiskLevel, Role
from server.views.common import form, json_body, parse, staff
from server.views.pages import render
from server.views.practice import practice_links

routes = web.RouteTableDef()
PER_CLIENT = {"suitability": Kind.SUITABILITY, "disconnection-plan": Kind.DISCONNECTION_PLAN}
# clients per page of the list (each page evaluates its clients' gates); a caseload this
# size or smaller is one page, shown as it always was
PAGE_SIZE = 100


def client_json(client: ClientView) -> dict[str, Any]:
    return {
        "id": client.id,
        "display_name": client.display_name,
        "age_band": client.age_band,
        "date_of_birth": client.date_of_birth.isoformat() if client.date_of_birth else None,
        "ithrive": client.ithrive,
        "risk_level": client.risk_level,
        "risk_changed_at": client.risk_changed_at.isoformat(),
        "language": client.language,
    }


def _kind(request: web.Request) -> Kind:
    kind = PER_CLIENT.get(request.match_info["kind"])
    if kind is None:
        raise NotFound("There is no such checklist.")
    return kind


# -- pages


@routes.get("/clients", name="clients")
@staff_only(Role.THERAPIST, Role.SUPERVISOR)
async def client_list(request: web.Request) -> web.StreamResponse:
    user = await staff(request)
    async with request.app[DATABASE].read() as session:
        everyone = await request.app[CLIENTS].list_for(user, session)
        pages = max(1, math.ceil(len(everyone) / PAGE_SIZE))
        page = min(_page_number(request), pages)
        clients = everyone[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        gates = await request.app[GATEKEEPER].evaluate_many(clients, session=session)
    return await render(
        request,
        "clients.html",
        clients=clients,
        gates=gates,
        page=page,
        pages=pages,
        first=(page - 1) * PAGE_SIZE + 1,
        total=len(everyone),
    )


def _page_number(request: web.Request) -> int:
    """The page asked for (1 when none): a positive whole number, or there is no such page.
    One past the end shows the last page (the list may have shrunk since the link)."""
    value = request.query.get("page", "1")
    if not re.fullmatch(r"[0-9]{1,6}", value) or int(value) < 1:
        raise NotFound("There is no such page.")
    return int(value)


@routes.get("/clients/new", name="client_new")
@staff_only(Role.THERAPIST)
async def client_new(request: web.Request) -> web.StreamResponse:
    return await render(request, "client_new.html", values={}, error=None)


@routes.post("/clients/new")
@staff_only(Role.THERAPIST)
async def client_create(request: web.Request) -> web.StreamResponse:
    values = await form(request)
    data = {k: v for k, v in values.items() if v != ""}
    try:
        client = await request.app[CLIENTS].create(await staff(request), parse(NewClient, data))
    except PlayroomError as exc:
        return await render(
            request, "client_new.html", http_status=400, values=values, error=str(exc)
        )
    raise web.HTTPSeeOther(f"/clients/{client.id}")


@routes.get("/clients/{id}", name="client")
@staff_only(Role.THERAPIST, Role.SUPERVISOR)
async def client_page(request: web.Request) -> web.StreamResponse:
    return await render_client(request)


async def render_client(
    request: web.Request, http_status: int = 200, **extra: Any
) -> web.StreamResponse:
    """The client's page; ``extra`` adds to what it is given (a form sent back with its
    faults, ``views/series.py``)."""
    user = await staff(request)
    app = request.app
    async with app[DATABASE].read() as session:  # one read of each row for the whole page
        overview = await app[GATEKEEPER].overview(user, request.match_info["id"], session)
        # the sessions, with their series, cancellations and reasons, for staff
        lines = await app[SERIES].lines(overview.client.id, session)
        practising: list[Link] = []
        if user.role is Role.THERAPIST:
            practising = await app[PRACTICE].live_links(overview.client.id, session)
        contacts = await app[INVITATIONS].contacts.get(overview.client.id, session)
        step = None  # where a sign-off the gate waits for stands: asked for, or sent back
        if pending(overview.gate):
            steps = await app[SIGN_OFF_REQUESTS].current([overview.client.id], session)
            step = steps.get(overview.client.id)
    practice: dict[str, Any] = {}
    if user.role is Role.THERAPIST:  # the young person's link waits for consent
        consent = (
            bool(overview.consents) and overview.consents[-1].decision is ConsentDecision.GIVEN
        )
        practice = practice_links(request, practising, consent)
    return await render(
        request,
        "client.html",
        http_status=http_status,
        client=overview.client,
        gate=overview.gate,
        levels=overview.levels,
        consents=overview.consents,
        sign_offs=overview.sign_offs,
        sign_off_step=step,
        sign_off_notice=request.query.get("sign_off"),
        lines=lines,
        scheduled=int(n) if (n := request.query.get("scheduled", "")).isdigit() else None,
        outside_hours=[line for line in lines if app[SERIES].outside(line.appointment)],
        hours=app[SERIES].hours,
        ithrive=list(IThrive),
        risks=list(RiskLevel),
        new_link=request.query.get("consent_link"),
        catalogue=app[CATALOGUE],
        today=app[GATEKEEPER].today(),
        settings=app[SETTINGS],
        contacts=contacts,
        mail_configured=app[INVITATIONS].mailer.configured,
        contacts_notice=request.query.get("contacts"),
        contacts_field=request.query.get("field"),
        languages=i18n.Page(i18n.DEFAULT).choices,
        **practice,
        **{"values": {}, "errors": {}, **extra},
    )


@routes.post("/clients/{id}/language")
@staff_only(Role.THERAPIST)
async def language_submit(request: web.Request) -> web.StreamResponse:
    """The therapist sets the language of the client's family pages (none: the browser's)."""
    user = await staff(request)
    language = parse(Language, await form(request))
    await request.app[CLIENTS].set_language(user, request.match_info["id"], language)
    raise web.HTTPSeeOther(f"/clients/{request.match_info['id']}#language")


@routes.post("/clients/{id}/levels")
@staff_only(Role.THERAPIST)
async def levels_submit(request: web.Request) -> web.StreamResponse:
    user = await staff(request)
    levels = parse(Levels, await form(request))
    await request.app[CLIENTS].update_levels(user, request.match_info["id"], levels)
    raise web.HTTPSeeOther(f"/clients/{request.match_info['id']}#levels")


@routes.get("/clients/{id}/checklists/{kind}", name="checklist")
@staff_only(Role.THERAPIST, Role.SUPERVISOR)
async def checklist_page(request: web.Request) -> web.StreamResponse:
    return await _checklist_page(request, error=None, status=200)


async def _checklist_page(
    request: web.Request, error: str | None, status: int, submitted: dict[str, str] | None = None
) -> web.Response:
    user = await staff(request)
    kind = _kind(request)
    app = request.app
    client = await app[CLIENTS].get(user, request.match_info["id"])
    response = await app[CLIENTS].answers(user, client.id, kind)
    answers = response.answers if response else {}
    if submitted:
        answers = {**answers, **_answers_from_form(submitted)}
    checklist = app[CATALOGUE][kind]
    age = client.age(app[GATEKEEPER].today())
    gate = await app[GATEKEEPER].evaluate(client.id)
    consent = await app[CONSENTS].latest(client.id) if kind is Kind.DISCONNECTION_PLAN else None
    return await render(
        request,
        "checklist.html",
        http_status=status,
        client=client,
        checklist=checklist,
        slug=request.match_info["kind"],
        answers=answers,
        response=response,
        readonly=user.role is not Role.THERAPIST,
        gate=gate,
        missing=missing(gate, checklist, client.id),
        asks={item.id: sentences(item, checklist, age) for item in checklist.items()},
        rationale_for={i.id for i in checklist.items() if needs_rationale(i, checklist, age)},
        consent=consent if consent and consent.decision is ConsentDecision.GIVEN else None,
        error=error,
    )


def missing(gate: GateResult, checklist: Checklist, client_id: str) -> list[tuple[str, str]]:
    """Each of the gate's reasons with where it is put right: on this page, the question it
    names; elsewhere, the page that does it."""
    first = next((i.id for i in checklist.items() if i.answerable), "")
    here = {Kind.SUITABILITY: "suitability_missing", Kind.DISCONNECTION_PLAN: "plan_missing"}
    links = []
    for reason in gate.reasons:
        if reason.item and checklist.item(reason.item):
            href = f"#{reason.item}"
        elif reason.item:
            slug = "disconnection-plan" if reason.item.startswith("plan.") else "suitability"
            href = f"/clients/{client_id}/checklists/{slug}#{reason.item}"
        elif reason.code == here.get(checklist.kind):
            href = f"#{first}"
        elif reason.code == "review_due" and checklist.kind is Kind.SUITABILITY:
            href = "#reviewed"
        elif reason.code in ("suitability_missing", "review_due"):
            href = f"/clients/{client_id}/checklists/suitability"
        elif reason.code == "plan_missing":
            href = f"/clients/{client_id}/checklists/disconnection-plan"
        elif reason.code.startswith("daily"):
            href = "/checks/today"
        elif reason.code.startswith("consent"):
            href = f"/clients/{client_id}#consent"
        else:
            href = f"/clients/{client_id}#gate"
        links.append((reason.message, href))
    return links


def _answers_from_form(values: dict[str, str]) -> dict[str, dict[str, str]]:
    answers: dict[str, dict[str, str]] = {}
    for key, value in values.items():
        if key.startswith("answer:"):
            answers.setdefault(key[7:], {})["answer"] = value
        elif key.startswith("rationale:"):
            answers.setdefault(key[10:], {})["rationale"] = value
    return answers


@routes.post("/clients/{id}/checklists/{kind}")
@staff_only(Role.THERAPIST)
async def checklist_submit(request: web.Request) -> web.StreamResponse:
    """The whole form at once (the page also saves each answer as it changes)."""
    values = await form(request)
    data = {"answers": _answers_from_form(values), "reviewed": values.get("reviewed") == "yes"}
    try:
        await request.app[CLIENTS].save_answers(
            await staff(request), request.match_info["id"], _kind(request), parse(AnswersIn, data)
        )
    except PlayroomError as exc:
        return await _checklist_page(request, str(exc), 400, values)
    raise web.HTTPSeeOther(f"/clients/{request.match_info['id']}#gate")


# -- JSON API


@routes.get("/api/clients", name="api_clients")
@staff_only(Role.THERAPIST, Role.SUPERVISOR)
async def api_clients(request: web.Request) -> web.StreamResponse:
    clients = await request.app[CLIENTS].list_for(await staff(request))
    return web.json_response({"clients": [client_json(c) for c in clients]})


@routes.post("/api/clients")
@staff_only(Role.THERAPIST)
async def api_create(request: web.Request) -> web.StreamResponse:
    data = await json_body(request, NewClient)
    client = await request.app[CLIENTS].create(await staff(request), data)
    return web.json_response(client_json(client), status=201)


@routes.get("/api/clients/{id}", name="api_client")
@staff_only(Role.THERAPIST, Role.SUPERVISOR)
async def api_client(request: web.Request) -> web.StreamResponse:
    client = await request.app[CLIENTS].get(await staff(request), request.match_info["id"])
    return web.json_response(client_json(client))


@routes.get("/api/clients/{id}/gate", name="api_gate")
@staff_only(Role.THERAPIST, Role.SUPERVISOR)
async def api_gate(request: web.Request) -> web.StreamResponse:
    user = await staff(request)
    result = await request.app[GATEKEEPER].evaluate_for(user, request.match_info["id"])
    return web.json_response(result.as_dict())


@routes.put("/api/clients/{id}/levels")
@staff_only(Role.THERAPIST)
async def api_levels(request: web.Request) -> web.StreamResponse:
    levels = await json_body(request, Levels)
    client = await request.app[CLIENTS].update_levels(
        await staff(request), request.match_info["id"], levels
    )
    return web.json_response(client_json(client))


@routes.put("/api/clients/{id}/checklists/{kind}")
@staff_only(Role.THERAPIST)
async def api_answers(request: web.Request) -> web.StreamResponse:
    data = await json_body(request, AnswersIn)
    user = await staff(request)
    response = await request.app[CLIENTS].save_answers(
        user, request.match_info["id"], _kind(request), data
    )
    gate = await request.app[GATEKEEPER].evaluate(request.match_info["id"])
    return web.json_response(
        {
            "revision": response.revision,
            "saved_at": response.updated_at.isoformat(),
            "gate": gate.as_dict(),
        }
    )
