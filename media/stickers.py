"""The built-in picture library (``media/stickers/*.svg``), placed on the board by name."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "stickers"
NAMES = frozenset(path.stem for path in FOLDER.glob("*.svg"))


def path_of(name: str) -> Path | None:
    """The file of sticker ``name``, or None for a name not in the library."""
    return FOLDER / f"{name}.svg" if name in NAMES else None
