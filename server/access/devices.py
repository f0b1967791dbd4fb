"""A device as a person recognises it ("Chrome on Android"), from a browser's User-Agent.

Coarse on purpose: the browser's family and the kind of system, never a version, a model
or anything else that would tell one device from another like it. No I/O."""

from __future__ import annotations

# the first marker found names the browser: those built on Chrome say "Chrome" too, and
# Chrome says "Safari", so the more particular come first
_BROWSERS = (
    ("Edg", "Edge"),
    ("OPR/", "Opera"),
    ("SamsungBrowser/", "Samsung Internet"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("CrOS", "ChromeOS"),
    ("Macintosh", "macOS"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)
UNKNOWN = "Unknown device"


def describe(user_agent: str | None) -> str:
    """ "Firefox on Windows", "Safari on iPhone", "Chrome" (system not said), or
    "Unknown device"."""
    agent = (user_agent or "")[:512]
    browser = next((name for mark, name in _BROWSERS if mark in agent), None)
    system = next((name for mark, name in _SYSTEMS if mark in agent), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser:
        return browser
    if system:
        return f"A browser on {system}"
    return UNKNOWN
