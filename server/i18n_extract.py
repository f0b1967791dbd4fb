"""Gathering the family's messages for the catalogue: the checklists they read (the contract,
the questions before joining, the consent form) as a Babel extractor, and the whole
extraction as ``babel.cfg`` describes it (``make messages`` runs ``pybabel`` over the same).
No I/O beyond reading the sources."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import yaml
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "babel.cfg"
# ``t("...")`` in the family pages' scripts, ``N_("...")`` where Python only marks a message
# that a template translates where it is shown
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "t": None}
# folders no family message is in (as ``pybabel extract --ignore-dirs``)
SKIPPED = ("node_modules", "tests", "media", "docs", "deploy")
# the parts of a checklist a family reads
_TEXT_KEYS = ("title", "intro", "prompt")


def _walk(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _TEXT_KEYS and isinstance(value, str):
                yield value.strip()
            elif key == "options" and isinstance(value, list):
                yield from (str(o).replace("_", " ") for o in value)
            elif key != "source":  # the guidance a line comes from is for staff
                yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def extract_checklist(
    fileobj: IO[bytes], keywords: object, comment_tags: object, options: object
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """A Babel extraction method for a checklist's YAML: its titles, introductions, prompts
    and the words of its options (shown with spaces for underscores)."""
    doc = yaml.safe_load(fileobj.read().decode("utf-8"))
    for text in _walk(doc):
        yield 1, None, text, []


def _wanted(path: str) -> bool:
    name = Path(path).name
    return not (name.startswith((".", "_")) or name in SKIPPED)


def extract(root: Path = ROOT) -> Catalog:
    """The catalogue the sources hold now, as ``pybabel extract -F babel.cfg`` makes it."""
    with CONFIG.open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    catalog = Catalog(project="Playroom", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root), method_map, options_map, keywords=KEYWORDS, directory_filter=_wanted
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog
