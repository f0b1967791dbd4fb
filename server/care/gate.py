"""The gate: one pure evaluator that decides whether a client's session may start.

It turns the suitability checklist answers, consent, the disconnection plan, the age of
the answers, whether the therapist has a supervisor, and the therapist's checks for the day
into ``open``, ``blocked`` (with every reason) or ``needs_sign_off``. No I/O here:
``gate_service.py`` gathers the inputs, and the pages, the API and the signalling WebSocket
all ask it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from server.care.checklists import AnswerKind, Checklist, Item, Requirement, When
from server.storage.models import ConsentDecision

AGE_BANDS = {
    "0-1": 0,
    "2-4": 2,
    "5-8": 5,
    "9-11": 9,
    "12-13": 12,
    "14-15": 14,
    "16-17": 16,
    "18-25": 18,
}
CONSENT_AGE = 16  # under this, a parent/carer consents unless competence is recorded
COMPETENCE_AGE = 12  # under this, a parent/carer always consents
COMPETENCE_ITEM = "client.competent_to_consent"

Answers = dict[str, dict[str, str]]  # item id -> {"answer": ..., "rationale": ...}


class GateStatus(enum.StrEnum):
    OPEN = "open"
    BLOCKED = "blocked"
    NEEDS_SIGN_OFF = "needs_sign_off"


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    item: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "item": self.item}


@dataclass(frozen=True)
class GateResult:
    status: GateStatus
    reasons: tuple[Reason, ...] = ()
    sign_off_items: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.status is GateStatus.OPEN

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "reasons": [r.as_dict() for r in self.reasons],
            "sign_off_items": list(self.sign_off_items),
        }


@dataclass
class GateInput:
    """Everything the gate looks at, gathered beforehand."""

    now: datetime
    valid_days: int
    age: int | None
    risk_changed_at: datetime
    suitability: Checklist
    answers: Answers | None
    reviewed_at: datetime | None
    revision: int | None
    signed_off_revision: int | None
    consent: ConsentDecision | None
    plan: Checklist
    plan_answers: Answers | None
    daily: Checklist
    daily_answers: dict[str, str] | None
    reasons: list[Reason] = field(default_factory=list)
    forged_sign_offs: int = 0  # rows without the server's signature: ignored, and said so
    # the therapist has a clinical supervisor on record (an enabled supervisor account):
    # closed unless the caller found one
    supervised: bool = False


def age_on(day: date, born: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def condition_holds(when: When, age: int | None, answers: Answers) -> bool:
    """Unknown age counts as young: a condition on age errs towards more care."""
    if when.age_under is not None and age is not None and age >= when.age_under:
        return False
    if when.answer is not None:
        given = answers.get(when.answer["item"], {}).get("answer")
        if given != when.answer["is"]:
            return False
    return True


def consent_required(age: int | None, answers: Answers | None) -> bool:
    """A parent/carer consents for under-16s, unless a 12- to 15-year-old was assessed
    competent to consent alone (recorded in the checklist)."""
    if age is None or age < COMPETENCE_AGE:
        return True
    if age >= CONSENT_AGE:
        return False
    competent = (answers or {}).get(COMPETENCE_ITEM, {}).get("answer") == "yes"
    return not competent


def item_blocks(item: Item, answer: str, age: int | None, answers: Answers) -> list[Reason]:
    """Why ``answer`` to ``item`` stops online work for a client of ``age`` whose other
    answers are ``answers`` (nothing when it does not): a blocking answer, or an answer a
    condition that holds does not accept."""
    reasons: list[Reason] = []
    if answer in item.blocking:
        reasons.append(
            Reason("blocking_answer", f"Blocks online work: {item.prompt} ({answer})", item.id)
        )
    for condition in item.conditions:
        if condition.answer_must_be and condition_holds(condition.when, age, answers):
            if answer not in condition.answer_must_be:
                reasons.append(Reason("condition", condition.reason, item.id))
    return reasons


def item_requirements(
    item: Item, answer: str, age: int | None, answers: Answers
) -> set[Requirement]:
    """What ``answer`` to ``item`` calls for besides itself: its own ``rationale`` and
    ``sign_off`` answers, and whatever a condition that holds requires, whatever the answer."""
    needs: set[Requirement] = set()
    if answer in item.rationale:
        needs.add(Requirement.RATIONALE)
    if answer in item.sign_off:
        needs.add(Requirement.SIGN_OFF)
    for condition in item.conditions:
        if condition_holds(condition.when, age, answers):
            needs.update(condition.require)
    return needs


def evaluate(data: GateInput) -> GateResult:
    blocked: list[Reason] = []
    sign_off: list[str] = []
    sign_off_reasons: list[Reason] = []

    # the suitability and risk checklist
    if data.answers is None:
        blocked.append(
            Reason(
                "suitability_missing", "The suitability and risk checklist has not been started."
            )
        )
    else:
        for item in data.suitability.items():
            if not item.answerable:
                continue
            entry = data.answers.get(item.id, {})
            answer = entry.get("answer", "").strip()
            if not answer:
                if item.required:
                    blocked.append(Reason("unanswered", f"Not answered: {item.prompt}", item.id))
                continue
            blocked.extend(item_blocks(item, answer, data.age, data.answers))
            needs = item_requirements(item, answer, data.age, data.answers)
            if Requirement.RATIONALE in needs and not entry.get("rationale", "").strip():
                blocked.append(
                    Reason(
                        "rationale_missing",
                        f"Needs a written clinical rationale: {item.prompt}",
                        item.id,
                    )
                )
            if Requirement.SIGN_OFF in needs:
                sign_off.append(item.id)
                sign_off_reasons.append(
                    Reason("sign_off", f"Needs supervisor sign-off: {item.prompt}", item.id)
                )
        blocked.extend(_expiry(data))

    # parent/carer consent
    if consent_required(data.age, data.answers):
        if data.consent is None:
            blocked.append(
                Reason("consent_missing", "A parent or carer has not given consent yet.")
            )
        elif data.consent is ConsentDecision.REFUSED:
            blocked.append(Reason("consent_refused", "The parent or carer did not give consent."))
        elif data.consent is ConsentDecision.WITHDRAWN:
            blocked.append(
                Reason("consent_withdrawn", "The parent or carer has withdrawn consent.")
            )

    # the plan for when things go wrong
    blocked.extend(_incomplete(data.plan, data.plan_answers, "plan", "The disconnection plan"))

    # a clinical supervisor to turn to (CCAP: "in all cases the clinical supervisor"), and
    # for an escalation to reach
    if not data.supervised:
        blocked.append(
            Reason(
                "no_supervisor",
                "You have no clinical supervisor on record. "
                "Ask your service's administrator to name one.",
            )
        )

    # the therapist's checks for today
    if data.daily_answers is None:
        blocked.append(
            Reason("daily_checks_missing", "Today's pre-session checks have not been done.")
        )
    else:
        for item in data.daily.items():
            answer = data.daily_answers.get(item.id, "")
            if not item.answerable:
                continue
            if (item.required and not answer) or item_blocks(item, answer, data.age, {}):
                blocked.append(
                    Reason("daily_check", f"Today's check not met: {item.prompt}", item.id)
                )

    pending = bool(sign_off) and data.signed_off_revision != data.revision
    if blocked:
        status = GateStatus.BLOCKED
    elif pending:
        status = GateStatus.NEEDS_SIGN_OFF
    else:
        status = GateStatus.OPEN
    reasons = blocked + (sign_off_reasons if pending else [])
    if pending and data.forged_sign_offs:
        reasons.append(
            Reason(
                "forged_sign_off",
                "A sign-off in the database was not made through Playroom (its signature "
                "does not check) and was ignored. Tell your administrator.",
            )
        )
    return GateResult(status, tuple(reasons), tuple(sign_off))


def _expiry(data: GateInput) -> list[Reason]:
    if data.reviewed_at is None:
        return []
    if data.now - data.reviewed_at > timedelta(days=data.valid_days):
        return [
            Reason(
                "review_due",
                f"The checklist is older than {data.valid_days} days and must be reviewed.",
            )
        ]
    if data.reviewed_at < data.risk_changed_at:
        return [
            Reason("review_due", "The risk level changed after the checklist was last reviewed.")
        ]
    return []


def _incomplete(
    checklist: Checklist, answers: Answers | None, code: str, what: str
) -> list[Reason]:
    if answers is None:
        return [Reason(f"{code}_missing", f"{what} has not been agreed yet.")]
    missing = checklist.unanswered(lambda item_id: answers.get(item_id, {}).get("answer", ""))
    return [
        Reason(f"{code}_incomplete", f"{what} is missing: {item.prompt}", item.id)
        for item in missing
    ]


def check_answer(item: Item, answer: str) -> str | None:
    """Why ``answer`` is not acceptable for ``item``, or None when it is."""
    allowed = item.allowed_answers()
    if allowed is not None:
        return None if answer in allowed else f"'{answer}' is not one of the allowed answers"
    if len(answer) > item.max_length:
        return f"is longer than {item.max_length} characters"
    if item.kind is AnswerKind.NUMBER:
        if not answer.lstrip("-").isdigit():
            return "must be a whole number"
        value = int(answer)
        if (item.minimum is not None and value < item.minimum) or (
            item.maximum is not None and value > item.maximum
        ):
            return f"must be between {item.minimum} and {item.maximum}"
    if item.kind is AnswerKind.PHONE:
        digits = [c for c in answer if c.isdigit()]
        if not 3 <= len(digits) <= 15 or any(c not in "0123456789 +()-" for c in answer):
            return "must be a telephone number"
    return None
