"""The disconnection plan, walked step by step when a young person is lost, leaves in the
middle of a session, says "it's not private now", or uses the quick exit. The steps come
from the plan agreed in advance (``checklists/disconnection-plan-v1.yaml``).

The parent or carer to ring can come from the consent form: the first emergency contact a
parent gives fills ``plan.parent_name`` and ``plan.parent_phone`` while the plan has neither
of its own (``with_consent_contact``)."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from typing import Any

from server.care.checklists import Checklist
from server.care.gate import Answers, check_answer

# an answer's ``from``: put there from a parent's consent form, not typed by the therapist
FROM_CONSENT = "consent"
PARENT_ITEMS = ("plan.parent_name", "plan.parent_phone")
# what the young person agreed to do after a session, and whom to go to, written to them: it
# is shown on their own screen at the end of their own session, and nowhere else
AFTER_SESSION = "plan.after_session"


class Case(enum.StrEnum):
    LOST = "lost"
    LEFT = "left"
    NOT_PRIVATE = "not_private"
    QUICK_EXIT = "quick_exit"


OUTCOMES = ("tried", "reached", "no_answer", "done")


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    detail: str = ""
    phone: str = ""
    after_seconds: int = 0  # when this step is due, counted from the start of the plan


def _answer(answers: Answers, item: str) -> str:
    return answers.get(item, {}).get("answer", "").strip()


def steps_for(case: Case, answers: Answers) -> list[Step]:
    """The steps of the plan for ``case``, in order, with the numbers to ring."""
    wait = int(_answer(answers, "plan.wait_minutes") or 5) * 60
    escalate = int(_answer(answers, "plan.escalate_after_minutes") or 15) * 60
    parent = Step(
        "ring_parent",
        f"Ring {_answer(answers, 'plan.parent_name') or 'the parent or carer'}",
        phone=_answer(answers, "plan.parent_phone"),
        after_seconds=wait,
    )
    young = Step(
        "ring_young_person",
        "Ring the young person",
        phone=_answer(answers, "plan.young_person_phone"),
        after_seconds=wait,
    )
    lead = _answer(answers, "plan.safeguarding_lead_name") or "the safeguarding lead"
    escalate_step = Step(
        "escalate",
        f"Tell {lead}, and escalate",
        phone=_answer(answers, "plan.safeguarding_lead_phone"),
        after_seconds=escalate,
    )
    emergency = Step(
        "emergency",
        "If the young person may be in danger: call the emergency number",
        phone=_answer(answers, "plan.emergency_number"),
        after_seconds=0,
    )
    ring_young = _answer(answers, "plan.ring_young_person") == "yes" and young.phone
    if case in (Case.LOST, Case.LEFT):
        steps = [
            Step(
                "wait",
                "Wait for the young person to come back",
                f"{wait // 60} minutes",
                after_seconds=0,
            )
        ]
        if ring_young:
            steps.append(young)
        return [*steps, parent, escalate_step, emergency]
    if case is Case.NOT_PRIVATE:
        return [
            Step("agreed", "Do what you agreed", _answer(answers, "plan.not_private")),
            parent,
            emergency,
        ]
    return [
        Step("agreed", "Do what you agreed", _answer(answers, "plan.after_quick_exit")),
        *([young] if ring_young else []),
        parent,
        escalate_step,
        emergency,
    ]


def after_session(answers: Answers) -> str:
    """The plan for after the session, in the words the therapist wrote for the young person
    (empty when none was agreed)."""
    return _answer(answers, AFTER_SESSION)


def as_message_steps(steps: list[Step]) -> list[dict[str, Any]]:
    return [asdict(step) for step in steps]


def with_consent_contact(
    answers: Answers,
    plan: Checklist,
    contact: dict[str, str],
    signed_on: str,
) -> Answers:
    """The plan's answers with the parent or carer to ring taken from a consent form's first
    emergency contact (``name``, ``relationship``, ``phone``), marked as from the consent form
    of ``signed_on``.

    Both fields are filled when each is empty or still holds what an earlier consent form put
    there; once the therapist has typed either (a save drops the mark), neither is touched, so
    a name and a number from two different people never meet. Returns ``answers`` itself when
    nothing changes."""

    def free(item_id: str) -> bool:
        entry = answers.get(item_id, {})
        return not entry.get("answer", "").strip() or entry.get("from") == FROM_CONSENT

    if not all(free(item_id) for item_id in PARENT_ITEMS):
        return answers
    name = f"{contact['name']} ({contact['relationship']})"
    values = {"plan.parent_name": name, "plan.parent_phone": contact["phone"]}
    filled = dict(answers)
    for item_id, value in values.items():
        item = plan.item(item_id)
        if item is None:
            return answers  # a plan without these questions: nothing to fill
        value = value[: item.max_length]
        if check_answer(item, value):
            return answers
        filled[item_id] = {
            "answer": value,
            "rationale": "",
            "from": FROM_CONSENT,
            "on": signed_on,
        }
    return answers if filled == answers else filled
