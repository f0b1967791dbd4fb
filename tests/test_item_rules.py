"""What every checklist item says its answers call for is what is then done with them.

A table over every item of every checklist (``checklists/*.yaml``): for each answer it takes,
at ages either side of every age condition and unknown, with and without every answer a
condition of it waits on, the sentences the checklist page shows (``rules.sentences``) are
read back word by word and compared with what the gate (suitability, daily checks,
disconnection plan) or the consent form then does with that answer.
"""

from __future__ import annotations

import itertools
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from server.care.checklists import (
    CHECKLISTS,
    SOURCE_FILES,
    Checklist,
    Item,
    Kind,
    load_catalogue,
)
from server.care.consent_form import ConsentIn, problems
from server.care.gate import GateInput, GateResult, evaluate
from server.care.rules import PHRASES, Need, label, sentences
from server.exceptions import ConfigurationError
from server.storage.models import ConsentDecision
from tests.conftest import require
from tests.factories import safe_answer, safe_answers
from tests.test_checklists import SEEDS, _normal

CATALOGUE = load_catalogue()
NOW = datetime(2027, 3, 3, 10, 0, tzinfo=UTC)
SENTENCE = re.compile(r"^(?P<phrase>.+?) (?P<clauses>(?:whatever|when) .+)\.$")
CLAUSE = re.compile(
    r"^(?:whatever the answer|when the answer is (?P<answers>.+?))"
    r"(?:, if the answer to “(?P<other>.+)” is (?P<value>[^,]+))?"
    r"(?:, as (?P<because>.+))?$"
)
ALL = frozenset({"\x00all"})


@dataclass(frozen=True)
class Said:
    """One clause as read back from the page's words."""

    answers: frozenset[str]  # labels as shown, or ALL
    other: str | None  # the prompt of the item it waits on
    value: str | None
    because: str | None

    def applies(self, answer: str, context: dict[str, str], checklist: Checklist) -> bool:
        if self.answers is not ALL and label(answer) not in self.answers:
            return False
        if self.other is None:
            return True
        other = next(i for i in checklist.items() if i.prompt.rstrip(".") == self.other)
        return label(context.get(other.id, "")) == self.value


def read_back(words: list[str]) -> dict[Need, list[Said]]:
    """The page's sentences, as what each need is said to apply to."""
    by_phrase = {phrase: need for need, phrase in PHRASES.items()}
    said: dict[Need, list[Said]] = {}
    for sentence in words:
        match = SENTENCE.match(sentence)
        assert match and match["phrase"] in by_phrase, f"not a sentence the test reads: {sentence}"
        need = by_phrase[match["phrase"]]
        assert need not in said, f"{need} said twice"
        said[need] = []
        for clause in match["clauses"].split("; "):
            part = CLAUSE.match(clause)
            assert part, f"not a clause the test reads: {clause!r}"
            answers = frozenset(part["answers"].split(" or ")) if part["answers"] else ALL
            said[need].append(Said(answers, part["other"], part["value"], part["because"]))
    return said


def _ages(checklist: Checklist) -> list[int | None]:
    limits = {c.when.age_under for i in checklist.items() for c in i.conditions}
    edges = {age for limit in limits if limit is not None for age in (limit - 1, limit)}
    return [None, *sorted(edges | {5, 17})]


def _answers(item: Item) -> list[str]:
    if item.choices:
        return item.choices
    return [*dict.fromkeys([*item.blocking, *item.rationale, *item.sign_off]), safe_answer(item)]


def _contexts(item: Item, checklist: Checklist) -> list[dict[str, str]]:
    """Every combination of the answers the item's conditions wait on: each awaited answer,
    and an answer that is not it."""
    options: dict[str, list[str]] = {}
    for condition in item.conditions:
        if condition.when.answer is None:
            continue
        other, value = condition.when.answer["item"], condition.when.answer["is"]
        target = checklist.item(other)
        assert target is not None
        others = [a for a in target.choices if a != value][:1]
        options.setdefault(other, [])
        options[other] += [a for a in [value, *others] if a not in options[other]]
    names = list(options)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*options.values())]


def _cases(*kinds: Kind) -> list[tuple[str, str]]:
    return [
        (checklist.key, item.id)
        for checklist in CATALOGUE.by_key.values()
        if not kinds or checklist.kind in kinds
        for item in checklist.items()
        if item.answerable
    ]


GATED = (Kind.SUITABILITY, Kind.PRE_SESSION, Kind.DISCONNECTION_PLAN)  # what the gate asks


def _gate(**changes: object) -> GateResult:
    """The gate with everything else in place: only what the test changes can close it."""
    data = GateInput(
        now=NOW,
        valid_days=90,
        age=14,
        risk_changed_at=NOW - timedelta(days=1),
        suitability=CATALOGUE[Kind.SUITABILITY],
        answers=_explained(CATALOGUE[Kind.SUITABILITY]),
        reviewed_at=NOW,
        revision=1,
        signed_off_revision=1,
        consent=ConsentDecision.GIVEN,
        plan=CATALOGUE[Kind.DISCONNECTION_PLAN],
        plan_answers=safe_answers(CATALOGUE[Kind.DISCONNECTION_PLAN]),
        daily=CATALOGUE[Kind.PRE_SESSION],
        daily_answers={
            i.id: safe_answer(i) for i in CATALOGUE[Kind.PRE_SESSION].items() if i.answerable
        },
        supervised=True,
    )
    for name, value in changes.items():
        setattr(data, name, value)
    return evaluate(data)


def _explained(checklist: Checklist) -> dict[str, dict[str, str]]:
    """Safe answers, each with a rationale, so no other item asks for one."""
    return {
        item_id: {**entry, "rationale": "Discussed in supervision."}
        for item_id, entry in safe_answers(checklist).items()
    }


def done(
    checklist: Checklist, item: Item, answer: str, age: int | None, context: dict[str, str]
) -> dict[Need, bool]:
    """What is done with ``answer`` to ``item``: by the gate, or by the consent form."""
    kind = checklist.kind
    nothing = dict.fromkeys(Need, False)
    if kind is Kind.SUITABILITY:
        answers = _explained(checklist)
        for other, value in context.items():
            answers[other] = {"answer": value, "rationale": "Discussed in supervision."}
        answers[item.id] = {"answer": answer, "rationale": ""}
        result = _gate(suitability=checklist, answers=answers, age=age, signed_off_revision=None)
        mine = [r for r in result.reasons if r.item == item.id]
        return {
            Need.BLOCKS: any(r.code in ("blocking_answer", "condition") for r in mine),
            Need.RATIONALE: any(r.code == "rationale_missing" for r in mine),
            Need.SIGN_OFF: item.id in result.sign_off_items,
        }
    if kind is Kind.PRE_SESSION:
        daily = {i.id: safe_answer(i) for i in checklist.items() if i.answerable}
        result = _gate(daily=checklist, daily_answers={**daily, item.id: answer}, age=age)
        return {**nothing, Need.BLOCKS: any(r.item == item.id for r in result.reasons)}
    if kind is Kind.DISCONNECTION_PLAN:
        plan = {**safe_answers(checklist), item.id: {"answer": answer, "rationale": ""}}
        result = _gate(plan=checklist, plan_answers=plan, age=age)
        return {**nothing, Need.BLOCKS: any(r.item == item.id for r in result.reasons)}
    if kind is Kind.CONSENT:
        confirmations = {i.id: "yes" for i in checklist.items() if i.answerable}
        data = ConsentIn(
            decision="given",
            typed_name="Pat Parent",
            relationship="mum",
            contacts=[{"name": "Pat Parent", "relationship": "mum", "phone": "07700 900456"}],
            confirmations={**confirmations, item.id: answer},
        )
        faults = problems(data, checklist, date(2027, 3, 3))
        return {**nothing, Need.BLOCKS: f"confirm:{item.id}" in faults}
    # the young person's pre-join answers go to the therapist, who decides: nothing is done
    # with them on their own (docs/checklists.md), and the schema lets them carry no flag
    assert kind is Kind.PRE_JOIN
    return nothing


@pytest.mark.parametrize("key, item_id", _cases())
def test_what_the_item_says_is_what_is_done(key: str, item_id: str) -> None:
    checklist = CATALOGUE.get(key)
    assert checklist is not None
    item = checklist.item(item_id)
    assert item is not None
    for age in _ages(checklist):
        said = read_back(sentences(item, checklist, age))
        for context in _contexts(item, checklist):
            for answer in _answers(item):
                truth = done(checklist, item, answer, age, context)
                for need in Need:
                    clauses = said.get(need, [])
                    stated = any(c.applies(answer, context, checklist) for c in clauses)
                    case = f"{item.id} age {age} answer {answer!r} with {context}: {need}"
                    assert stated == truth[need], case
                    for clause in clauses:
                        _check_because(clause, age, case)


def _check_because(clause: Said, age: int | None, case: str) -> None:
    """A clause that gives the child's age as its reason is true of the child."""
    if clause.because is None:
        return
    under = re.fullmatch(r"the child is under (\d+)", clause.because)
    unknown = re.fullmatch(
        r"the child's age is not recorded, which counts as under (\d+)", clause.because
    )
    assert under or unknown, case
    if under:
        assert age is not None and age < int(under[1]), case
    else:
        assert age is None, case


@pytest.mark.parametrize("key, item_id", _cases(*GATED))
def test_a_question_left_blank_waits_only_when_it_is_required(key: str, item_id: str) -> None:
    checklist = CATALOGUE.get(key)
    assert checklist is not None
    item = checklist.item(item_id)
    assert item is not None
    if checklist.kind is Kind.SUITABILITY:
        answers = {**_explained(checklist), item.id: {"answer": "", "rationale": ""}}
        result = _gate(suitability=checklist, answers=answers)
    elif checklist.kind is Kind.PRE_SESSION:
        daily = {i.id: safe_answer(i) for i in checklist.items() if i.answerable}
        result = _gate(daily=checklist, daily_answers={**daily, item.id: ""})
    else:
        plan = {**safe_answers(checklist), item.id: {"answer": "", "rationale": ""}}
        result = _gate(plan=checklist, plan_answers=plan)
    waits = any(r.item == item.id for r in result.reasons)
    assert waits == item.required, item.id


def test_under_twelve_yes_needs_what_the_page_says() -> None:
    """The case that was wrong: "yes" to age and competence for a nine-year-old."""
    checklist = CATALOGUE[Kind.SUITABILITY]
    item = checklist.item("client.age_competence")
    assert item is not None
    words = sentences(item, checklist, 9)
    assert words == [
        "Needs a written clinical rationale whatever the answer, as the child is under 12.",
        "Needs your supervisor's sign-off whatever the answer, as the child is under 12.",
    ]
    assert done(checklist, item, "yes", 9, {}) == {
        Need.BLOCKS: False,
        Need.RATIONALE: True,
        Need.SIGN_OFF: True,
    }
    assert sentences(item, checklist, 14) == [
        "Needs a written clinical rationale when the answer is no or unsure.",
        "Needs your supervisor's sign-off when the answer is no or unsure.",
    ]
    assert done(checklist, item, "yes", 14, {}) == dict.fromkeys(Need, False)


def test_the_suitability_intro_is_true_of_every_unsure() -> None:
    """The checklist's intro says "unsure" needs a rationale and a sign-off: it does, on
    every item that offers it, for a child of any age."""
    checklist = CATALOGUE[Kind.SUITABILITY]
    assert '"unsure"' in checklist.intro and "under 12" in checklist.intro
    for item in checklist.items():
        if "unsure" in item.choices:
            assert done(checklist, item, "unsure", 17, {})[Need.RATIONALE], item.id
            assert done(checklist, item, "unsure", 17, {})[Need.SIGN_OFF], item.id


def test_the_consent_forms_yes_to_each_is_what_it_asks() -> None:
    """The consent form's "Please confirm" says a yes to each is needed: every one refuses
    anything else, and asks nothing more."""
    form = CATALOGUE[Kind.CONSENT]
    for section in form.sections:
        if 'need a "yes" to each' not in section.intro:
            continue
        for item in section.items:
            assert [a for a in item.choices if done(form, item, a, None, {})[Need.BLOCKS]] == [
                a for a in item.choices if a != "yes"
            ], item.id


@pytest.mark.parametrize(
    "file, flag",
    [
        ("pre-session-v1.yaml", "rationale"),
        ("pre-session-v1.yaml", "sign_off"),
        ("pre-join-v1.yaml", "blocking"),
        ("disconnection-plan-v1.yaml", "sign_off"),
        ("consent-v1.yaml", "rationale"),
    ],
)
def test_a_flag_nothing_applies_stops_start_up(tmp_path: Path, file: str, flag: str) -> None:
    """An item cannot promise what nothing does: a rationale on a daily check, say."""
    for path in CHECKLISTS.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    path = tmp_path / file
    doc = yaml.safe_load(path.read_text())
    item = next(i for s in doc["sections"] for i in s["items"] if i["kind"] == "yes_no")
    item[flag] = ["no"]
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigurationError, match=f"{item['id']}: nothing applies {flag}"):
        load_catalogue(tmp_path)


def test_every_condition_quote_is_verbatim_in_its_source() -> None:
    """A condition that names a passage of its own (under 12: CCAP's introduction) quotes it
    word for word, as items do (``test_checklists.py``)."""
    require(SEEDS.is_dir(), f"the source guidance at {SEEDS}")
    texts = {doc: _normal((SEEDS / name).read_text()) for doc, name in SOURCE_FILES.items()}
    quoted = [
        (f"{checklist.key} {item.id}", condition.source)
        for checklist in CATALOGUE.by_key.values()
        for item in checklist.items()
        for condition in item.conditions
        if condition.source is not None
    ]
    assert quoted, "the under-12 condition names its source"
    assert [where for where, s in quoted if _normal(s.quote) not in texts[s.document]] == []
