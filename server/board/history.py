"""A board's recent changes, as they were fanned out: what brings a page that was away for
a moment (a dropped socket, a network cut, a data connection handed back) from the ``seq``
it holds to now with only what changed, instead of the whole board again. No I/O.

Each change is kept as the text the board already made to send it (``RoomBoard._fan_out``
encodes a change once, for everyone), with the pictures it put on the board, so that the
page is sent those pictures and no others. The history is bounded by what its changes
weigh, not by how many there are; past the bound the oldest go, and a page further behind
than what is left gets the whole board, as it would without a history.

A history vouches for the changes after its ``floor`` only: a board starts one when it is
loaded, so that a server that starts (perhaps a newer one, whose changes are its own to
vouch for) sends a page that comes back to it the whole board.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import cast

from media.changes import AnyChange, SetElement

# about 10 s of drawing by several people at a page's rate (a stroke of about a second, once
# a second, is a change of about 1.4 KiB: three people for 10 s make 42 KiB), several times
# the time a page takes to notice a silent drop and come back (2 to 5 s); a page further
# behind gets the whole board. Each loaded board holds at most this much besides its board.
HISTORY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Recent:
    """One change as it was fanned out: its number, its text, the pictures it placed."""

    seq: int
    data: str
    pictures: tuple[str, ...]


class History:
    """A board's latest changes, every one after ``floor`` up to ``seq``, in order."""

    def __init__(self, seq: int = 0, limit: int = HISTORY_BYTES) -> None:
        self.limit = limit
        self.floor = seq  # every change after this one is here
        self.seq = seq  # the last change here
        self.size = 0  # the characters of the changes held
        # each change a plain tuple of its number, its text and its pictures' ids: one the
        # garbage collector stops tracking (a ``Recent`` is made only when one is asked for)
        self._recent: deque[tuple[int, str, tuple[str, ...]]] = deque()

    def restart(self, seq: int) -> None:
        """Forget every change: from now on the history holds those after ``seq``."""
        self._recent.clear()
        self.size = 0
        self.floor = self.seq = seq

    def add(self, seq: int, data: str, pictures: Iterable[str] = ()) -> None:
        """Change ``seq``, as fanned out; the oldest go once they weigh more than the bound."""
        if seq != self.seq + 1:
            self.restart(seq - 1)  # a change missed: nothing before this one is vouched for
        self._recent.append((seq, data, tuple(pictures)))
        self.size += len(data)
        self.seq = seq
        while self.size > self.limit:
            oldest, text, _ = self._recent.popleft()
            self.size -= len(text)
            self.floor = oldest

    def after(self, since: int) -> list[Recent] | None:
        """Every change after ``since``, in order (none when ``since`` is the last one), or
        None when the history does not hold them all: ``since`` older than what is left,
        or ahead of the board."""
        if since < self.floor or since > self.seq:
            return None
        return [Recent(*recent) for recent in islice(self._recent, since - self.floor, None)]


def placed(changes: list[AnyChange]) -> list[str]:
    """The pictures ``changes`` put on the board, by their stored objects' ids."""
    found = []
    for change in changes:
        if "set" in change:
            element = cast(SetElement, change)["set"]
            if element["kind"] == "picture":
                found.append(element["data"]["object"])
    return found
