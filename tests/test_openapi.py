"""The OpenAPI description of the JSON API is true: it validates as OpenAPI 3.1, names every
route under /api and nothing else, real responses match the shapes it documents, and
schemathesis's generated requests (valid and invalid) get no server error and only the
statuses and bodies it documents.

The schemathesis run is on SQLite only: it sends about 800 requests, and running it again
on PostgreSQL would double the time without reaching any code the other tests here and the
rest of the suite do not already run on both."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import hypothesis
import jsonschema
import pytest
import requests
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import strategies as st
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from server.appkeys import ACCOUNTS, CATALOGUE, CLIENTS
from server.care.checklists import Kind
from server.storage.db import utcnow
from server.storage.models import Role
from server.views.openapi import COOKIE, OPERATIONS, UndescribedRoute, api_routes, document
from tests.conftest import Staff, make_staff, sign_in
from tests.factories import give_consent, safe_answer, safe_answers, soon, therapist_view

EXAMPLES = 50  # generated requests per operation (valid, invalid, at real ids)


def _schema_for(doc: dict[str, Any], method: str, path: str, status: int) -> dict[str, Any]:
    operation = doc["paths"][path][method.lower()]
    assert str(status) in operation["responses"], f"{method} {path}: {status} is not documented"
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    return {**schema, "components": doc["components"]}  # so that its $refs resolve


class Checked:
    """Checks each response against the document and remembers what it saw."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.seen: set[tuple[str, str, int]] = set()

    async def __call__(self, resp: Any, method: str, path: str, expect: int) -> dict[str, Any]:
        body = await resp.json()
        assert resp.status == expect, (method, path, body)
        jsonschema.Draft202012Validator(
            _schema_for(self.doc, method, path, resp.status),
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        ).validate(body)
        self.seen.add((method, path, resp.status))
        return dict(body)


async def test_the_document_is_valid_and_names_every_api_route(
    app: web.Application, client: TestClient
) -> None:
    resp = await client.get("/api/openapi.json")  # public: no sign-in
    assert resp.status == 200
    doc = await resp.json()
    validate(doc)
    described = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert described == set(api_routes(app)) == set(OPERATIONS)
    assert all(p.startswith("/api/") for p in doc["paths"])
    # every body the handlers parse is the model the document names
    for (method, path), route in api_routes(app).items():
        source = _source(route.handler)
        body = OPERATIONS[(method, path)].body
        parsed = "json_body(request, " in source
        assert parsed == (body is not None), f"{method} {path}: request body"
        if body is not None:
            assert f"json_body(request, {body.__name__})" in source, f"{method} {path}"
        schema = doc["paths"][path][method.lower()]
        if method in ("POST", "PUT", "DELETE"):
            assert schema["security"] == [{"staffCookie": [], "csrfToken": []}]


def _source(handler: Callable[..., Any]) -> str:
    return inspect.getsource(inspect.unwrap(handler))


async def test_a_route_the_document_does_not_describe_fails_loudly(
    app: web.Application,
) -> None:
    async def extra(request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    app.router.add_get("/api/undescribed", extra)
    with pytest.raises(UndescribedRoute, match="/api/undescribed"):
        document(app)


async def _supervisor(app: web.Application, client: TestClient, aiohttp_client, therapist: Staff):  # type: ignore[no-untyped-def]
    boss = await make_staff(app, "supervisor.one", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise(boss.username, therapist.username)
    second = await aiohttp_client(client.server)
    return second, await sign_in(second, boss)


def _needing_sign_off(app: web.Application) -> dict[str, dict[str, str]]:
    """Safe suitability answers, but one that a supervisor must sign off."""
    checklist = app[CATALOGUE][Kind.SUITABILITY]
    answers = safe_answers(checklist)
    item = next(i for i in checklist.items() if i.answerable and i.sign_off)
    answers[item.id] = {"answer": item.sign_off[0], "rationale": "Discussed in supervision."}
    return answers


async def test_real_responses_match_the_documented_shapes(
    app: web.Application,
    client: TestClient,
    aiohttp_client,
    therapist: Staff,  # type: ignore[no-untyped-def]
) -> None:
    doc = document(app)
    check = Checked(doc)
    await check(await client.get("/api/me"), "GET", "/api/me", 401)
    token = await sign_in(client, therapist)
    h = {"X-CSRF-Token": token}
    ther = await therapist_view(app, therapist.username)

    await check(await client.get("/api/openapi.json"), "GET", "/api/openapi.json", 200)
    await check(await client.get("/api/me"), "GET", "/api/me", 200)
    kid = await check(
        await client.post(
            "/api/clients", json={"display_name": "Sky", "age_band": "14-15"}, headers=h
        ),
        "POST",
        "/api/clients",
        201,
    )
    await check(await client.post("/api/clients", json=[1], headers=h), "POST", "/api/clients", 400)
    await check(await client.get("/api/clients"), "GET", "/api/clients", 200)
    cid = kid["id"]
    await check(await client.get(f"/api/clients/{cid}"), "GET", "/api/clients/{id}", 200)
    await check(await client.get("/api/clients/" + "0" * 32), "GET", "/api/clients/{id}", 404)
    await check(await client.get(f"/api/clients/{cid}/gate"), "GET", "/api/clients/{id}/gate", 200)
    await check(
        await client.put(
            f"/api/clients/{cid}/levels",
            json={"ithrive": "getting_help", "risk_level": "low", "note": "settled"},
            headers=h,
        ),
        "PUT",
        "/api/clients/{id}/levels",
        200,
    )
    catalogue = app[CATALOGUE]
    saved = await check(
        await client.put(
            f"/api/clients/{cid}/checklists/suitability",
            json={"answers": _needing_sign_off(app)},
            headers=h,
        ),
        "PUT",
        "/api/clients/{id}/checklists/{kind}",
        200,
    )
    await check(
        await client.put(
            f"/api/clients/{cid}/checklists/disconnection-plan",
            json={"answers": safe_answers(catalogue[Kind.DISCONNECTION_PLAN])},
            headers=h,
        ),
        "PUT",
        "/api/clients/{id}/checklists/{kind}",
        200,
    )
    await check(
        await client.post(f"/api/clients/{cid}/consent-links", headers=h),
        "POST",
        "/api/clients/{id}/consent-links",
        201,
    )
    daily = {i.id: safe_answer(i) for i in catalogue[Kind.PRE_SESSION].items() if i.answerable}
    await check(
        await client.put("/api/checks/today", json={"answers": daily}, headers=h),
        "PUT",
        "/api/checks/today",
        200,
    )
    session = await check(
        await client.post(
            f"/api/clients/{cid}/sessions",
            json={"starts_at": soon(), "minutes": 50, "parent_link": True},
            headers=h,
        ),
        "POST",
        "/api/clients/{id}/sessions",
        201,
    )
    sid = session["id"]
    later = (utcnow() + timedelta(days=1)).isoformat()
    series = await check(
        await client.post(
            f"/api/clients/{cid}/series", json={"starts_at": later, "count": 3}, headers=h
        ),
        "POST",
        "/api/clients/{id}/series",
        201,
    )
    await check(
        await client.post(
            f"/api/clients/{cid}/series", json={"starts_at": later, "count": 10_000}, headers=h
        ),
        "POST",
        "/api/clients/{id}/series",
        400,
    )
    second_id = series["sessions"][1]["id"]
    other = await check(
        await client.post(
            "/api/clients", json={"display_name": "Lee", "age_band": "14-15"}, headers=h
        ),
        "POST",
        "/api/clients",
        201,
    )
    group = await check(
        await client.post(
            "/api/groups", json={"name": "Thursday", "members": [cid, other["id"]]}, headers=h
        ),
        "POST",
        "/api/groups",
        201,
    )
    await check(
        await client.post("/api/groups", json={"name": "One", "members": [cid]}, headers=h),
        "POST",
        "/api/groups",
        400,
    )
    await check(await client.get(f"/api/groups/{group['id']}"), "GET", "/api/groups/{id}", 200)
    await check(await client.get("/api/groups/" + "0" * 32), "GET", "/api/groups/{id}", 404)
    await check(
        await client.post(
            f"/api/groups/{group['id']}/sessions", json={"starts_at": later}, headers=h
        ),
        "POST",
        "/api/groups/{id}/sessions",
        201,
    )
    await check(
        await client.post(
            f"/api/sessions/{second_id}/move",
            json={"starts_at": (utcnow() + timedelta(days=9)).isoformat(), "with_rest": True},
            headers=h,
        ),
        "POST",
        "/api/sessions/{id}/move",
        200,
    )
    await check(
        await client.post(
            f"/api/sessions/{second_id}/cancel",
            json={"reason": "Ill", "with_rest": True},
            headers=h,
        ),
        "POST",
        "/api/sessions/{id}/cancel",
        200,
    )
    closed = await check(
        await client.post(f"/api/sessions/{sid}/open", headers=h),
        "POST",
        "/api/sessions/{id}/open",
        409,
    )
    assert closed["error"]["gate"]["status"] != "open"

    second, boss_token = await _supervisor(app, client, aiohttp_client, therapist)
    await check(
        await second.post(
            f"/api/clients/{cid}/sign-offs",
            json={"revision": saved["revision"], "comment": "Fine to go ahead."},
            headers={"X-CSRF-Token": boss_token},
        ),
        "POST",
        "/api/clients/{client}/sign-offs",
        201,
    )
    await give_consent(app, ther, await app[CLIENTS].get(ther, cid))
    await check(
        await client.post(f"/api/sessions/{sid}/open", headers=h),
        "POST",
        "/api/sessions/{id}/open",
        200,
    )
    scenes = f"/api/sessions/{sid}/scenes"
    scene = await check(
        await client.post(scenes, json={"name": "The house"}, headers=h),
        "POST",
        "/api/sessions/{id}/scenes",
        201,
    )
    await check(await client.get(scenes), "GET", "/api/sessions/{id}/scenes", 200)
    await check(
        await client.post(f"{scenes}/{scene['id']}/reopen", headers=h),
        "POST",
        "/api/sessions/{id}/scenes/{scene}/reopen",
        200,
    )
    guests = await check(
        await client.post(
            f"/api/sessions/{sid}/guests",
            json={
                "name": "Sam Rivers",
                "role": "interpreter",
                "young_person_agreed_on": utcnow().date().isoformat(),
            },
            headers=h,
        ),
        "POST",
        "/api/sessions/{id}/guests",
        201,
    )
    await check(
        await client.post(f"/api/sessions/{sid}/guests", json={"name": "Sam"}, headers=h),
        "POST",
        "/api/sessions/{id}/guests",
        400,
    )
    await check(
        await client.post(
            f"/api/sessions/{sid}/guests/{guests['guests'][0]['id']}/withdraw", headers=h
        ),
        "POST",
        "/api/sessions/{id}/guests/{guest}/withdraw",
        200,
    )
    await check(
        await client.post(
            f"/api/sessions/{sid}/after",
            json={"reflection": "Drew a house.", "goals": [{"goal": "Sleep", "progress": 4}]},
            headers=h,
        ),
        "POST",
        "/api/sessions/{id}/after",
        201,
    )
    await check(
        await client.post(f"/api/sessions/{sid}/end", headers=h),
        "POST",
        "/api/sessions/{id}/end",
        200,
    )
    await check(
        await client.get(f"/api/records/{sid}/verify"),
        "GET",
        "/api/records/{session}/verify",
        200,
    )
    successes = {(m, p) for m, p, status in check.seen if status < 300}
    assert successes == set(OPERATIONS), set(OPERATIONS) - successes


async def test_odd_ids_and_far_dates_are_the_callers_mistake(
    client: TestClient, therapist: Staff
) -> None:
    """What schemathesis found: a NUL in an id reached PostgreSQL (a server error), and a
    start near the end of the calendar had no end time."""
    token = await sign_in(client, therapist)
    h = {"X-CSRF-Token": token}
    kid = await (
        await client.post(
            "/api/clients", json={"display_name": "Sky", "age_band": "9-11"}, headers=h
        )
    ).json()
    for path in ("/api/clients/%00", "/api/records/%00/verify", "/clients/%00", "/api/clients/A"):
        assert (await client.get(path)).status == 404, path
    resp = await client.post("/api/sessions/%00/end", headers=h)
    assert resp.status == 404
    for starts in ("9999-12-31T23:59:00+00:00", "9999-12-31T23:59:00-23:00"):
        resp = await client.post(
            f"/api/clients/{kid['id']}/sessions", json={"starts_at": starts}, headers=h
        )
        assert resp.status == 400
        assert "at most two years ahead" in (await resp.json())["error"]["message"]


def _fuzz(
    doc: dict[str, Any], base_url: str, cookie: str, token: str, ids: dict[str, str]
) -> list[str]:
    """Every operation, with generated requests; the failures found, one line each."""
    schema = schemathesis.openapi.from_dict(doc)
    http = requests.Session()
    http.cookies.set(COOKIE, cookie)
    http.headers["X-CSRF-Token"] = token
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        real = {name: ids[name] for name in ids if f"{{{name}}}" in operation.path}
        if "{id}" in operation.path:
            real["id"] = ids["session"] if "/sessions/" in operation.path else ids["client"]
        signed_in = {"headers": {"X-CSRF-Token": token}, "cookies": {COOKIE: cookie}}
        strategies = [
            operation.as_strategy(mode, **signed_in)
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
        ]
        if real:  # a third of the time, a client or session that exists
            strategies.append(operation.as_strategy(path_parameters=real, **signed_in))

        @hypothesis.settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.generate],
        )
        @hypothesis.given(case=st.one_of(strategies))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=base_url, session=http, checks=checks, timeout=10)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # every operation is tried, all reported
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    return failures


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_schemathesis_finds_no_server_error(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    token = await sign_in(client, therapist)
    h = {"X-CSRF-Token": token}
    kid = await (
        await client.post(
            "/api/clients", json={"display_name": "Sky", "age_band": "9-11"}, headers=h
        )
    ).json()
    session = await (
        await client.post(
            f"/api/clients/{kid['id']}/sessions", json={"starts_at": soon()}, headers=h
        )
    ).json()
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE].value
    ids = {"client": kid["id"], "session": session["id"]}
    started = time.monotonic()
    failures = await asyncio.to_thread(
        _fuzz, document(app), str(client.make_url("")), cookie, token, ids
    )
    assert not failures, "\n\n".join(failures)
    assert time.monotonic() - started < 120
