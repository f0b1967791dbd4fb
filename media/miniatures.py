"""The sand tray's miniatures: Fluent Emoji Flat (Microsoft, MIT licence), from the npm
package ``@iconify-json/fluent-emoji-flat`` that ``npm ci`` installs in ``node_modules/``,
on the shelves children reach for (``shelves.py``).

Loaded once, on first use; ``create_app`` asks for it, so a library that is not installed
stops start-up with the command to run instead of failing on the first sticker. Each icon is
an iconify *body* (SVG elements) with a width and height, which ``svg()`` makes a document.
A body holding anything but drawing elements and references within itself is never drawn
(none in 1.2.6, checked as each is first drawn): the pictures are served from this origin and
must never carry script.

The 19 drawings of ``media/stickers/`` stay placeable by name, so that stored boards still
replay and render; where the set has the same name (cat, sun, house ...) its picture is the
one shown. Only "family" is on a shelf: the set has no family group.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from media import stickers
from media.shelves import Shelf, arrange, tone
from media.shelves import label as _label
from server.exceptions import ConfigurationError

log = logging.getLogger(__name__)

PACKAGE = "@iconify-json/fluent-emoji-flat"
ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "node_modules" / PACKAGE
INSTALL = "npm ci"
SEARCH_LIMIT = 60  # what one search gives at most
MAX_QUERY = 100  # characters of a query that are read

DOCUMENT = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">'
    "{body}</svg>"
)
FLIP = '<g transform="translate({w} 0) scale(-1 1)">{body}</g>'
# what a body may hold: drawing elements and attributes (no script, style, event handler or
# foreign object), references only to its own ids ("#id"), no entities or declarations
_TAGS = frozenset(
    "path g use defs ellipse rect clipPath circle stop feColorMatrix feBlend filter feFlood "
    "feOffset feGaussianBlur linearGradient radialGradient mask polygon polyline line".split()
)
_ATTRIBUTES = frozenset(
    "d fill fill-rule clip-rule clip-path opacity fill-opacity id href x y x1 y1 x2 y2 cx cy "
    "r rx ry fx fy width height points transform stroke stroke-width stroke-linecap "
    "stroke-linejoin stroke-miterlimit stroke-opacity stop-color stop-opacity offset in in2 "
    "mode values type result filter filterUnits color-interpolation-filters flood-color "
    "flood-opacity dx dy stdDeviation gradientUnits gradientTransform mask maskUnits".split()
)
_VALUE = re.compile(r"\"[^\"]*\"|'[^']*'")
_TAG = re.compile(r"<\s*/?\s*([^\s/>]+)")
_ATTRIBUTE = re.compile(r"\s([A-Za-z_:][\w:.-]*)\s*=")
_REFERENCE = re.compile(r"href\s*=\s*[\"']([^\"']*)|url\(\s*[\"']?([^)\"']*)")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Icon:
    body: str
    width: int
    height: int
    flip: bool = False  # drawn mirrored: an alias of another icon
    hidden: bool = False  # kept by the set for old references, never on a shelf


@dataclass(frozen=True)
class Library:
    """The set as installed, and its shelves."""

    version: str  # of the package: it versions the pictures' URLs
    icons: Mapping[str, Icon]
    shelves: tuple[Shelf, ...]
    labels: Mapping[str, str]  # each name on a shelf -> what people read
    words: Mapping[str, frozenset[str]]  # each name on a shelf -> the words a search finds
    missing: tuple[str, ...]  # names the shelves ask for that the set lacks


def installed() -> dict[str, Any]:
    """The installed set's package.json, checked: start-up calls this, which costs nothing,
    and leaves reading the set itself (9 MB, some 80 ms) to its first use. Raises
    ConfigurationError, naming the command that installs it, when it is not installed or
    not at the version package.json pins."""
    try:
        package = _json(FOLDER / "package.json")
        if not (FOLDER / "icons.json").is_file():
            raise FileNotFoundError(FOLDER / "icons.json")
    except (OSError, ValueError) as exc:
        raise _not_installed() from exc
    pinned = _pinned()
    if pinned is not None and package.get("version") != pinned:
        raise ConfigurationError(
            f"{PACKAGE} {package.get('version')} is installed where package.json pins "
            f"{pinned}: run `{INSTALL}` in {ROOT}."
        )
    return dict(package)


def _not_installed() -> ConfigurationError:
    return ConfigurationError(
        f"The sand tray's miniatures ({PACKAGE}) are not installed in {FOLDER}: "
        f"run `{INSTALL}` in {ROOT} (make serve does)."
    )


@cache
def library() -> Library:
    """The library, read once, when first used. Raises ConfigurationError as ``installed``
    does, and when the set cannot be read."""
    started = time.perf_counter()
    package = installed()
    try:
        icons = _icons(_json(FOLDER / "icons.json"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _not_installed() from exc
    known = icons.keys()
    shelves, missing = arrange(known, {name for name, icon in icons.items() if icon.hidden})
    labels: dict[str, str] = {}
    places: dict[str, list[str]] = {}  # each name -> the shelves it is on
    for shelf in shelves:
        for name in shelf.names:
            labels.setdefault(name, _label(name, known))
            places.setdefault(name, []).append(shelf.label)
    words = {
        name: frozenset(_WORD.findall(" ".join([name, labels[name], *places[name]]).lower()))
        for name in labels
    }
    found = Library(str(package["version"]), icons, shelves, labels, words, tuple(missing))
    log.info(
        "miniatures loaded",
        extra={
            "event": "miniatures_loaded",
            "version": found.version,
            "on_shelves": len(labels),
            "ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    return found


def exists(name: str) -> bool:
    """Whether ``name`` can be placed: any icon of the set, or one of the old drawings."""
    return name in stickers.NAMES or name in library().icons


def label(name: str) -> str:
    """What people read for ``name``: "older woman, medium skin tone"."""
    return library().labels.get(name) or _label(name, library().icons.keys())


def shelves() -> tuple[Shelf, ...]:
    return library().shelves


@cache
def revision() -> str:
    """What versions the pictures as served: the package's version, and a digest of the old
    drawings and of how a document is made (``DOCUMENT``), so that a cached copy kept for a
    year is never one of another picture."""
    digest = hashlib.sha256((DOCUMENT + FLIP).encode())
    for name in sorted(stickers.NAMES):
        digest.update(name.encode() + b"\0" + stickers.FOLDER.joinpath(f"{name}.svg").read_bytes())
    return f"{library().version}-{digest.hexdigest()[:8]}"


@lru_cache(maxsize=512)
def svg(name: str) -> str:
    """A standalone SVG document of miniature ``name``; KeyError for an unknown name."""
    icon = library().icons.get(name)
    if icon is None:
        path = stickers.path_of(name)
        if path is None:
            raise KeyError(name)
        return path.read_text(encoding="utf-8")
    body = icon.body
    if not _safe(body):
        log.warning("miniature not drawn", extra={"event": "miniature_unsafe", "miniature": name})
        raise KeyError(name)
    if icon.flip:
        body = FLIP.format(w=icon.width, body=body)
    return DOCUMENT.format(w=icon.width, h=icon.height, body=body)


def search(query: str, limit: int = SEARCH_LIMIT) -> list[str]:
    """Names on the shelves whose name, label or shelf has, for every word of ``query``, a
    word beginning with it (a plural finds its singular too), case-insensitive: whole-word
    matches first, then people before their skin-tone variants, shorter names before longer
    ones, then in shelf order; at most ``limit`` (and never more than SEARCH_LIMIT)."""
    wanted = _WORD.findall(query[:MAX_QUERY].lower())[:8]
    if not wanted:
        return []
    lib = library()
    scored: list[tuple[int, int, int, int, str]] = []
    for place, (name, words) in enumerate(lib.words.items()):  # in shelf order
        misses = 0
        for word in wanted:
            if word in words:
                continue
            stem = word[:-1] if len(word) > 3 and word.endswith("s") else word
            if not any(w.startswith(word) or w == stem for w in words):
                break
            misses += 1
        else:
            toned = int(tone(name, lib.icons.keys())[1] is not None)
            scored.append((misses, toned, name.count("-"), place, name))
    scored.sort()
    return [name for *_, name in scored[: max(0, min(limit, SEARCH_LIMIT))]]


# -- reading the package


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _pinned() -> str | None:
    """The version the repository's package.json pins (the image copies it too), if any."""
    try:
        version = _json(ROOT / "package.json").get("dependencies", {}).get(PACKAGE)
    except (OSError, ValueError):
        return None
    return version if isinstance(version, str) else None


def _icons(data: dict[str, Any]) -> dict[str, Icon]:
    width, height = int(data.get("width", 16)), int(data.get("height", 16))
    icons: dict[str, Icon] = {}
    for name, icon in data["icons"].items():
        body = str(icon["body"])
        size = int(icon.get("width", width)), int(icon.get("height", height))
        icons[name] = Icon(body, *size, hidden=bool(icon.get("hidden")))
    for name, alias in data.get("aliases", {}).items():
        parent = icons.get(alias["parent"])
        if parent is not None and not alias.get("vFlip") and not alias.get("rotate"):
            icons[name] = Icon(parent.body, parent.width, parent.height, bool(alias.get("hFlip")))
    return icons


def _safe(body: str) -> bool:
    if "&" in body or "<!" in body or "<?" in body:
        return False
    markup = _VALUE.sub('""', body)  # the elements and attribute names, without the values
    if not (set(_TAG.findall(markup)) <= _TAGS and set(_ATTRIBUTE.findall(markup)) <= _ATTRIBUTES):
        return False
    if "href" not in body and "url(" not in body:
        return True
    return all((href or url).startswith("#") for href, url in _REFERENCE.findall(body))
