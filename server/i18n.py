"""The family's language: which one a page is in, its translations, and its dates.

Family pages (consent, join, the room of the young person and the parent, the ending screen,
a link that no longer works) are in English, Welsh or Arabic. The catalogues are the ``.po``
files under ``server/locales/``, read as the server starts (no compiled ``.mo`` is kept or
built). Staff pages stay English.

A page's language is chosen in this order: the one picked on the page (``?lang=cy``, carried
in the address so that nothing stays on a shared family laptop), the one the therapist set
for the client, the browser's ``Accept-Language``, English.

Other code renders in a language with :func:`install` on its jinja2 ``Environment`` once,
then :func:`render` (or ``with using(lang):`` around its own render); :func:`translations`
gives the ``gettext`` object itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext as gettext_module
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import jinja2
from babel.dates import format_date, format_skeleton, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

SUPPORTED = ("en", "cy", "ar")
DEFAULT = "en"
RIGHT_TO_LEFT = frozenset({"ar"})
LOCALES = Path(__file__).resolve().parent / "locales"
# each language's name in itself, for the switch on family pages (WCAG 3.1.2: each carries
# its own ``lang``)
NAMES = {"en": "English", "cy": "Cymraeg", "ar": "العربية"}
# the page's ``<html lang>``, and Babel's locale for dates
TAGS = {"en": "en-GB", "cy": "cy", "ar": "ar"}
BABEL_LOCALES = {"en": "en_GB", "cy": "cy_GB", "ar": "ar"}
# an Accept-Language header longer than this is read only this far
_HEADER_MAX = 500

_current: contextvars.ContextVar[str] = contextvars.ContextVar("language", default=DEFAULT)


def supported(lang: str | None) -> str | None:
    """``lang`` if it is one of ours (``cy-GB`` counts as ``cy``), else None."""
    if not lang:
        return None
    primary = lang.strip().lower().replace("_", "-").split("-", 1)[0]
    return primary if primary in SUPPORTED else None


def from_header(accept_language: str | None) -> str | None:
    """The language of ours the browser prefers most (``Accept-Language``), or None."""
    best: tuple[float, int, str] | None = None
    for position, part in enumerate((accept_language or "")[:_HEADER_MAX].split(",")):
        tag, _, params = part.partition(";")
        lang = supported(tag)
        if lang is None:
            continue
        quality = 1.0
        match = re.fullmatch(r"\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*", params) if params else None
        if params and match is None:
            continue  # a malformed weight: the tag is left out rather than guessed at
        if match is not None:
            quality = float(match.group(1))
        if quality <= 0:
            continue
        # the highest weight wins; among equal weights, the first listed
        if best is None or (quality, -position) > (best[0], best[1]):
            best = (quality, -position, lang)
    return best[2] if best else None


def negotiate(
    accept_language: str | None, client_lang: str | None = None, chosen: str | None = None
) -> str:
    """The language of a family page: ``chosen`` on the page (``?lang=``), else the one set
    for the client by the therapist, else the browser's, else English."""
    return supported(chosen) or supported(client_lang) or from_header(accept_language) or DEFAULT


def _po(lang: str) -> Path:
    """Where the catalogue of ``lang`` is."""
    return LOCALES / lang / "LC_MESSAGES" / "messages.po"


@functools.cache
def _catalogue(lang: str) -> Catalog:
    """The ``.po`` file of ``lang``, read once."""
    with _po(lang).open("rb") as po:
        return read_po(po, locale=lang)


@functools.cache
def translations(lang: str) -> gettext_module.NullTranslations:
    """The translations of ``lang`` (one of ``SUPPORTED``), read from its ``.po`` file once."""
    if lang not in SUPPORTED:
        raise ValueError(f"not a supported language: {lang!r}")
    if lang == DEFAULT:
        return gettext_module.NullTranslations()
    compiled = io.BytesIO()
    write_mo(compiled, _catalogue(lang))
    compiled.seek(0)
    return Translations(compiled)


@functools.cache
def script_strings(lang: str) -> dict[str, str]:
    """The translations of what family pages' scripts show: their own ``t("...")`` in
    ``web/static/js``, and the server's messages they pass through ``t()`` (marked ``N_``
    in Python), for the page's ``<script type="application/json" id="strings">``."""
    if lang == DEFAULT:
        return {}
    return {
        str(m.id): str(m.string)
        for m in _catalogue(lang)
        if isinstance(m.id, str)
        and m.string
        and not m.fuzzy
        and any(path.endswith((".js", ".py")) for path, _ in m.locations)
    }


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue where it is made; it is translated where it is
    shown (a template's ``translate`` filter, a page script's ``t()``)."""
    return message


def current() -> str:
    """The language of what is being rendered now."""
    return _current.get()


@contextlib.contextmanager
def using(lang: str) -> Iterator[None]:
    """Render in ``lang`` inside this block (a template of an environment passed to
    :func:`install`, or :func:`gettext` called directly)."""
    token = _current.set(lang if lang in SUPPORTED else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def gettext(message: str) -> str:
    """``message`` in the current language."""
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """``singular`` or ``plural``, as ``n`` asks, in the current language."""
    return translations(current()).ngettext(singular, plural, n)


def day(value: date | datetime) -> str:
    """A day as the current language writes it: "Monday 7 December"."""
    return format_skeleton("MMMMEEEEd", value, locale=BABEL_LOCALES[current()])


def long_date(value: date | datetime | str) -> str:
    """A date (or an ISO date's text) with its year: "7 December 2026"."""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return format_date(value, "long", locale=BABEL_LOCALES[current()])


def clock(value: datetime) -> str:
    """A time of day, 24-hour, as the project shows it in every language: "16:05"."""
    return format_time(value, "HH:mm", locale=BABEL_LOCALES[current()])


def install(env: jinja2.Environment) -> None:
    """Check every catalogue is there, and give ``env`` the i18n extension (``{% trans %}``,
    ``_()``) reading the current language; the ``translate`` filter for a message held in a
    variable (a checklist's text, an error), which is never formatted; and the ``day``,
    ``long_date`` and ``clock24`` filters. Each catalogue is read when first used (some
    35 ms for all of them, which a restarted server's first answer need not wait for)."""
    from server.exceptions import ConfigurationError  # which reads its messages from here

    for lang in SUPPORTED:  # a catalogue missing stops start-up here
        if lang != DEFAULT and not _po(lang).is_file():
            raise ConfigurationError(f"The {lang} catalogue is missing: {_po(lang)}.")
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters.update(translate=gettext, day=day, long_date=long_date, clock24=clock)


def render(env: jinja2.Environment, template: str, lang: str, **context: Any) -> str:
    """``template`` of ``env`` (an environment given :func:`install`) rendered in ``lang``:
    an e-mail to a family in their language, for one."""
    with using(lang):
        return env.get_template(template).render(**context)


@dataclass(frozen=True)
class Page:
    """What a family page's template needs to know of its language."""

    lang: str

    @property
    def tag(self) -> str:
        return TAGS[self.lang]

    @property
    def dir(self) -> str:
        return "rtl" if self.lang in RIGHT_TO_LEFT else "ltr"

    @property
    def choices(self) -> list[tuple[str, str, str]]:
        """(code, name in itself, its ``lang`` tag) for each language of the switch."""
        return [(code, NAMES[code], TAGS[code]) for code in SUPPORTED]
