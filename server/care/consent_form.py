"""The consent form as a parent or carer fills it in: what it posts, read in one pass, with
every fault named at once by the form field it belongs to, in the words of the parent
reading it ("Type your full name", not "typed_name: String should have at least 2
characters"). No I/O here: ``consent.py`` records what this reads."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from server.care.addresses import LINE_BREAK, Address
from server.care.checklists import Checklist
from server.care.gate import check_answer, item_blocks
from server.i18n import N_, gettext

Name = Annotated[str, Field(min_length=2, max_length=100)]
CONTACT_SLOTS = (1, 2, 3)  # the form's contact fields: contact1_name ... contact3_phone
CONTACT_FIELDS = ("name", "relationship", "phone")
Faults = dict[str, str]  # form field name -> what is wrong, in the parent's words


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: Name
    relationship: Annotated[str, Field(min_length=1, max_length=60)]
    phone: Annotated[str, Field(min_length=3, max_length=30)]

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        digits = sum(c.isdigit() for c in value)
        if not 3 <= digits <= 15 or any(c not in "0123456789 +()-" for c in value):
            raise ValueError("must be a telephone number")
        return value


class ConsentIn(BaseModel):
    """What the parent/carer submits. ``signed_on`` is the day it arrives; a caller that
    sends one must send that day (give or take one, for time zones)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    decision: Literal["given", "refused"]
    typed_name: Name
    relationship: Annotated[str, Field(min_length=1, max_length=60)]
    signed_on: date | None = None
    email: Address = None  # optional: where the session links and reminders can go
    contacts: Annotated[list[Contact], Field(max_length=3)] = []
    confirmations: Annotated[dict[str, str], Field(max_length=20)] = {}


class WithdrawIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    typed_name: Name
    signed_on: date | None = None


# what each field's fault is called: empty, too short, too long, or not a valid value
_WORDS: dict[str, dict[str, str]] = {
    "decision": {"empty": N_("Choose whether you give consent.")},
    "typed_name": {
        "empty": N_("Type your full name."),
        "short": N_("Type your full name, not only an initial."),
        "long": N_("Your name is too long: use 100 letters or fewer."),
    },
    "relationship": {
        "empty": N_("Say who you are to the child, for example mum, dad or carer."),
        "long": N_("Say who you are to the child in 60 letters or fewer."),
    },
    "name": {
        "empty": N_("Type contact {n}'s name."),
        "short": N_("Type contact {n}'s full name, not only an initial."),
        "long": N_("Contact {n}'s name is too long: use 100 letters or fewer."),
    },
    "relationship_of_contact": {
        "empty": N_("Say how contact {n} knows your child, for example mum or grandad."),
        "long": N_("Say how contact {n} knows your child in 60 letters or fewer."),
    },
    "email": {
        "invalid": N_("Type your e-mail address as name@example.org, or leave it empty."),
        "line": N_("Your e-mail address must be on one line."),
    },
    "phone": {
        "empty": N_("Type a phone number for contact {n}."),
        "invalid": N_("Type contact {n}'s phone number in digits, for example 07700 900123."),
    },
}
_NO_CONTACT = N_("Give at least one emergency contact: a name and a phone number.")
_TODAY = N_("The date must be today's.")
_UNASKED = N_("The form had answers to questions it does not ask.")


def _words(field: str, error: ErrorDetails, n: int = 0) -> str:
    kind = "invalid"
    if LINE_BREAK in str(error.get("ctx", {}).get("error", "")):
        kind = "line"
    elif error["type"] == "string_too_long":
        kind = "long"
    elif error["type"] in ("missing", "string_too_short"):
        kind = "short" if str(error.get("input") or "").strip() else "empty"
    words = _WORDS[field]
    return gettext(words.get(kind) or words.get("invalid") or words["empty"]).format(n=n)


def _confirmation_faults(
    decision: str, confirmations: Mapping[str, str], form: Checklist
) -> Faults:
    """What consent given needs of the confirmations: a yes to each (a blocking answer is
    refused with advice). Nothing is needed of a refusal."""
    faults: Faults = {}
    if decision == "given":
        for item in form.items():
            if not item.answerable:
                continue
            answer = confirmations.get(item.id, "")
            if not answer or check_answer(item, answer):
                faults[f"confirm:{item.id}"] = gettext("Answer yes or no: {prompt}").format(
                    prompt=gettext(item.prompt)
                )
            elif item_blocks(item, answer, None, {}):
                faults[f"confirm:{item.id}"] = gettext(
                    "Online sessions need a yes here. If you cannot say yes, please talk to "
                    "the therapist first, or choose “No, I do not agree” below."
                )
    if set(confirmations) - {i.id for i in form.items()}:
        faults["form"] = gettext(_UNASKED)
    return faults


def date_faults(signed_on: date | None, today: date) -> Faults:
    if signed_on is not None and abs((signed_on - today).days) > 1:
        return {"signed_on": gettext(_TODAY)}
    return {}


def problems(data: ConsentIn, form: Checklist, today: date) -> Faults:
    """What a well-formed answer still lacks, by form field (none: it can be recorded)."""
    faults = _confirmation_faults(data.decision, data.confirmations, form)
    if data.decision == "given" and not data.contacts:
        faults["contact1_name"] = gettext(_NO_CONTACT)
    return faults | date_faults(data.signed_on, today)


def read_form(
    values: Mapping[str, str], form: Checklist, today: date
) -> tuple[ConsentIn | None, Faults]:
    """The consent form as posted, read in one pass: the answer, or every fault at once in
    page order (the confirmations, the contacts, then the answer and who gives it). Until
    the parent chooses, the form is checked as for consent given, so that one more send is
    all a parent who agrees needs."""
    confirmations = {k[8:]: v for k, v in values.items() if k.startswith("confirm:")}
    decision = values.get("decision", "")
    faults = _confirmation_faults(decision or "given", confirmations, form)
    contacts, typed = [], False
    for n in CONTACT_SLOTS:
        slot = {f: values.get(f"contact{n}_{f}", "").strip() for f in CONTACT_FIELDS}
        if not any(slot.values()):
            continue
        typed = True
        try:
            contacts.append(Contact.model_validate(slot))
        except ValidationError as exc:
            for error in exc.errors():
                field = str(error["loc"][0])
                key = "relationship_of_contact" if field == "relationship" else field
                faults.setdefault(f"contact{n}_{field}", _words(key, error, n))
    if decision in ("given", "") and not typed:
        faults["contact1_name"] = gettext(_NO_CONTACT)
    own = {f: values.get(f, "") for f in ("decision", "typed_name", "relationship", "email")}
    try:
        ConsentIn.model_validate(own)
    except ValidationError as exc:
        for error in exc.errors():
            field = str(error["loc"][0])
            faults.setdefault(field, _words(field, error))
    if faults:
        return None, faults
    data = ConsentIn.model_validate({**own, "contacts": contacts, "confirmations": confirmations})
    return data, problems(data, form, today)


def read_withdrawal(values: Mapping[str, str]) -> tuple[WithdrawIn | None, Faults]:
    """The withdrawal form as posted: the parent's name, or what is wrong with it."""
    try:
        return WithdrawIn.model_validate({"typed_name": values.get("typed_name", "")}), {}
    except ValidationError as exc:
        return None, {"typed_name": _words("typed_name", exc.errors()[0])}
