"""What each checklist item's answers call for, in the words the checklist page shows.

The words are worked out by asking the gate's own functions (``gate.item_blocks`` and
``gate.item_requirements``) about every answer an item takes, for the client in hand, so
what an item says is what the gate asks. (The page once built its hint from the item's
``rationale`` list alone, while the gate also applied ``sign_off`` and the ``conditions``:
for a child under 12, "age and competence" said a rationale was needed "when the answer is
no or unsure", and the gate asked for one, and a sign-off, after "yes" too.)

Conditions on the child's age are decided for the client (an unknown age counts as young,
as in the gate); a condition on another item's answer is said as a condition ("if the
answer to ... is yes"), because that answer can change while the page is open. No I/O here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from server.care.checklists import Checklist, Item, Requirement
from server.care.gate import Answers, item_blocks, item_requirements

# an age no condition is under (``When.age_under`` is at most 30): "without the age rule"
_ADULT = 200
# any answer to an open item (text, number, phone) that its lists do not name
OTHER = "\x00other"


class Need(enum.StrEnum):
    """What an answer can call for."""

    BLOCKS = "blocks"
    RATIONALE = "rationale"
    SIGN_OFF = "sign_off"


PHRASES = {
    Need.BLOCKS: "Stops online work",
    Need.RATIONALE: "Needs a written clinical rationale",
    Need.SIGN_OFF: "Needs your supervisor's sign-off",
}


@dataclass(frozen=True)
class Clause:
    """The answers that call for a need (every one when ``whatever``), why when the reason is
    the child's age, and the other item's answer it waits on, if any."""

    answers: tuple[str, ...]
    whatever: bool
    because: str = ""
    if_item: str = ""  # another item's prompt...
    if_answer: str = ""  # ...and the answer to it under which this clause holds


@dataclass(frozen=True)
class Rule:
    need: Need
    clauses: tuple[Clause, ...]

    @property
    def words(self) -> str:
        return f"{PHRASES[self.need]} " + "; ".join(_clause(c) for c in self.clauses) + "."


def universe(item: Item) -> list[str]:
    """The answers worth asking the gate about: every answer of a closed kind; for an open
    kind, those its lists name and one standing for any other."""
    if item.choices:
        return item.choices
    named = [*item.blocking, *item.rationale, *item.sign_off]
    named += [a for c in item.conditions for a in c.answer_must_be]
    return [*dict.fromkeys(named), OTHER]


def calls_for(item: Item, need: Need, answer: str, age: int | None, answers: Answers) -> bool:
    """Whether the gate asks ``need`` of ``answer`` to ``item`` (for a client of ``age``
    whose other answers are ``answers``)."""
    if need is Need.BLOCKS:
        return bool(item_blocks(item, answer, age, answers))
    return Requirement(need.value) in item_requirements(item, answer, age, answers)


def rules(item: Item, checklist: Checklist, age: int | None) -> list[Rule]:
    """What ``item``'s answers call for with a client of ``age``, need by need."""
    if not item.answerable:
        return []
    found: list[Rule] = []
    for need in Need:
        clauses = _clauses(item, checklist, need, age)
        if clauses:
            found.append(Rule(need, tuple(clauses)))
    return found


def sentences(item: Item, checklist: Checklist, age: int | None) -> list[str]:
    """The rules in words, one sentence each, as the checklist page shows them."""
    return [rule.words for rule in rules(item, checklist, age)]


def needs_rationale(item: Item, checklist: Checklist, age: int | None) -> bool:
    """Whether any answer to ``item`` can call for a written rationale with this client."""
    return any(rule.need is Need.RATIONALE for rule in rules(item, checklist, age))


def _clauses(item: Item, checklist: Checklist, need: Need, age: int | None) -> list[Clause]:
    every = universe(item)

    def calling(context: Answers, at: int | None) -> list[str]:
        return [a for a in every if calls_for(item, need, a, at, context)]

    clauses: list[Clause] = []
    plain = calling({}, age)
    if plain:
        clauses.append(_made(item, every, plain, _because(item, plain, calling({}, _ADULT), age)))
    for other, value in _answer_conditions(item):
        context = {other: {"answer": value}}
        extra = [a for a in calling(context, age) if a not in plain]
        if not extra:
            continue
        without_age = [a for a in calling(context, _ADULT) if a not in calling({}, _ADULT)]
        target = checklist.item(other)
        clauses.append(
            _made(
                item,
                every,
                extra,
                _because(item, extra, without_age, age),
                if_item=target.prompt if target else other,
                if_answer=value,
            )
        )
    return clauses


def _made(item: Item, every: list[str], answers: list[str], because: str, **when: str) -> Clause:
    whatever = answers == every or (OTHER in answers and not item.choices)
    named = tuple(a for a in answers if a != OTHER)
    return Clause(named, whatever, because, **when)


def _because(item: Item, with_age: list[str], without_age: list[str], age: int | None) -> str:
    """The child's age, in words, when it is what changed the answers that call for a need."""
    if with_age == without_age:
        return ""
    limits = sorted({c.when.age_under for c in item.conditions if c.when.age_under is not None})
    if age is None:
        return f"the child's age is not recorded, which counts as under {limits[0]}"
    return "the child is under " + str(min(limit for limit in limits if age < limit))


def _answer_conditions(item: Item) -> Iterable[tuple[str, str]]:
    """The other items' answers the item's conditions wait on, each once, in order."""
    pairs = [(c.when.answer["item"], c.when.answer["is"]) for c in item.conditions if c.when.answer]
    return dict.fromkeys(pairs)


def label(answer: str) -> str:
    return answer.replace("_", " ")


def _clause(clause: Clause) -> str:
    if clause.whatever:
        text = "whatever the answer"
    else:
        text = "when the answer is " + " or ".join(label(a) for a in clause.answers)
    if clause.if_item:
        text += f", if the answer to “{clause.if_item.rstrip('.')}” is {label(clause.if_answer)}"
    if clause.because:
        text += f", as {clause.because}"
    return text
