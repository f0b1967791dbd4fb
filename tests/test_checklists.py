"""The checklists: valid, complete against CCAP, and traceable to their sources."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from server.care.checklists import CHECKLISTS, SOURCE_FILES, Kind, load_catalogue, load_file
from server.exceptions import ConfigurationError
from tests.conftest import require
from tests.helpers import ROOT

SEEDS = ROOT.parent / "shared" / "seeds"


def _normal(text: str) -> str:
    for curly, straight in (("‘", "'"), ("’", "'"), ("“", '"'), ("”", '"')):
        text = text.replace(curly, straight)
    return re.sub(r"\s+", " ", text).strip()


def test_every_kind_has_a_current_checklist() -> None:
    catalogue = load_catalogue()
    assert set(catalogue.current) == set(Kind)


def test_every_quote_is_verbatim_in_its_source() -> None:
    require(SEEDS.is_dir(), f"the source guidance at {SEEDS}")
    texts = {doc: _normal((SEEDS / name).read_text()) for doc, name in SOURCE_FILES.items()}
    missing = [
        f"{checklist.key} {item.id}"
        for checklist in load_catalogue().by_key.values()
        for item in checklist.items()
        if _normal(item.source.quote) not in texts[item.source.document]
    ]
    assert missing == []


CCAP_CONSIDERATIONS = {
    # the client
    "client.age_competence",
    "client.environment_safety",
    "client.exclusive_device",
    "client.technology_comfort",
    "client.intervention_fit",
    "client.powerlessness",
    # the therapist
    "therapist.safe_space",
    "therapist.trained",
    "therapist.insurance",
    # the context
    "context.support_network",
    "context.own_room",
    "context.overheard",
    "context.household_order",
    "context.safeguarding_hours",
    # risk
    "risk.third_party_access",
    "risk.equipment_control",
    "risk.consent_before_links",
    "risk.safeguarding_context",
    "risk.external_risk",
    "risk.internal_risk",
    "risk.safety_contract",
    "risk.live_escalation",
    "risk.parent_contact",
    "risk.parent_consultation",
    "risk.content_remaining",
    "risk.data_security",
    "risk.contact_details",
}


def test_the_suitability_checklist_covers_every_ccap_consideration() -> None:
    checklist = load_catalogue()[Kind.SUITABILITY]
    ids = {item.id for item in checklist.items()}
    assert CCAP_CONSIDERATIONS <= ids
    assert all(item.source.document.value == "ccap-2024" for item in checklist.items())


def test_under_twelves_need_rationale_and_sign_off() -> None:
    item = load_catalogue()[Kind.SUITABILITY].item("client.age_competence")
    assert item is not None
    (condition,) = [c for c in item.conditions if c.when.age_under == 12]
    assert {r.value for r in condition.require} == {"rationale", "sign_off"}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for path in CHECKLISTS.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _edit(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc))


def test_an_item_without_a_source_stops_start_up_naming_file_and_field(folder: Path) -> None:
    path = folder / "ccap-suitability-v1.yaml"
    _edit(path, lambda d: d["sections"][0]["items"][2].pop("source"))
    with pytest.raises(ConfigurationError) as info:
        load_catalogue(folder)
    message = str(info.value)
    assert "ccap-suitability-v1.yaml" in message
    assert "sections[client].items[client.environment_safety].source" in message
    assert "Field required" in message


def test_an_unknown_answer_kind_stops_start_up(folder: Path) -> None:
    path = folder / "pre-session-v1.yaml"
    _edit(path, lambda d: d["sections"][0]["items"][0].update(kind="maybe"))
    with pytest.raises(
        ConfigurationError, match=r"pre-session-v1.yaml: field .*\.kind: Input should be"
    ):
        load_catalogue(folder)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda i: i.update(blocking=["perhaps"]), "blocking names answers the item cannot take"),
        (lambda i: i.update(options=["a"]), "only choice items take options"),
        (lambda i: i["source"].update(document="wikipedia"), "Input should be"),
        (lambda i: i.update(conditions=[{"when": {}, "reason": "x"}]), "a condition needs"),
        (lambda i: i.update(id="Bad Id"), "String should match pattern"),
    ],
)
def test_malformed_items_are_refused(folder: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    path = folder / "ccap-suitability-v1.yaml"
    _edit(path, lambda d: change(d["sections"][1]["items"][0]))
    with pytest.raises(ConfigurationError, match=message):
        load_file(path)


def test_a_missing_kind_and_bad_yaml_are_refused(folder: Path) -> None:
    (folder / "consent-v1.yaml").unlink()
    with pytest.raises(ConfigurationError, match="no checklist of kind: consent"):
        load_catalogue(folder)
    (folder / "broken.yaml").write_text("id: [unclosed")
    with pytest.raises(ConfigurationError, match="broken.yaml is not valid YAML"):
        load_catalogue(folder)


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
        max_leaves=30,
    )
)
def test_any_document_is_loaded_or_refused_cleanly(doc: object) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzzed.yaml"
        path.write_text(yaml.safe_dump(doc))
        try:
            load_file(path)
        except ConfigurationError as exc:
            assert "fuzzed.yaml" in str(exc)
