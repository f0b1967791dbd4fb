"""The 19 drawings made for Playroom before the sand tray's library (``media/stickers/*.svg``).

Boards stored since then name them, so every name stays placeable, replays and renders
(``media/miniatures.py`` resolves them after the library's own icons: cat, dog, fish, house,
person, sun, cloud, star, angry-face and worried-face are drawn as the library draws them
now). The join page's rating faces are served from here as they always were. Only "family"
is on a shelf, since the library has no family group; the others are not offered any more.
"""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent / "stickers"
NAMES = frozenset(path.stem for path in FOLDER.glob("*.svg"))


def path_of(name: str) -> Path | None:
    """The file of sticker ``name``, or None for a name not in the library."""
    return FOLDER / f"{name}.svg" if name in NAMES else None
