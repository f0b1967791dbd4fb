"""A member of a room's board: a participant's link to it (their data connection or their
signalling socket), and what the board keeps about that link."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from media.transfer import Transfers


class Link(Protocol):
    """What carries a member's channels: their data connection (``ServerPeer``) or, as a
    fallback, their signalling socket (``server/edge/board.py``, the board only). Messages
    come to it encoded (``messages.dump_reply``): a change is encoded once for everyone."""

    def send(self, label: str, data: str | bytes) -> bool: ...
    async def close(self) -> None: ...
    async def drained(self, label: str, low: int) -> None:
        """Once at most ``low`` bytes wait to go on ``label``, or the link is closed."""


@dataclass
class Member:
    """A participant's link to the board (data connection or socket), as the board sees it."""

    author: str  # stable across reconnects: the link, or the therapist's account
    therapist: bool  # may clear, lock items, and move what is locked
    peer: Link
    # whether what it sends is taken at all: a guest's only once the therapist gave them
    # the board (``edge/guests.py``), changed while the link is open
    writes: bool = True
    transfers: Transfers = field(default_factory=Transfers)
    # the pictures this link has yet to send as it opened, in order: those the page lacks (a
    # link that takes the board over from this one sends what is left)
    owed: list[str] = field(default_factory=list)
    handed_from: Link | None = None  # the link it took over from, still writing its last
