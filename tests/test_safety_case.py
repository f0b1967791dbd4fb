"""The hazard log (docs/clinical-safety.md) and the tests stay together: every test the log
names for a hazard exists and carries that hazard's id, and every hazard id a test carries
is in the log. The security table (docs/security.md) names only tests that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import ROOT

LOG = ROOT / "docs" / "clinical-safety.md"
_HAZARD = re.compile(r"^### (HZ-\d\d) ", re.MULTILINE)
_TESTS_ROW = re.compile(r"^\| tests \| (.+) \|$", re.MULTILINE)
_NAMED = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")
_MARK = re.compile(r"@pytest\.mark\.hazard\(([^)]*)\)")


def hazards() -> dict[str, list[tuple[str, str]]]:
    """Each hazard id with the tests its row names, from the log itself."""
    text = LOG.read_text()
    found: dict[str, list[tuple[str, str]]] = {}
    sections = _HAZARD.split(text)[1:]
    for hazard_id, body in zip(sections[::2], sections[1::2], strict=True):
        row = _TESTS_ROW.search(body)
        assert row, f"{hazard_id} names no tests"
        for quoted in re.findall(r"`([^`]*)`", row.group(1)):  # a name mistyped is no name
            assert _NAMED.fullmatch(f"`{quoted}`"), f"{hazard_id}: {quoted!r} names no test"
        found[hazard_id] = _NAMED.findall(row.group(1))
    return found


def marked(path: Path, test: str) -> set[str]:
    """The hazard ids in the decorators just above ``def test``."""
    lines = path.read_text().splitlines()
    at = next(
        (i for i, line in enumerate(lines) if re.match(rf"(async )?def {test}\(", line)), None
    )
    assert at is not None, f"{path.name} has no {test}"
    ids: set[str] = set()
    i = at - 1
    while i >= 0 and (lines[i].startswith("@") or lines[i].startswith(" ")):
        for match in _MARK.finditer(lines[i]):
            ids |= set(re.findall(r"HZ-\d\d", match.group(1)))
        i -= 1
    return ids


def test_the_log_covers_the_hazards_it_must() -> None:
    log = hazards()
    assert len(log) >= 10
    assert list(log) == sorted(log)
    for hazard_id, named in log.items():
        assert named, f"{hazard_id} names no tests"


@pytest.mark.parametrize("hazard_id", sorted(hazards()))
def test_every_named_test_exists_and_names_its_hazard(hazard_id: str) -> None:
    for file, test in hazards()[hazard_id]:
        assert hazard_id in marked(ROOT / file, test), f"{file}::{test} lacks {hazard_id}"


def test_every_hazard_a_test_names_is_in_the_log() -> None:
    log = hazards()
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        for match in _MARK.finditer(path.read_text()):
            for hazard_id in re.findall(r"HZ-\d\d", match.group(1)):
                assert hazard_id in log, f"{path.name} names {hazard_id}, not in the log"


def test_every_test_the_security_table_names_exists() -> None:
    text = (ROOT / "docs" / "security.md").read_text()
    defined: dict[str, set[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        names = re.findall(r"^(?:async )?def (test_\w+)\(", path.read_text(), re.MULTILINE)
        defined[str(path.relative_to(ROOT))] = set(names)
    everywhere = set().union(*defined.values())
    for file, test in _NAMED.findall(text):
        assert test in defined.get(file, set()), f"security.md names {file}::{test}"
    for test in re.findall(r"`(?:::)?(test_\w+)`", text):
        assert test in everywhere, f"security.md names {test}, which no test file defines"
    for file in re.findall(r"`(tests/[\w/]+\.py)`", text):
        assert file in defined, f"security.md names {file}"
