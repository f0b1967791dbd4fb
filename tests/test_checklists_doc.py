"""docs/checklists.md is generated from the checklists' YAML files and kept in step with them."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest
import yaml

from server.care import checklists_doc
from server.care.checklists import CHECKLISTS, AnswerKind, Document
from server.cli import _checklists_doc
from tests.helpers import cli_env, run_cli


def test_the_committed_document_is_what_the_yaml_files_give() -> None:
    expected = checklists_doc.render(*checklists_doc.read())
    committed = checklists_doc.DOC.read_text(encoding="utf-8")
    assert committed == expected, (
        "docs/checklists.md is out of date with checklists/*.yaml: "
        f"run `{checklists_doc.COMMAND}` and commit the result"
    )


def test_it_says_it_is_generated_and_by_what() -> None:
    first = checklists_doc.render(*checklists_doc.read()).splitlines()[0]
    assert "checklists/*.yaml" in first
    assert checklists_doc.COMMAND in first
    assert "do not edit by hand" in first


def test_every_item_of_every_checklist_has_a_row() -> None:
    catalogue, files = checklists_doc.read()
    text = checklists_doc.render(catalogue, files)
    rows = {line.split(" | ")[0] for line in text.splitlines() if line.startswith("| `")}
    for checklist in catalogue.by_key.values():
        assert f"— `{files[checklist.key]}`" in text
        for item in checklist.items():
            assert f"| `{item.id}`" in rows, f"{checklist.key} {item.id}"
            assert item.source.quote in text


def test_every_answer_kind_and_source_document_is_described() -> None:
    text = checklists_doc.render(*checklists_doc.read())
    for kind in AnswerKind:
        assert f"| `{kind.value}` | {checklists_doc.ANSWERS[kind]} |" in text
    for document in Document:
        assert f"| `{document.value}` | {checklists_doc.DOCUMENTS[document]} |" in text


def test_rendering_is_deterministic() -> None:
    once = checklists_doc.render(*checklists_doc.read())
    assert checklists_doc.render(*checklists_doc.read()) == once
    assert once.endswith("\n") and not once.endswith("\n\n")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    copy = tmp_path / "checklists"
    copy.mkdir()
    for path in CHECKLISTS.glob("*.yaml"):
        shutil.copy(path, copy / path.name)
    return copy


def test_a_yaml_change_changes_the_document(folder: Path) -> None:
    before = checklists_doc.render(*checklists_doc.read(folder))
    path = folder / "pre-join-v1.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["sections"][0]["items"][0]["prompt"] = "Where are | you today?\nTell us."
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    after = checklists_doc.render(*checklists_doc.read(folder))
    assert after != before
    # a pipe or a line break in the YAML must not break the table row
    assert "| `where.place` | Where are \\| you today? Tell us. |" in after


def test_a_new_version_is_listed_and_the_old_one_marked_superseded(folder: Path) -> None:
    doc = yaml.safe_load((folder / "pre-join-v1.yaml").read_text(encoding="utf-8"))
    doc["version"] = 2
    (folder / "pre-join-v2.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    catalogue, files = checklists_doc.read(folder)
    assert files["pre-join@2"] == "pre-join-v2.yaml"
    text = checklists_doc.render(catalogue, files)
    assert text.index("`pre-join-v1.yaml`") < text.index("`pre-join-v2.yaml`")
    assert "Superseded by `pre-join@2`" in text
    assert text.count("Superseded by") == 1


def test_the_command_writes_then_checks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "checklists.md"
    monkeypatch.setattr(checklists_doc, "DOC", target)
    write = argparse.Namespace(check=False, stdout=False)
    check = argparse.Namespace(check=True, stdout=False)
    assert _checklists_doc(check) == 1  # no file yet
    assert not target.exists()
    assert _checklists_doc(write) == 0
    assert target.read_text(encoding="utf-8") == checklists_doc.render(*checklists_doc.read())
    assert _checklists_doc(check) == 0
    target.write_text(target.read_text(encoding="utf-8") + "edited by hand\n", encoding="utf-8")
    capsys.readouterr()
    assert _checklists_doc(check) == 1
    assert f"run `{checklists_doc.COMMAND}`" in capsys.readouterr().err
    assert _checklists_doc(write) == 0
    assert _checklists_doc(check) == 0


def test_the_command_needs_no_database_or_keys(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = cli_env(data)
    checked = run_cli("checklists-doc", "--check", env=env)
    assert checked.returncode == 0, checked.stderr
    printed = run_cli("checklists-doc", "--stdout", env=env)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == checklists_doc.DOC.read_text(encoding="utf-8")
    assert not data.exists()  # no database, no key file
    both = run_cli("checklists-doc", "--check", "--stdout", env=env)
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
