"""Building clients whose gate is in a known state, through the real services."""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from aiohttp import web

from server.access.accounts import StaffView
from server.appkeys import (
    ACCOUNTS,
    CATALOGUE,
    CLIENTS,
    CONSENTS,
    DATABASE,
    ESCALATIONS,
    GATEKEEPER,
    LINKS,
)
from server.care.checklists import AnswerKind, Checklist, Item, Kind, load_catalogue
from server.care.clients import AnswersIn, ClientView, NewClient
from server.care.consent import ConsentIn, WithdrawIn
from server.storage.db import utcnow
from server.storage.models import Link, LinkKind, Role

PREFERENCE = ["yes", "not_needed", "not_applicable", "no"]
SAMPLE = {
    AnswerKind.TEXT: "999, then the safeguarding lead",
    AnswerKind.NUMBER: "5",
    AnswerKind.PHONE: "07700 900123",
}


def safe_answer(item: Item) -> str:
    """An answer that needs nothing more: not blocking, no rationale, no sign-off."""
    allowed = item.allowed_answers()
    if allowed is None:
        if item.kind is AnswerKind.NUMBER and item.minimum is not None:
            return str(max(item.minimum, min(5, item.maximum or 5)))
        return SAMPLE[item.kind][: item.max_length]
    if item.id in (
        "client.infant_work",
        "client.across_borders",
        "client.competent_to_consent",
        "risk.external_risk",
        "risk.internal_risk",
    ):
        return "no"
    for option in PREFERENCE + sorted(allowed):
        if option in allowed and option not in item.blocking + item.rationale + item.sign_off:
            return option
    raise AssertionError(f"no safe answer for {item.id}")


@functools.cache
def _pre_join() -> tuple[tuple[str, str], ...]:
    checklist = load_catalogue()[Kind.PRE_JOIN]  # read once: the YAML takes a while to check
    return tuple((item.id, safe_answer(item)) for item in checklist.items() if item.required)


def pre_join_answers() -> dict[str, str]:
    """A young person's answers to the checks before joining, as their page sends them: at
    home, private, nothing else on (a new dict each time, the caller's to change)."""
    return dict(_pre_join())


def join_message(token: str) -> dict[str, Any]:
    """A young person's ``join``, with their answers as their page sends them."""
    return {"type": "join", "token": token, "checks": pre_join_answers()}


def safe_answers(checklist: Checklist) -> dict[str, dict[str, str]]:
    return {
        item.id: {"answer": safe_answer(item), "rationale": ""}
        for item in checklist.items()
        if item.answerable
    }


async def therapist_view(app: web.Application, username: str) -> StaffView:
    return await app[ACCOUNTS].find(username)


async def new_client(app: web.Application, therapist: StaffView, **fields: object) -> ClientView:
    data = {"display_name": "Sky", "age_band": "14-15", **fields}
    return await app[CLIENTS].create(therapist, NewClient.model_validate(data))


async def answer(
    app: web.Application,
    therapist: StaffView,
    client: ClientView,
    kind: Kind,
    answers: dict[str, dict[str, str]],
) -> int:
    saved = await app[CLIENTS].save_answers(
        therapist, client.id, kind, AnswersIn.model_validate({"answers": answers})
    )
    return saved.revision


async def give_consent(app: web.Application, therapist: StaffView, client: ClientView) -> str:
    """A parent/carer consents through a real link; returns the link's token."""
    issued = await app[CONSENTS].issue_link(client.id, therapist.id)
    link = await app[LINKS].verify(issued.token, LinkKind.CONSENT)
    form = app[CATALOGUE][Kind.CONSENT]
    await app[CONSENTS].record(
        link,
        ConsentIn(
            decision="given",
            typed_name="Pat Parent",
            relationship="mum",
            signed_on=utcnow().date(),
            contacts=[{"name": "Pat Parent", "relationship": "mum", "phone": "07700 900456"}],
            confirmations={i.id: "yes" for i in form.items() if i.answerable},
        ),
    )
    return issued.token


async def daily_checks(app: web.Application, therapist: StaffView) -> None:
    checklist = app[CATALOGUE][Kind.PRE_SESSION]
    await app[GATEKEEPER].save_daily(
        therapist, {i.id: safe_answer(i) for i in checklist.items() if i.answerable}
    )


async def withdraw_consent(app: web.Application, client_id: str) -> None:
    """The parent withdraws the consent they last gave, through its own link."""
    consent = (await app[CONSENTS].history(client_id))[-1]
    async with app[DATABASE].session() as session:
        link = await session.get(Link, consent.link_id)
    assert link is not None
    await app[CONSENTS].withdraw(
        link, WithdrawIn(typed_name="Pat Parent", signed_on=utcnow().date())
    )


async def give_supervisor(app: web.Application, therapist: StaffView) -> None:
    """A clinical supervisor on record for the therapist (the gate asks for one), made for
    them unless they have one already."""
    if await app[ESCALATIONS].supervisors_of(therapist.id):
        return
    name = f"{therapist.username}.supervisor"
    await app[ACCOUNTS].create(name, "Supervisor Of Record", Role.SUPERVISOR, "x" * 16)
    await app[ACCOUNTS].supervise(name, therapist.username)


async def ready_client(app: web.Application, therapist: StaffView, **fields: object) -> ClientView:
    """A client whose gate is open: checklist, plan, consent, today's checks, and a
    supervisor on record for the therapist."""
    await give_supervisor(app, therapist)
    client = await new_client(app, therapist, **fields)
    catalogue = app[CATALOGUE]
    await answer(
        app, therapist, client, Kind.SUITABILITY, safe_answers(catalogue[Kind.SUITABILITY])
    )
    await answer(
        app,
        therapist,
        client,
        Kind.DISCONNECTION_PLAN,
        safe_answers(catalogue[Kind.DISCONNECTION_PLAN]),
    )
    await give_consent(app, therapist, client)
    await daily_checks(app, therapist)
    return client


def soon() -> str:
    return (utcnow() + timedelta(minutes=5)).isoformat()
