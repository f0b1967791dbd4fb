"""The README's map of the tree names every module, so a newcomer finds any module from the
README in two steps (its folder's row, then the file); its table of settings names every
setting with the default the code has."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _section() -> str:
    text = (ROOT / "README.md").read_text()
    return text[text.index("## Where things are") : text.index("## Documentation")]


def test_the_readme_names_every_module_in_its_folders_row() -> None:
    rows = {
        m.group(1): m.group(2) for m in re.finditer(r"^\| `([a-z/]+/)` \| (.*)$", _section(), re.M)
    }
    missing = []
    for folder in ("server", "media"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts or path.name in ("__init__.py", "__main__.py"):
                continue
            row = rows.get(f"{relative.parent}/", "")
            if f"`{path.name}`" not in row:
                missing.append(str(relative))
    assert not missing, f"not named in README.md's 'Where things are': {missing}"


def test_the_javascript_modules_are_named_too() -> None:
    section = _section()
    missing = [
        p.name
        for p in sorted((ROOT / "web/static/js").glob("*.js"))
        if f"`{p.name}`" not in section
    ]
    assert not missing, f"not named in README.md's 'Where things are': {missing}"


def test_the_readme_names_every_setting_with_its_default() -> None:
    from server.settings import Settings

    named: set[str] = set()
    wrong = []
    for row in re.finditer(
        r"^\| (`PLAYROOM_[^|]*) \| ([^|]*) \|", (ROOT / "README.md").read_text(), re.M
    ):
        names = re.findall(r"`PLAYROOM_([A-Z_]+)`", row.group(1))
        defaults = [d.strip() for d in re.split(r",(?![^\[]*\])", row.group(2))]
        named.update(name.lower().split("__")[0] for name in names)
        for name, default in zip(names, defaults, strict=False):  # "unset" may stand for all
            field = name.lower().split("__")[0]
            plain = re.fullmatch(r"`([^`]+)`", default)
            if "__" in name or field not in Settings.model_fields or plain is None:
                continue  # a nested setting, or one that says in words what it falls back to
            code = Settings.model_fields[field].default
            if code is None:
                continue  # unset, the README says what it is made from (DATA_DIR/keys.json)
            if str(code).lower().replace(" ", "") != plain.group(1).lower().removesuffix(".0"):
                if not (isinstance(code, float) and float(plain.group(1)) == code):
                    wrong.append(f"PLAYROOM_{name}: README {plain.group(1)}, code {code!r}")
    missing = sorted(set(Settings.model_fields) - named)
    assert not missing, f"settings missing from README.md's table: {missing}"
    assert not wrong, wrong


def test_the_licence_file_is_the_licence_the_package_names() -> None:
    """pyproject.toml names AGPL-3.0-or-later; LICENSE holds that licence's whole text, with
    the "or any later version" grant."""
    named = re.search(r'license = \{ text = "([^"]+)" \}', (ROOT / "pyproject.toml").read_text())
    assert named is not None and named.group(1) == "AGPL-3.0-or-later"
    text = (ROOT / "LICENSE").read_text()
    assert "GNU AFFERO GENERAL PUBLIC LICENSE" in text and "Version 3, 19 November 2007" in text
    assert "either version 3 of the License, or" in text and "any later version" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the whole licence, not a pointer to it
