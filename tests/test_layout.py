"""The README's map of the tree names every module, so a newcomer finds any module from the
README in two steps (its folder's row, then the file)."""

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


def test_the_licence_file_is_the_licence_the_package_names() -> None:
    """pyproject.toml names AGPL-3.0-or-later; LICENSE holds that licence's whole text, with
    the "or any later version" grant."""
    named = re.search(r'license = \{ text = "([^"]+)" \}', (ROOT / "pyproject.toml").read_text())
    assert named is not None and named.group(1) == "AGPL-3.0-or-later"
    text = (ROOT / "LICENSE").read_text()
    assert "GNU AFFERO GENERAL PUBLIC LICENSE" in text and "Version 3, 19 November 2007" in text
    assert "either version 3 of the License, or" in text and "any later version" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the whole licence, not a pointer to it
