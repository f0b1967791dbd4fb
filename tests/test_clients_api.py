"""Clients through the JSON API and the pages: creation, access, answers, escaping."""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.storage.models import Role
from tests.conftest import Staff, make_staff, sign_in

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


async def _post(client: TestClient, token: str, path: str, body: object, method: str = "POST"):  # type: ignore[no-untyped-def]
    return await client.request(method, path, json=body, headers={"X-CSRF-Token": token})


async def test_create_list_and_read_a_client(client: TestClient, therapist: Staff) -> None:
    token = await sign_in(client, therapist)
    resp = await _post(client, token, "/api/clients", {"display_name": "J.B.", "age_band": "12-13"})
    assert resp.status == 201
    created = await resp.json()
    listed = await (await client.get("/api/clients")).json()
    assert [c["display_name"] for c in listed["clients"]] == ["J.B."]
    gate = await (await client.get(f"/api/clients/{created['id']}/gate")).json()
    assert gate["status"] == "blocked" and len(gate["reasons"]) == 4


async def test_bad_client_input_gets_a_clear_error(client: TestClient, therapist: Staff) -> None:
    token = await sign_in(client, therapist)
    for body, message in [
        ({"display_name": "", "age_band": "12-13"}, "display_name"),
        ({"display_name": "A"}, "give either an age band or a date of birth"),
        ({"display_name": "A", "age_band": "12-13", "date_of_birth": "2014-01-01"}, "either"),
        ({"display_name": "A", "age_band": "99"}, "age_band"),
        ({"display_name": "A", "age_band": "12-13", "surname": "Smith"}, "surname"),
    ]:
        resp = await _post(client, token, "/api/clients", body)
        assert resp.status == 400
        assert message in (await resp.json())["error"]["message"]
    resp = await client.post(
        "/api/clients",
        data=b"{not json",
        headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
    )
    assert resp.status == 400 and "not valid JSON" in (await resp.json())["error"]["message"]


async def test_another_therapists_client_is_denied(
    app: web.Application,
    client: TestClient,
    aiohttp_client,
    therapist: Staff,  # type: ignore[no-untyped-def]
) -> None:
    token = await sign_in(client, therapist)
    created = await (
        await _post(client, token, "/api/clients", {"display_name": "Mo", "age_band": "14-15"})
    ).json()
    other = await make_staff(app, "other.therapist")
    second = await aiohttp_client(client.server)
    other_token = await sign_in(second, other)
    for path in (
        f"/api/clients/{created['id']}",
        f"/api/clients/{created['id']}/gate",
        f"/clients/{created['id']}",
    ):
        resp = await second.get(path)
        assert resp.status == 403, path
    resp = await _post(
        second,
        other_token,
        f"/api/clients/{created['id']}/checklists/suitability",
        {"answers": {"therapist.trained": {"answer": "yes"}}},
        "PUT",
    )
    assert resp.status == 403
    # the error frame names its fault with a code a program can act on
    assert (await resp.json())["error"]["code"] == "refused"
    missing = await second.get(f"/api/clients/{'0' * 32}")
    assert missing.status in (403, 404)
    assert (await missing.json())["error"]["code"] in ("refused", "not_found")
    nowhere = await second.get(f"/api/clients/{created['id']}/nothing-here")
    assert nowhere.status == 404 and (await nowhere.json())["error"]["code"] == "not_found"
    assert (await second.get("/api/clients")).status == 200
    assert (await (await second.get("/api/clients")).json())["clients"] == []


async def test_answers_are_validated_and_saved_as_you_go(
    client: TestClient, therapist: Staff
) -> None:
    token = await sign_in(client, therapist)
    created = await (
        await _post(client, token, "/api/clients", {"display_name": "Al", "age_band": "14-15"})
    ).json()
    path = f"/api/clients/{created['id']}/checklists/suitability"
    resp = await _post(
        client, token, path, {"answers": {"therapist.trained": {"answer": "maybe"}}}, "PUT"
    )
    assert resp.status == 400
    assert "'maybe' is not one of the allowed answers" in (await resp.json())["error"]["message"]
    resp = await _post(client, token, path, {"answers": {"no.such.item": {"answer": "yes"}}}, "PUT")
    assert resp.status == 400 and "no such question" in (await resp.json())["error"]["message"]
    resp = await _post(
        client, token, path, {"answers": {"therapist.trained": {"answer": "yes"}}}, "PUT"
    )
    saved = await resp.json()
    assert resp.status == 200 and saved["revision"] == 1
    resp = await _post(
        client, token, path, {"answers": {"therapist.insurance": {"answer": "yes"}}}, "PUT"
    )
    assert (await resp.json())["revision"] == 2
    page = await (await client.get(f"/clients/{created['id']}/checklists/suitability")).text()
    assert 'name="answer:therapist.trained" value="yes" checked' in page
    assert 'name="answer:therapist.insurance" value="yes" checked' in page
    resp = await _post(
        client, token, f"/api/clients/{created['id']}/checklists/pre-join", {"answers": {}}, "PUT"
    )
    assert resp.status == 404


async def test_html_in_every_free_text_field_is_escaped(
    client: TestClient, therapist: Staff
) -> None:
    token = await sign_in(client, therapist)
    created = await (
        await _post(
            client, token, "/api/clients", {"display_name": XSS, "age_band": "14-15", "notes": XSS}
        )
    ).json()
    path = f"/api/clients/{created['id']}/checklists/suitability"
    await _post(
        client,
        token,
        path,
        {"answers": {"client.technology_comfort": {"answer": "unsure", "rationale": XSS}}},
        "PUT",
    )
    await _post(
        client,
        token,
        f"/api/clients/{created['id']}/levels",
        {"ithrive": "getting_help", "risk_level": "low", "note": XSS},
        "PUT",
    )
    for page in (
        f"/clients/{created['id']}",
        "/clients",
        f"/clients/{created['id']}/checklists/suitability",
    ):
        html = await (await client.get(page)).text()
        assert "<script>alert" not in html and "<img src=x" not in html, page
        assert "&lt;script&gt;" in html


async def test_the_pages_show_what_blocks_the_gate(client: TestClient, therapist: Staff) -> None:
    token = await sign_in(client, therapist)
    page = await client.get("/clients/new")
    resp = await client.post(
        "/clients/new",
        data={"display_name": "Kit", "age_band": "9-11", "csrf_token": token},
        allow_redirects=False,
    )
    assert resp.status == 303 and page.status == 200
    html = await (await client.get(resp.headers["Location"])).text()
    assert "Not yet" in html
    for reason in (
        "has not been started",
        "has not given consent",
        "disconnection plan",
        "pre-session checks",
    ):
        assert reason in html


async def test_a_supervisor_reads_but_cannot_change(
    app: web.Application, client: TestClient, aiohttp_client, therapist: Staff
) -> None:  # type: ignore[no-untyped-def]
    from server.appkeys import ACCOUNTS

    token = await sign_in(client, therapist)
    created = await (
        await _post(client, token, "/api/clients", {"display_name": "Bo", "age_band": "14-15"})
    ).json()
    sup = await make_staff(app, "sup", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("sup", therapist.username)
    second = await aiohttp_client(client.server)
    sup_token = await sign_in(second, sup)
    assert (await second.get(f"/api/clients/{created['id']}")).status == 200
    resp = await _post(
        second,
        sup_token,
        f"/api/clients/{created['id']}/checklists/suitability",
        {"answers": {"therapist.trained": {"answer": "yes"}}},
        "PUT",
    )
    assert resp.status == 403


async def test_answers_saved_at_the_same_moment_are_all_kept(
    client: TestClient, therapist: Staff
) -> None:
    """A typed answer is saved as its field loses focus, at the same moment as the next
    answer clicked: saves that cross keep every answer, each under a revision of its own."""
    token = await sign_in(client, therapist)
    created = await (
        await _post(client, token, "/api/clients", {"display_name": "Bo", "age_band": "14-15"})
    ).json()
    path = f"/api/clients/{created['id']}/checklists/suitability"
    items = ("therapist.trained", "therapist.insurance", "therapist.safe_space")
    answers = await asyncio.gather(
        *(_post(client, token, path, {"answers": {i: {"answer": "yes"}}}, "PUT") for i in items)
    )
    revisions = sorted([(await a.json())["revision"] for a in answers])
    assert revisions == [1, 2, 3]
    page = await (await client.get(f"/clients/{created['id']}/checklists/suitability")).text()
    for item in items:
        assert f'name="answer:{item}" value="yes" checked' in page, item
