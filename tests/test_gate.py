"""The gate evaluator, on real checklists and real storage."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import (
    ACCOUNTS,
    CATALOGUE,
    CLIENTS,
    CONSENTS,
    DATABASE,
    GATEKEEPER,
    KEYRING,
    LINKS,
    SCHEDULE,
    SESSION_LOG,
)
from server.audit.sessionlog import client_stream, session_stream, staff_actor
from server.care.checklists import Kind
from server.care.clients import AnswersIn, Levels
from server.care.consent import WithdrawIn
from server.care.gate import GateStatus, consent_required
from server.care.schedule import NewAppointment
from server.crypto.sealed import seal
from server.exceptions import PlayroomError
from server.storage.db import utcnow
from server.storage.models import (
    ChecklistResponse,
    IThrive,
    LinkKind,
    RiskLevel,
    Role,
    SignOff,
    User,
    new_id,
)
from tests.client import ProtocolPeer
from tests.conftest import make_staff, sign_in
from tests.factories import (
    answer,
    daily_checks,
    give_consent,
    give_supervisor,
    join_message,
    new_client,
    ready_client,
    safe_answers,
    therapist_view,
)
from tests.scenes import join_token, schedule_session


@pytest.fixture
async def ther(app: web.Application, client: TestClient):  # type: ignore[no-untyped-def]
    await make_staff(app, "ther")
    return await therapist_view(app, "ther")


async def test_a_new_client_is_blocked_with_every_reason(app: web.Application, ther) -> None:  # type: ignore[no-untyped-def]
    client = await new_client(app, ther)
    result = await app[GATEKEEPER].evaluate(client.id)
    assert result.status is GateStatus.BLOCKED
    codes = {r.code for r in result.reasons}
    assert codes == {
        "suitability_missing",
        "consent_missing",
        "plan_missing",
        "no_supervisor",  # nobody supervises this therapist yet
        "daily_checks_missing",
    }


async def test_a_fully_prepared_client_is_open(app: web.Application, ther) -> None:  # type: ignore[no-untyped-def]
    client = await ready_client(app, ther)
    result = await app[GATEKEEPER].evaluate(client.id)
    assert result.status is GateStatus.OPEN, result.reasons
    assert result.reasons == ()


async def test_blocking_answer_and_missing_rationale_are_named(app: web.Application, ther) -> None:  # type: ignore[no-untyped-def]
    client = await ready_client(app, ther)
    await answer(
        app,
        ther,
        client,
        Kind.SUITABILITY,
        {
            "risk.live_escalation": {"answer": "no", "rationale": ""},
            "client.technology_comfort": {"answer": "unsure", "rationale": ""},
        },
    )
    result = await app[GATEKEEPER].evaluate(client.id)
    assert result.status is GateStatus.BLOCKED
    by_item = {(r.code, r.item) for r in result.reasons}
    assert ("blocking_answer", "risk.live_escalation") in by_item
    assert ("rationale_missing", "client.technology_comfort") in by_item
    assert ("sign_off", "client.technology_comfort") in by_item


async def test_under_twelve_needs_rationale_and_sign_off_then_opens(
    app: web.Application,
    ther,
    client: TestClient,  # type: ignore[no-untyped-def]
) -> None:
    young = await ready_client(app, ther, display_name="Ash", age_band="9-11")
    result = await app[GATEKEEPER].evaluate(young.id)
    assert result.status is GateStatus.BLOCKED
    assert {r.code for r in result.reasons} == {"rationale_missing", "sign_off"}
    revision = await answer(
        app,
        ther,
        young,
        Kind.SUITABILITY,
        {
            "client.age_competence": {
                "answer": "yes",
                "rationale": "Ten, confident online; parent nearby.",
            }
        },
    )
    result = await app[GATEKEEPER].evaluate(young.id)
    assert result.status is GateStatus.NEEDS_SIGN_OFF
    assert result.sign_off_items == ("client.age_competence",)

    await make_staff(app, "sup", Role.SUPERVISOR)
    sup = await therapist_view(app, "sup")
    with pytest.raises(PlayroomError, match="not on your caseload"):
        await app[GATEKEEPER].sign_off(sup, young.id, revision, "Agreed")  # not yet in the team
    await app[ACCOUNTS].supervise("sup", "ther")
    with pytest.raises(PlayroomError, match="changed since you opened it"):
        await app[GATEKEEPER].sign_off(sup, young.id, revision - 1, "Agreed")  # a stale sign-off
    with pytest.raises(PlayroomError, match="needs a comment"):
        await app[GATEKEEPER].sign_off(sup, young.id, revision, "  ")
    # a sign-off written into the database by hand opens nothing, and is reported
    async with app[DATABASE].session() as session:
        response = await session.scalar(
            sa.select(ChecklistResponse).where(ChecklistResponse.client_id == young.id)
        )
        assert response is not None
        forged = SignOff(
            id=new_id(), client_id=young.id, response_id=response.id, revision=revision,
            supervisor_id=sup.id, comment_enc=b"x", created_at=utcnow(), signature=b"\0" * 64,
        )  # fmt: skip
        session.add(forged)
    result = await app[GATEKEEPER].evaluate(young.id)
    assert result.status is GateStatus.NEEDS_SIGN_OFF
    assert "forged_sign_off" in {r.code for r in result.reasons}
    await app[GATEKEEPER].sign_off(sup, young.id, revision, "Agreed: review in four weeks.")
    assert (await app[GATEKEEPER].evaluate(young.id)).status is GateStatus.OPEN

    # changing an answer afterwards needs a new sign-off
    await answer(
        app,
        ther,
        young,
        Kind.SUITABILITY,
        {"client.age_competence": {"answer": "yes", "rationale": "Ten; parent in the next room."}},
    )
    assert (await app[GATEKEEPER].evaluate(young.id)).status is GateStatus.NEEDS_SIGN_OFF


async def test_infant_work_needs_a_parent_present(app: web.Application, ther) -> None:  # type: ignore[no-untyped-def]
    client = await ready_client(app, ther, age_band="0-1")
    await answer(
        app,
        ther,
        client,
        Kind.SUITABILITY,
        {
            "client.infant_work": {"answer": "yes", "rationale": ""},
            "client.parent_present": {"answer": "no", "rationale": ""},
        },
    )
    reasons = (await app[GATEKEEPER].evaluate(client.id)).reasons
    assert any(r.code == "condition" and r.item == "client.parent_present" for r in reasons)


async def test_internal_risk_needs_a_safety_contract(app: web.Application, ther) -> None:  # type: ignore[no-untyped-def]
    client = await ready_client(app, ther)
    await answer(
        app,
        ther,
        client,
        Kind.SUITABILITY,
        {
            "risk.internal_risk": {
                "answer": "yes",
                "rationale": "Self-harm history; safety plan with CAMHS.",
            },
            "risk.safety_contract": {"answer": "not_needed", "rationale": ""},
        },
    )
    reasons = (await app[GATEKEEPER].evaluate(client.id)).reasons
    assert [r.item for r in reasons if r.code == "condition"] == ["risk.safety_contract"]


async def test_working_across_borders_needs_sign_off(app: web.Application, ther) -> None:  # type: ignore[no-untyped-def]
    client = await ready_client(app, ther)
    await answer(
        app,
        ther,
        client,
        Kind.SUITABILITY,
        {"client.across_borders": {"answer": "yes", "rationale": "Family in Ireland for a term."}},
    )
    result = await app[GATEKEEPER].evaluate(client.id)
    assert result.status is GateStatus.NEEDS_SIGN_OFF
    assert "client.across_borders" in result.sign_off_items


@pytest.mark.hazard("HZ-08")
async def test_a_risk_change_makes_the_checklist_due_for_review(app: web.Application, ther) -> None:  # type: ignore[no-untyped-def]
    client = await ready_client(app, ther)
    await app[CLIENTS].update_levels(
        ther, client.id, Levels(ithrive=IThrive.GETTING_RISK_SUPPORT, risk_level=RiskLevel.HIGH)
    )
    result = await app[GATEKEEPER].evaluate(client.id)
    assert [r.code for r in result.reasons] == ["review_due"]
    await answer(app, ther, client, Kind.SUITABILITY, {})  # nothing changed...
    assert (await app[GATEKEEPER].evaluate(client.id)).status is GateStatus.BLOCKED
    await app[CLIENTS].save_answers(  # ...until the therapist confirms the review
        ther,
        client.id,
        Kind.SUITABILITY,
        AnswersIn(answers={}, reviewed=True),
    )
    assert (await app[GATEKEEPER].evaluate(client.id)).status is GateStatus.OPEN
    history = await app[CLIENTS].level_history(ther, client.id)
    assert [h.risk_level for h in history] == [RiskLevel.HIGH, RiskLevel.NONE]


@pytest.mark.hazard("HZ-08")
async def test_an_old_checklist_must_be_reviewed(app: web.Application, ther) -> None:  # type: ignore[no-untyped-def]
    client = await ready_client(app, ther)
    later = utcnow() + timedelta(days=app[GATEKEEPER].valid_days + 1)
    result = await app[GATEKEEPER].evaluate(client.id, now=later)
    assert "review_due" in {r.code for r in result.reasons}


@pytest.mark.hazard("HZ-03")
async def test_consent_withdrawn_blocks_at_once(app: web.Application, ther) -> None:  # type: ignore[no-untyped-def]
    client = await new_client(app, ther)
    catalogue = app[CATALOGUE]
    await answer(app, ther, client, Kind.SUITABILITY, safe_answers(catalogue[Kind.SUITABILITY]))
    await answer(
        app, ther, client, Kind.DISCONNECTION_PLAN, safe_answers(catalogue[Kind.DISCONNECTION_PLAN])
    )
    await give_supervisor(app, ther)
    await daily_checks(app, ther)
    token = await give_consent(app, ther, client)
    assert (await app[GATEKEEPER].evaluate(client.id)).is_open
    link = await app[LINKS].verify(token, LinkKind.CONSENT)
    await app[CONSENTS].withdraw(
        link, WithdrawIn(typed_name="Pat Parent", signed_on=utcnow().date())
    )
    result = await app[GATEKEEPER].evaluate(client.id)
    assert [r.code for r in result.reasons] == ["consent_withdrawn"]
    assert [c.decision.value for c in await app[CONSENTS].history(client.id)] == [
        "given",
        "withdrawn",
    ]


def test_who_needs_parental_consent() -> None:
    competent = {"client.competent_to_consent": {"answer": "yes"}}
    assert consent_required(None, competent)  # unknown age: ask
    assert consent_required(11, competent)  # under 12: always
    assert consent_required(14, {})  # 12-15 without a competence assessment
    assert not consent_required(14, competent)
    assert not consent_required(16, {})


async def test_a_sixteen_year_old_needs_no_parental_consent(app: web.Application, ther) -> None:  # type: ignore[no-untyped-def]
    client = await new_client(app, ther, age_band="16-17")
    catalogue = app[CATALOGUE]
    await answer(app, ther, client, Kind.SUITABILITY, safe_answers(catalogue[Kind.SUITABILITY]))
    await answer(
        app, ther, client, Kind.DISCONNECTION_PLAN, safe_answers(catalogue[Kind.DISCONNECTION_PLAN])
    )
    await give_supervisor(app, ther)
    await daily_checks(app, ther)
    assert (await app[GATEKEEPER].evaluate(client.id)).is_open


async def test_daily_checks_are_per_therapist_and_a_no_blocks(app: web.Application, ther) -> None:  # type: ignore[no-untyped-def]
    client = await ready_client(app, ther)
    checklist = app[CATALOGUE][Kind.PRE_SESSION]
    blocking = next(i for i in checklist.items() if "no" in i.blocking)
    answers = await app[GATEKEEPER].daily(ther.id)
    assert answers is not None
    await app[GATEKEEPER].save_daily(ther, {**answers, blocking.id: "no"})
    reasons = (await app[GATEKEEPER].evaluate(client.id)).reasons
    assert [(r.code, r.item) for r in reasons] == [("daily_check", blocking.id)]
    with pytest.raises(PlayroomError, match="is not answered"):
        await app[GATEKEEPER].save_daily(ther, {})


async def _signed_off(app: web.Application, ther) -> tuple[str, str, int]:  # type: ignore[no-untyped-def]
    """A client under twelve whose suitability a supervisor signed off: (client, supervisor,
    revision)."""
    young = await ready_client(app, ther, display_name="Ash", age_band="9-11")
    rationale = {"answer": "yes", "rationale": "Ten, confident online; parent nearby."}
    revision = await answer(
        app, ther, young, Kind.SUITABILITY, {"client.age_competence": rationale}
    )
    await make_staff(app, "sup", Role.SUPERVISOR)
    sup = await therapist_view(app, "sup")
    await app[ACCOUNTS].supervise("sup", "ther")
    await app[GATEKEEPER].sign_off(sup, young.id, revision, "Agreed: review in four weeks.")
    assert (await app[GATEKEEPER].evaluate(young.id)).status is GateStatus.OPEN
    return young.id, sup.id, revision


@pytest.mark.hazard("HZ-07")
async def test_a_sign_off_whose_comment_was_changed_is_not_genuine(
    app: web.Application,
    ther,
    client: TestClient,  # type: ignore[no-untyped-def]
) -> None:
    young, _, _ = await _signed_off(app, ther)
    async with app[DATABASE].session() as session:
        row = await session.scalar(sa.select(SignOff).where(SignOff.client_id == young))
        assert row is not None
        # even with the data key: the signature covers the comment
        seal(app[KEYRING], row, "comment_enc", "Agreed: no review needed.")
    result = await app[GATEKEEPER].evaluate(young)
    assert result.status is GateStatus.NEEDS_SIGN_OFF
    assert "forged_sign_off" in {r.code for r in result.reasons}


async def test_a_sign_off_and_the_gate_it_opens_are_logged(
    app: web.Application,
    ther,
    client: TestClient,  # type: ignore[no-untyped-def]
) -> None:
    young, sup, revision = await _signed_off(app, ther)
    async with app[DATABASE].session() as session:
        sign_off = await session.scalar(sa.select(SignOff.id).where(SignOff.client_id == young))
    signed = [e for e in await app[SESSION_LOG].entries(client_stream(young))
              if e.kind == "signoff.recorded"]  # fmt: skip
    assert [(e.actor, e.details) for e in signed] == [
        (staff_actor(sup), {"revision": revision, "sign_off": sign_off})
    ]

    starts = utcnow() + timedelta(minutes=2)
    appointment = await app[SCHEDULE].create(ther, young, NewAppointment(starts_at=starts))
    await app[SCHEDULE].open_room(ther, appointment.id)
    entries = await app[SESSION_LOG].entries(session_stream(appointment.id))
    gate = [(e.kind, e.actor, e.details) for e in entries if e.kind.startswith("gate.")]
    assert gate == [
        ("gate.evaluated", staff_actor(ther.id), {"open": True, "reasons": []}),
        ("gate.signed_off", staff_actor(ther.id), {"items": ["client.age_competence"]}),
    ]


@pytest.mark.hazard("HZ-20")
async def test_a_therapist_without_a_supervisor_opens_no_room_and_sends_no_link(
    app: web.Application, client: TestClient, aiohttp_client
) -> None:  # type: ignore[no-untyped-def]
    """Everything else in place, a therapist with no clinical supervisor on record (or only
    a disabled one) is told so in their own words; no join link is offered and the room
    does not open. Once a supervisor is named, both work."""
    lone = await make_staff(app, "lone")
    csrf = await sign_in(client, lone)
    ther = await therapist_view(app, "lone")
    kid = await new_client(app, ther)
    for kind in (Kind.SUITABILITY, Kind.DISCONNECTION_PLAN):
        await answer(app, ther, kid, kind, safe_answers(app[CATALOGUE][kind]))
    await give_consent(app, ther, kid)
    await daily_checks(app, ther)
    wording = (
        "You have no clinical supervisor on record. Ask your service's administrator to name one."
    )
    result = await app[GATEKEEPER].evaluate(kid.id)
    assert [(r.code, r.message) for r in result.reasons] == [("no_supervisor", wording)]

    made = await schedule_session(client, csrf, kid.id)
    token = join_token(made)
    page = await (await client.get(f"/sessions/{made['id']}")).text()
    assert "No link to send yet" in page and wording.replace("'", "&#39;") in page
    room = await (await client.get(f"/sessions/{made['id']}/room")).text()
    assert "The room cannot open yet" in room and wording.replace("'", "&#39;") in room
    async with client.ws_connect("/ws") as ws:
        await ws.send_json({"v": 1, "type": "open_room", "session": made["id"]})
        reply = await ws.receive_json()
    assert reply["code"] == "gate_closed"
    assert "no_supervisor" in {r["code"] for r in reply["detail"]["reasons"]}
    young = ProtocolPeer(await (await aiohttp_client(client.server)).ws_connect("/ws"))
    await young.send(join_message(token))  # a link sent before: nobody comes in by it
    assert (await young.expect("error"))["code"] == "cannot_start"
    await young.close()

    # a supervisor whose account is disabled is nobody to turn to
    await make_staff(app, "gone.sup", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("gone.sup", "lone")
    async with app[DATABASE].session() as session:
        await session.execute(
            sa.update(User).where(User.id == (await therapist_view(app, "gone.sup")).id)
            .values(disabled=True)
        )  # fmt: skip
    assert "no_supervisor" in {r.code for r in (await app[GATEKEEPER].evaluate(kid.id)).reasons}

    await make_staff(app, "sup", Role.SUPERVISOR)
    await app[ACCOUNTS].supervise("sup", "lone")
    assert (await app[GATEKEEPER].evaluate(kid.id)).is_open
    page = await (await client.get(f"/sessions/{made['id']}")).text()
    assert "No link to send yet" not in page and "/join/" in page
    async with client.ws_connect("/ws") as ws:
        await ws.send_json({"v": 1, "type": "open_room", "session": made["id"]})
        assert (await ws.receive_json())["type"] == "room_opened"
