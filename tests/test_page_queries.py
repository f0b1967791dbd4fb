"""How many queries and transactions the client pages and the gate cost, counted by an engine
event listener: the list's and the sign-off queue's do not grow with the number of clients,
each client page reads each row once, and read-only pages commit nothing. The gates worked
out together are the gates worked out one by one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import event

from server.access.accounts import StaffView
from server.appkeys import ACCOUNTS, CATALOGUE, CLIENTS, CONSENTS, DATABASE, GATEKEEPER, LINKS
from server.care.checklists import Kind
from server.care.clients import ClientView
from server.care.consent import WithdrawIn
from server.care.gate import GateStatus
from server.storage import db as db_module
from server.storage.db import utcnow
from server.storage.models import ChecklistResponse, Client, LinkKind, Role, SignOff, new_id
from server.views import clients as client_views
from tests.conftest import Staff, make_staff, sign_in
from tests.factories import (
    answer,
    give_consent,
    new_client,
    ready_client,
    safe_answers,
    therapist_view,
)


@dataclass
class Counts:
    queries: int = 0
    transactions: int = 0
    commits: int = 0
    statements: list[str] = field(default_factory=list)


@contextmanager
def counting(app: web.Application) -> Iterator[Counts]:
    """Every statement sent, transaction begun and commit made on the app's engine."""
    engine = app[DATABASE].engine.sync_engine
    counts = Counts()

    def query(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        counts.queries += 1
        counts.statements.append(statement)

    def begin(_conn: Any) -> None:
        counts.transactions += 1

    def commit(_conn: Any) -> None:
        counts.commits += 1

    listeners = [("before_cursor_execute", query), ("begin", begin), ("commit", commit)]
    for name, fn in listeners:
        event.listen(engine, name, fn)
    try:
        yield counts
    finally:
        for name, fn in listeners:
            event.remove(engine, name, fn)


async def _get(client: TestClient, app: web.Application, path: str) -> tuple[Counts, str]:
    with counting(app) as counts:
        resp = await client.get(path)
        text = await resp.text()
    assert resp.status == 200, text
    return counts, text


YOUNG_RATIONALE = {
    "client.age_competence": {"answer": "yes", "rationale": "Ten, confident online; parent near."}
}


async def _waiting_for_sign_off(
    app: web.Application, therapist: StaffView, name: str
) -> tuple[ClientView, int]:
    """A client whose gate waits only for a supervisor's sign-off."""
    young = await ready_client(app, therapist, display_name=name, age_band="9-11")
    revision = await answer(app, therapist, young, Kind.SUITABILITY, YOUNG_RATIONALE)
    return young, revision


async def _withdrawn(app: web.Application, therapist: StaffView, name: str) -> ClientView:
    client = await ready_client(app, therapist, display_name=name)
    token = await give_consent(app, therapist, client)  # a second consent, then withdrawn
    link = await app[LINKS].verify(token, LinkKind.CONSENT)
    await app[CONSENTS].withdraw(
        link, WithdrawIn(typed_name="Pat Parent", signed_on=utcnow().date())
    )
    return client


async def _forge_sign_off(app: web.Application, client: ClientView, revision: int) -> None:
    async with app[DATABASE].session() as session:
        response = await session.scalar(
            sa.select(ChecklistResponse).where(
                ChecklistResponse.client_id == client.id,
                ChecklistResponse.checklist_id == app[CATALOGUE][Kind.SUITABILITY].id,
            )
        )
        assert response is not None
        session.add(
            SignOff(
                id=new_id(), client_id=client.id, response_id=response.id, revision=revision,
                supervisor_id=client.named_worker_id, comment_enc=b"x", created_at=utcnow(),
                signature=b"\0" * 64,
            )
        )  # fmt: skip


async def test_the_client_list_costs_the_same_queries_for_3_clients_as_for_12(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    await new_client(app, ther, display_name="Ash")
    await ready_client(app, ther, display_name="Bo")
    await _waiting_for_sign_off(app, ther, "Cy")
    small, text = await _get(client, app, "/clients")
    assert text.count('<td><a href="/clients/') == 3
    # the list, then one query per kind of input to the gate: answers, sign-offs, consent,
    # today's checks (and the signed-in account, read before the handler)
    assert small.queries <= 6, small.statements
    assert small.transactions <= 2
    assert small.commits == 0  # read-only: nothing to commit

    await _withdrawn(app, ther, "Dee")
    for n in range(8):
        await (ready_client if n % 2 else new_client)(app, ther, display_name=f"Kid {n}")
    large, text = await _get(client, app, "/clients")
    assert text.count('<td><a href="/clients/') == 12
    assert (large.queries, large.transactions, large.commits) == (
        small.queries,
        small.transactions,
        small.commits,
    ), large.statements


async def test_the_client_page_and_the_gate_read_each_row_once(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    kid = await _withdrawn(app, ther, "Sky")  # three consents, two levels
    page, text = await _get(client, app, f"/clients/{kid.id}")
    assert "Sky" in text and "withdrawn" in text
    # the account, then the client, its levels, consents, sign-offs, answers, today's checks,
    # its sessions, its practice links and the family's e-mail: each once, in one transaction
    # besides the account's
    assert page.queries <= 10, page.statements
    assert page.transactions <= 2 and page.commits == 0
    tables = [re.search(r"\bFROM (\w+)", s).group(1) for s in page.statements]  # type: ignore[union-attr]
    assert len(tables) == len(set(tables)), tables  # no table read twice
    assert tables.count("consents") == 1

    gate, body = await _get(client, app, f"/api/clients/{kid.id}/gate")
    assert '"consent_withdrawn"' in body
    assert gate.queries <= 6, gate.statements
    assert gate.transactions <= 2 and gate.commits == 0


async def test_the_sign_off_queue_costs_the_same_queries_for_any_team(
    app: web.Application, client: TestClient
) -> None:
    await make_staff(app, "ther")
    await make_staff(app, "other")
    await make_staff(app, "sup", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("sup", "ther")
    await app[ACCOUNTS].supervise("sup", "other")
    ther, other = await therapist_view(app, "ther"), await therapist_view(app, "other")
    sup = await therapist_view(app, "sup")
    first, _ = await _waiting_for_sign_off(app, ther, "Ash")
    with counting(app) as small:
        entries = await app[GATEKEEPER].queue(sup)
    assert [e.client.id for e in entries] == [first.id]
    assert small.queries <= 5 and small.transactions <= 1 and small.commits == 0

    for n in range(3):
        await _waiting_for_sign_off(app, other, f"Kid {n}")
        await ready_client(app, ther, display_name=f"Open {n}")
    with counting(app) as large:
        entries = await app[GATEKEEPER].queue(sup)
    assert len(entries) == 4
    assert (large.queries, large.transactions) == (small.queries, small.transactions)


async def test_gates_worked_out_together_are_the_gates_one_by_one(
    app: web.Application, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clients in every state, of two therapists (one without today's checks), in batches
    small enough that each kind of input takes several queries: nothing leaks between
    clients, batches or therapists."""
    await make_staff(app, "ther")
    await make_staff(app, "other")
    await make_staff(app, "sup", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("sup", "ther")
    await app[ACCOUNTS].supervise("sup", "other")
    ther, other = await therapist_view(app, "ther"), await therapist_view(app, "other")
    sup = await therapist_view(app, "sup")
    fresh = await new_client(app, ther, display_name="Fresh")
    ready = await ready_client(app, ther, display_name="Ready")
    waiting, _ = await _waiting_for_sign_off(app, ther, "Waiting")
    signed, revision = await _waiting_for_sign_off(app, ther, "Signed")
    await app[GATEKEEPER].sign_off(sup, signed.id, revision, "Agreed.")
    forged, revision = await _waiting_for_sign_off(app, ther, "Forged")
    await _forge_sign_off(app, forged, revision)
    withdrawn = await _withdrawn(app, ther, "Withdrawn")
    no_checks = await new_client(app, other, display_name="No checks")  # other has no checks
    for kind in (Kind.SUITABILITY, Kind.DISCONNECTION_PLAN):
        await answer(app, other, no_checks, kind, safe_answers(app[CATALOGUE][kind]))
    await give_consent(app, other, no_checks)
    expected = {
        fresh.id: GateStatus.BLOCKED,
        ready.id: GateStatus.OPEN,
        waiting.id: GateStatus.NEEDS_SIGN_OFF,
        signed.id: GateStatus.OPEN,
        forged.id: GateStatus.NEEDS_SIGN_OFF,
        withdrawn.id: GateStatus.BLOCKED,
        no_checks.id: GateStatus.BLOCKED,
    }
    one_by_one = {i: await app[GATEKEEPER].evaluate(i) for i in expected}
    assert {i: g.status for i, g in one_by_one.items()} == expected
    assert "forged_sign_off" in {r.code for r in one_by_one[forged.id].reasons}
    assert [r.code for r in one_by_one[withdrawn.id].reasons] == ["consent_withdrawn"]
    assert [r.code for r in one_by_one[no_checks.id].reasons] == ["daily_checks_missing"]
    everyone = await app[CLIENTS].list_for(sup)
    monkeypatch.setattr(db_module, "BATCH_SIZE", 2)
    with counting(app) as counts:
        together = await app[GATEKEEPER].evaluate_many(everyone)
    assert together == one_by_one
    assert counts.queries == 4 * 4 - 3  # 7 clients in 4 batches; 2 therapists in 1 batch
    # a therapist's own checks for today, asked for every client, as the session page does
    assert await app[GATEKEEPER].evaluate_many(everyone, therapist_id=ther.id) == {
        i: await app[GATEKEEPER].evaluate(i, therapist_id=ther.id) for i in expected
    }
    queue = await app[GATEKEEPER].queue(sup)
    assert {e.client.id for e in queue} == {waiting.id, forged.id}
    assert all(e.revision == 2 and e.answers["client.age_competence"] for e in queue)
    latest = await app[CONSENTS].latest(withdrawn.id)
    assert latest is not None and latest.decision.value == "withdrawn"
    assert latest == (await app[CONSENTS].history(withdrawn.id))[-1]


async def test_a_read_only_session_refuses_to_write(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    ther = await therapist_view(app, therapist.username)
    kid = await new_client(app, ther)
    with pytest.raises(RuntimeError, match="read-only session"):
        async with app[DATABASE].read() as session:
            row = await session.get(Client, kid.id)
            assert row is not None
            row.age_band = "16-17"
            await session.flush()
    async with app[DATABASE].read() as session:
        row = await session.get(Client, kid.id)
        assert row is not None and row.age_band == "14-15"


async def test_a_long_list_comes_in_pages_and_a_short_one_as_before(
    app: web.Application, client: TestClient, therapist: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sign_in(client, therapist)
    ther = await therapist_view(app, therapist.username)
    for name in ["Gus", "ash", "Fin", "Cy", "Eve", "Bo", "Dee"]:
        await new_client(app, ther, display_name=name)
    names = re.compile(r'<td><a href="/clients/\w+">([^<]+)</a></td>')

    _, text = await _get(client, app, "/clients")  # 7 clients: one page, as it always was
    assert names.findall(text) == ["ash", "Bo", "Cy", "Dee", "Eve", "Fin", "Gus"]
    assert "Page 1" not in text and "?page=" not in text
    assert text.count('class="badge badge-blocked"') == 7

    monkeypatch.setattr(client_views, "PAGE_SIZE", 3)
    _, text = await _get(client, app, "/clients")
    assert names.findall(text) == ["ash", "Bo", "Cy"]
    assert text.count('class="badge badge-blocked"') == 3  # only this page's gates
    assert "Clients 1–3 of 7" in text and "Page 1 of 3" in text
    assert 'href="/clients?page=2" rel="next"' in text and 'rel="prev"' not in text
    _, text = await _get(client, app, "/clients?page=2")
    assert names.findall(text) == ["Dee", "Eve", "Fin"]
    assert 'href="/clients?page=1" rel="prev"' in text
    assert 'href="/clients?page=3" rel="next"' in text
    for path in ("/clients?page=3", "/clients?page=40"):  # past the end: the last page
        _, text = await _get(client, app, path)
        assert names.findall(text) == ["Gus"] and "Clients 7–7 of 7" in text
        assert 'rel="next"' not in text
    for bad in ("0", "-1", "two", "1.5", "9999999", "%C2%B2", ""):
        assert (await client.get(f"/clients?page={bad}")).status == 404
