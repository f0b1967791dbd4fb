"""The next TOTP code a test signs in with, for every test client (``tests/conftest.py``,
``tests/live.py``, ``tests/browser/conftest.py``).

Each code works once, so a test that signs in again steps forward. The server accepts the
step before its current one, the current one and the next (``Accounts._matching_step``).
Starting from the step before leaves room for more sign-ins within one 30 s window, but a
code from the step before, chosen just before a 30 s boundary and checked just after it,
is two steps old and refused: the step is chosen to be good for MARGIN seconds more."""

from __future__ import annotations

import time

import pyotp

STEP = 30
MARGIN = 5.0  # the longest a test takes from choosing a code to the server checking it


def next_step(last: int, now: float | None = None) -> int:
    """The step of the next code to send, after ``last``."""
    now = time.time() if now is None else now
    return max(int((now + MARGIN) // STEP) - 1, last + 1)


def wait_for(step: int, now: float | None = None) -> float:
    """How long before the server takes ``step`` (it takes the current step and the one after
    it): nothing, unless one test has signed in more often than one window holds (three
    codes; only two when chosen within MARGIN of a boundary), when the next window must come.
    TOTP is the wall clock's: a code for later cannot be made good sooner."""
    now = time.time() if now is None else now
    return max(0.0, (step - 1) * STEP - now)


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret).at(step * STEP)


def take(secret: str, last: int) -> tuple[int, str]:
    """The step and code of the next sign-in after ``last``, good when it is sent."""
    step = next_step(last)
    time.sleep(wait_for(step))  # a wall-clock window, not a timer a test could shorten
    return step, code_at(secret, step)
