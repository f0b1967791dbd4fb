"""``docs/checklists.md``, rendered from the checklists as loaded.

The document lists every item of every checklist with what it asks, what its answers do and
the passage of the source guidance it comes from. It is generated rather than written so that
it cannot drift from the YAML files: ``python -m server checklists-doc`` writes it, and a test
fails when the committed file differs from what the YAML files give. ``render`` is pure: the
caller loads the catalogue and says which file each checklist came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from server.care.checklists import (
    CHECKLISTS,
    SOURCE_FILES,
    AnswerKind,
    Catalogue,
    Checklist,
    Condition,
    Document,
    Item,
    Kind,
    Requirement,
    When,
    load_catalogue,
    load_file,
)

COMMAND = "python -m server checklists-doc"
DOC = CHECKLISTS.parent / "docs" / "checklists.md"

# Every enum member needs an entry: a new answer kind or source document then fails to render
# (KeyError) until it is described here, instead of being left out of the document silently.
ANSWERS: dict[AnswerKind, str] = {
    AnswerKind.YES_NO: "yes, no",
    AnswerKind.YES_NO_UNSURE: "yes, no, unsure",
    AnswerKind.CHOICE: "the item's `options`",
    AnswerKind.TEXT: "free text up to `max_length` (2000 unless set)",
    AnswerKind.NUMBER: "a whole number from `minimum` to `maximum`",
    AnswerKind.PHONE: "a telephone number",
    AnswerKind.STATEMENT: "nothing: text to read",
}

DOCUMENTS: dict[Document, str] = {
    Document.CCAP: "CCAP 2024",
    Document.KOOTH: "Kooth",
    Document.ZOOM_OR_ROOM: "Zoom or Room",
}

AUDIENCES = {
    "therapist": "the therapist",
    "young_person": "the young person",
    "parent": "the parent",
}

REQUIREMENTS = {Requirement.RATIONALE: "rationale", Requirement.SIGN_OFF: "sign-off"}

NONE = "—"

INTRO = """\
# Checklists

Playroom's checklists and forms are data, not code. Each file under `checklists/` is one
version of one checklist: the CCAP suitability and risk checklist, the therapist's
pre-session checks, the young person's pre-join checks, the contract and ground rules, the
disconnection plan template and the parent/carer consent form. The schema is in
`server/care/checklists.py` (`Checklist`, `Section`, `Item`, `Source`, `Condition`, `When`).

## Loaded and validated at start-up

`create_app` calls `load_catalogue()`, which reads every `checklists/*.yaml` with
`yaml.safe_load` and validates it against the schema. A malformed file stops the server with
a message naming the file and the field (items are named by their ids), for example
`checklist pre-join-v1.yaml: field sections[where].items[where.details].max_length: ...`.
Start-up also fails if two files share an id and version, or if any kind of checklist is
missing.

Every item names its source: the document (one of those below, the files in the seeds
folder), the section within it, and a verbatim `quote`. Quotes are copied word for word
(they may be cut short, never reworded); they match the source text once runs of whitespace
are collapsed to one space and curly quotes are made straight. The schema checks that a
quote is there; `tests/test_checklists.py` checks that every quote is verbatim in its source
text (the seeds folder beside the checkout; the test fails under `CI=true` when the texts
are missing).
"""

RULES = """\
Write `yes` and `no` in quotes inside YAML lists (`blocking: ["no"]`): YAML 1.1, which
`safe_load` follows, reads a bare `no` as the boolean false, and the schema then rejects it.

## Answers and what they do
"""

FLAGS = """\
Items are required unless they say `required: false`. Prompts are worded so that "yes" is
the safe answer, except for a few items that record a fact (infant-parent work, working
across borders, current risk), whose flags say what that fact requires.

- **`blocking`**: answers that stop online work. On the suitability checklist and the
  therapist's daily checks a blocking answer closes the gate until it changes; on the
  consent form the parent/carer cannot give consent with a blocking answer and is asked to
  talk to the therapist. The young person's pre-join checks have no blocking answers: the
  therapist sees the answers and decides.
- **`rationale`**: answers that need a written clinical rationale beside them; until it is
  written, the gate stays closed.
- **`sign_off`**: answers that need the supervisor's sign-off. The gate waits at "needs sign
  off" until the supervisor signs off the current revision of the answers; any change to
  the answers needs a new sign-off.
- **`conditions`**: a `when` (the client's age is under `age_under`, and/or another item
  has a given `answer`) that, when it holds, adds `require` (`rationale`, `sign_off`) to the
  item whatever its answer, and/or restricts the acceptable answers to `answer_must_be`
  (any other answer then blocks, with the condition's `reason`). A condition on age counts
  an unknown age as young. A condition may name a `source` of its own, checked like an
  item's.

Only the suitability checklist takes every flag; the daily checks and the consent form take
`blocking`; the pre-join checks, the contract and the disconnection plan take none (their
questions are required or optional, nothing more). Start-up refuses a flag on a checklist
whose answers nothing applies it to, so no item can promise what the gate does not do
(`APPLIED` in `server/care/checklists.py`).

The checklist page says under each question what its answers call for with the client in
hand ("Needs a written clinical rationale whatever the answer, as the child is under 12."),
worked out by asking the gate's own functions about every answer the item takes
(`server/care/rules.py`); `tests/test_item_rules.py` checks, for every item of every
checklist, at ages either side of every age condition and with every answer a condition
waits on, that the sentences shown are what the gate then does.

## Adding a new version

Never edit a published version in place: answers already given record the checklist id and
version they answered. To change a checklist, copy its file to the next version (for example
`ccap-suitability-v2.yaml`), keep the same `id` and `kind`, raise `version`, and make the
changes there. Keep the old file: the newest version of each kind becomes current, and the
older ones stay loaded so past answers still resolve (`Catalogue.get("ccap-suitability@1")`).
Give every new item a source with a verbatim quote, check the quote against the source
text, start the server (or run `load_catalogue()`) to validate, and regenerate this file
with `{command}` (`tests/test_checklists_doc.py` fails until it is).

## The checklists

The tables below are generated from the YAML files and list every item, checklist by
checklist in the order of their kinds, each version of a kind from the oldest. Each
condition is followed by its `reason` in brackets; when a condition blocks, that reason is
what the gate shows.
"""

COLUMNS = [
    "item id",
    "what it asks",
    "answer kind",
    "blocks on",
    "rationale / sign-off",
    "source (document, section)",
    "quote",
]


def render(catalogue: Catalogue, files: Mapping[str, str]) -> str:
    """The whole of ``docs/checklists.md``: the fixed explanation, then one table per
    checklist. ``files`` maps each checklist's key (``id@version``) to its file name."""
    parts = [
        f"<!-- Generated from checklists/*.yaml by `{COMMAND}`; do not edit by hand. -->\n",
        INTRO,
        _table(["document", "name", "file in the seeds folder"], _documents()),
        RULES,
        _table(["kind", "answers"], ([f"`{kind.value}`", ANSWERS[kind]] for kind in AnswerKind)),
        FLAGS.format(command=COMMAND),
    ]
    parts += [_checklist(c, catalogue, files[c.key]) for c in _in_order(catalogue)]
    # one blank line between blocks and a single newline at the end, whatever the blocks hold
    return "\n".join(part.strip("\n") + "\n" for part in parts)


def read(folder: Path = CHECKLISTS) -> tuple[Catalogue, dict[str, str]]:
    """Load ``folder`` as the server does, and name the file each checklist came from.

    ``load_catalogue`` validates the set (repeated keys, missing kinds) but does not keep file
    names, so each file is read once more for its key; a docs command can afford that."""
    catalogue = load_catalogue(folder)
    files = {load_file(path).key: path.name for path in sorted(folder.glob("*.yaml"))}
    return catalogue, files


def _in_order(catalogue: Catalogue) -> list[Checklist]:
    # the order of Kind is the order a client meets the checklists in; versions oldest first
    kinds = list(Kind)
    return sorted(catalogue.by_key.values(), key=lambda c: (kinds.index(c.kind), c.version))


def _documents() -> list[list[str]]:
    return [[f"`{doc.value}`", DOCUMENTS[doc], f"`{SOURCE_FILES[doc]}`"] for doc in Document]


def _checklist(checklist: Checklist, catalogue: Catalogue, file: str) -> str:
    items = checklist.items()
    count = f"{len(items)} item" + ("" if len(items) == 1 else "s")
    summary = (
        f"`{checklist.id}` version {checklist.version}, kind `{checklist.kind.value}`, "
        f"for {AUDIENCES[checklist.audience]}; {count}."
    )
    current = catalogue[checklist.kind]
    if current.key != checklist.key:
        summary += (
            f" Superseded by `{current.key}`; kept so that the answers given to it still resolve."
        )
    blocks = [f"### {_oneline(checklist.title)} — `{file}`", summary]
    if checklist.intro.strip():
        # what the person filling it in reads first
        blocks.append("> " + _oneline(checklist.intro))
    blocks.append(_table(COLUMNS, (_row(item) for item in items)))
    return "\n\n".join(blocks)


def _row(item: Item) -> list[str]:
    source = item.source
    return [
        f"`{item.id}`",
        item.prompt,
        _answer_kind(item),
        _blocks(item),
        _requires(item),
        f"{DOCUMENTS[source.document]}, {source.section}",
        f'"{source.quote}"',
    ]


def _answer_kind(item: Item) -> str:
    kind = item.kind
    if kind is AnswerKind.CHOICE:
        text = "choice: " + " / ".join(item.options)
    elif kind is AnswerKind.TEXT:
        text = f"text, ≤ {item.max_length} characters"
    elif kind is AnswerKind.NUMBER:
        text = "number" + _range(item.minimum, item.maximum)
    else:
        text = kind.value
    if item.answerable and not item.required:
        text += ", optional"
    return text


def _range(low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f" {low}–{high}"
    if low is not None:
        return f" ≥ {low}"
    if high is not None:
        return f" ≤ {high}"
    return ""


def _blocks(item: Item) -> str:
    parts = [", ".join(item.blocking)] if item.blocking else []
    parts += [
        f"anything but {' or '.join(c.answer_must_be)} {_when(c.when)} ({_reason(c)})"
        for c in item.conditions
        if c.answer_must_be
    ]
    return "; ".join(parts) or NONE


def _requires(item: Item) -> str:
    parts = []
    if item.rationale:
        parts.append("rationale: " + ", ".join(item.rationale))
    if item.sign_off:
        parts.append("sign-off: " + ", ".join(item.sign_off))
    parts += [
        f"{_required(c)} whatever the answer {_when(c.when)} ({_reason(c)})"
        for c in item.conditions
        if c.require
    ]
    return "; ".join(parts) or NONE


def _reason(condition: Condition) -> str:
    """A condition's reason, and the passage it comes from when that is its own."""
    text = _oneline(condition.reason)
    source = condition.source
    if source is not None:
        text += f' Source: {DOCUMENTS[source.document]}, {source.section}: "{source.quote}"'
    return text


def _required(condition: Condition) -> str:
    return ", ".join(REQUIREMENTS[r] for r in condition.require)


def _when(when: When) -> str:
    parts = []
    if when.age_under is not None:
        parts.append(f"age under {when.age_under}")
    if when.answer is not None:
        parts.append(f"{when.answer['item']} is {when.answer['is']}")
    return "when " + " and ".join(parts)


def _table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = [_line(header), "|" + "---|" * len(header)]
    lines += [_line(row) for row in rows]
    return "\n".join(lines)


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(text: str) -> str:
    # a table row is one line, and a bare pipe would start a new column
    return _oneline(text).replace("|", "\\|")


def _oneline(text: str) -> str:
    return " ".join(text.split())
