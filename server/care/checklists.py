"""Checklists as data: the YAML files under ``checklists/``, validated at start-up.

Each file is one versioned checklist: the CCAP suitability and risk checklist, the
therapist's pre-session checks, the young person's pre-join checks, the contract and ground
rules, the disconnection plan template, and the parent/carer consent form. Every item names
the passage of the source guidance it comes from. A malformed file stops the server with a
message naming the file and the field.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from server.exceptions import ConfigurationError

CHECKLISTS = Path(__file__).resolve().parents[2] / "checklists"
# libyaml's parser where PyYAML has it (its wheels do): the same safe loading, read ten times
# faster than PyYAML's own, which took half the time a server spent starting after imports
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Kind(enum.StrEnum):
    """What a checklist is for; the gate and the pages look checklists up by kind."""

    SUITABILITY = "suitability"
    PRE_SESSION = "pre_session"
    PRE_JOIN = "pre_join"
    CONTRACT = "contract"
    DISCONNECTION_PLAN = "disconnection_plan"
    CONSENT = "consent"


class AnswerKind(enum.StrEnum):
    YES_NO = "yes_no"  # answers: yes, no
    YES_NO_UNSURE = "yes_no_unsure"  # answers: yes, no, unsure
    CHOICE = "choice"  # answers: the item's options
    TEXT = "text"  # free text, up to max_length
    NUMBER = "number"  # a whole number between minimum and maximum
    PHONE = "phone"  # a telephone number
    STATEMENT = "statement"  # text to read; nothing to answer


class Document(enum.StrEnum):
    CCAP = "ccap-2024"
    KOOTH = "kooth"
    ZOOM_OR_ROOM = "zoom-or-room"


SOURCE_FILES = {
    Document.CCAP: "ccap-guidance-online-therapy-2024.txt",
    Document.KOOTH: "kooth-approach-to-online-service.txt",
    Document.ZOOM_OR_ROOM: "zoom-or-room-guidelines-online-therapeutic-intervention.txt",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """Where an item comes from: the document, its section, and a verbatim quote."""

    document: Document
    section: Annotated[str, Field(min_length=1)]
    quote: Annotated[str, Field(min_length=8)]


class Requirement(enum.StrEnum):
    RATIONALE = "rationale"  # a written clinical rationale
    SIGN_OFF = "sign_off"  # a supervisor's sign-off


class When(Strict):
    """A condition on the client or on another answer. All given parts must hold."""

    age_under: int | None = Field(None, ge=0, le=30)
    answer: dict[str, str] | None = Field(
        None, description="another item's answer, e.g. {item: client.infant_work, is: yes}"
    )

    @model_validator(mode="after")
    def _something(self) -> When:
        if self.age_under is None and self.answer is None:
            raise ValueError("a condition needs age_under or answer")
        if self.answer is not None and set(self.answer) != {"item", "is"}:
            raise ValueError("answer condition takes exactly 'item' and 'is'")
        return self


class Condition(Strict):
    """When ``when`` holds, ``require`` applies, and ``answer_must_be`` (if given) too.
    ``source`` is the passage the condition itself comes from, where that is not the item's."""

    when: When
    require: list[Requirement] = []
    answer_must_be: list[str] = []
    reason: Annotated[str, Field(min_length=1)]
    source: Source | None = None


# What each kind of checklist's answers can do: the flags something applies to it. The gate
# applies every flag to the suitability checklist and ``blocking`` to the daily checks; the
# consent form refuses a blocking answer; nothing applies a flag to the rest, so an item there
# may not carry one (it would say something that nothing does).
FLAGS = ("blocking", "rationale", "sign_off", "conditions")
APPLIED: dict[Kind, tuple[str, ...]] = {
    Kind.SUITABILITY: FLAGS,
    Kind.PRE_SESSION: ("blocking",),
    Kind.CONSENT: ("blocking",),
    Kind.PRE_JOIN: (),
    Kind.CONTRACT: (),
    Kind.DISCONNECTION_PLAN: (),
}


class Item(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")]
    prompt: Annotated[str, Field(min_length=1)]
    kind: AnswerKind
    help: str = ""
    options: list[str] = []
    required: bool = True
    blocking: list[str] = Field([], description="answers that block the gate")
    rationale: list[str] = Field([], description="answers that need a written rationale")
    sign_off: list[str] = Field([], description="answers that need supervisor sign-off")
    max_length: int = Field(2000, ge=1, le=20000)
    minimum: int | None = None
    maximum: int | None = None
    conditions: list[Condition] = []
    asked_again: bool = Field(
        False,
        description="asked again when a person comes back to the same session (a pre-join "
        "question whose answer can change within minutes: where they are, who can hear)",
    )
    source: Source

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        allowed = self.allowed_answers()
        if self.kind is AnswerKind.CHOICE and not self.options:
            raise ValueError("a choice item needs options")
        if self.kind is not AnswerKind.CHOICE and self.options:
            raise ValueError("only choice items take options")
        if allowed is not None:
            for field in ("blocking", "rationale", "sign_off"):
                unknown = set(getattr(self, field)) - allowed
                if unknown:
                    raise ValueError(
                        f"{field} names answers the item cannot take: {sorted(unknown)}"
                    )
            for condition in self.conditions:
                unknown = set(condition.answer_must_be) - allowed
                if unknown:
                    raise ValueError(f"a condition requires impossible answers: {sorted(unknown)}")
        return self

    @property
    def choices(self) -> list[str]:
        """The answers of a closed kind in the order a page offers them (none for open kinds)."""
        if self.kind is AnswerKind.YES_NO:
            return ["yes", "no"]
        if self.kind is AnswerKind.YES_NO_UNSURE:
            return ["yes", "no", "unsure"]
        return list(self.options)

    def allowed_answers(self) -> set[str] | None:
        """The closed set of answers, or None for open kinds (text, number, phone)."""
        if self.kind is AnswerKind.YES_NO:
            return {"yes", "no"}
        if self.kind is AnswerKind.YES_NO_UNSURE:
            return {"yes", "no", "unsure"}
        if self.kind is AnswerKind.CHOICE:
            return set(self.options)
        if self.kind is AnswerKind.STATEMENT:
            return set()
        return None

    @property
    def answerable(self) -> bool:
        return self.kind is not AnswerKind.STATEMENT


class Section(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    title: Annotated[str, Field(min_length=1)]
    intro: str = ""
    items: Annotated[list[Item], Field(min_length=1)]


class Checklist(Strict):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*$")]
    version: Annotated[int, Field(ge=1)]
    kind: Kind
    title: Annotated[str, Field(min_length=1)]
    audience: Literal["therapist", "young_person", "parent"]
    intro: str = ""
    sections: Annotated[list[Section], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_and_resolvable(self) -> Checklist:
        ids = [item.id for item in self.items()]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"item ids repeat: {sorted(dupes)}")
        known = set(ids)
        for item in self.items():
            unapplied = [f for f in FLAGS if getattr(item, f) and f not in APPLIED[self.kind]]
            if unapplied:
                raise ValueError(
                    f"{item.id}: nothing applies {', '.join(unapplied)} to a "
                    f"{self.kind.value} checklist's answers"
                )
            for condition in item.conditions:
                ref = condition.when.answer
                if ref is not None and ref["item"] not in known:
                    raise ValueError(f"{item.id}: condition refers to unknown item {ref['item']}")
        return self

    def items(self) -> list[Item]:
        return [item for section in self.sections for item in section.items]

    def item(self, item_id: str) -> Item | None:
        return next((i for i in self.items() if i.id == item_id), None)

    def unanswered(self, answer_of: Callable[[str], str]) -> list[Item]:
        """The required questions without an answer (blank counts as none), given how to read
        the answer to an item id."""
        return [
            item
            for item in self.items()
            if item.answerable and item.required and not answer_of(item.id).strip()
        ]

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"


class Catalogue:
    """Every checklist loaded, by id and by kind (the newest version of each kind is current)."""

    def __init__(self, checklists: list[Checklist]) -> None:
        self.by_key = {c.key: c for c in checklists}
        self.current: dict[Kind, Checklist] = {}
        for checklist in sorted(checklists, key=lambda c: c.version):
            self.current[checklist.kind] = checklist
        missing = set(Kind) - set(self.current)
        if missing:
            raise ConfigurationError(f"no checklist of kind: {', '.join(sorted(missing))}")

    def __getitem__(self, kind: Kind) -> Checklist:
        return self.current[kind]

    def get(self, key: str) -> Checklist | None:
        return self.by_key.get(key)


def _location(error: dict[str, Any], doc: Any) -> str:
    """Turn a pydantic error location into a readable path, naming items by their ids."""
    parts: list[str] = []
    node = doc
    for loc in error["loc"]:
        if isinstance(loc, int) and isinstance(node, list) and loc < len(node):
            node = node[loc]
            ident = node.get("id") if isinstance(node, dict) else None
            parts.append(f"[{ident}]" if ident else f"[{loc}]")
        else:
            node = node.get(loc) if isinstance(node, dict) else None
            parts.append(f".{loc}")
    return "".join(parts).lstrip(".")


def load_file(path: Path) -> Checklist:
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        # besides YAML errors: bytes that are not UTF-8, a value of an implicit type that
        # cannot be (``2001-13-01``, ``!!int x``), nesting deeper than the composer recurses
        raise ConfigurationError(f"checklist {path.name} is not valid YAML: {exc}") from exc
    try:
        return Checklist.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = _location(dict(first), doc)
        raise ConfigurationError(
            f"checklist {path.name}: field {where or '(top level)'}: {first['msg']}"
        ) from exc


def load_catalogue(folder: Path = CHECKLISTS) -> Catalogue:
    """Load and validate every ``*.yaml`` under ``folder``."""
    files = sorted(folder.glob("*.yaml"))
    checklists = [load_file(path) for path in files]
    keys = [c.key for c in checklists]
    if len(set(keys)) != len(keys):
        raise ConfigurationError(f"checklists under {folder} repeat an id and version")
    return Catalogue(checklists)
