"""The group's rules for who speaks (Zoom-or-Room, groups: "Have clear ground rules e.g.
whether cameras and mics are on or off, who can speak when"): microphones the therapist
turned off, whether people may turn theirs back on, raised hands in the order they went up,
and the one person in the spotlight. State only, touching no socket; the signalling edge
(``edge/floor.py``) turns messages into calls here and tells the pages.

What the floor holds is kept by ids: a person who leaves is taken off it (``gone``), and one
who comes back after a dropped connection finds it as it was (their hand still up, their
microphone still held off while the rule says so)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from server.access.ratelimit import RateLimiter
from server.exceptions import ProtocolError

# a hand goes up or down at most this often, each person (a flood is refused, and changes
# nothing anyone else sees)
HAND_RATE = 1  # a second
HAND_BURST = 4


@dataclass
class Floor:
    """Who is held muted, whether they may unmute themselves, whose hands are up (in order)
    and who is in the spotlight."""

    allow_unmute: bool = True
    muted: set[str] = field(default_factory=set)  # held off by the therapist, not turned on since
    hands: dict[str, float] = field(default_factory=dict)  # id -> when raised; in raising order
    spotlight: str | None = None
    rates: RateLimiter = field(
        default_factory=lambda: RateLimiter(HAND_RATE, 1, burst=HAND_BURST, max_keys=64)
    )

    def mute_all(self, ids: list[str], allow_unmute: bool) -> None:
        """Everyone named (all but the therapist) muted now; the rule for turning back on."""
        self.muted = set(ids)
        self.allow_unmute = allow_unmute

    def allow(self, allowed: bool) -> None:
        """Whether people may turn their microphones back on themselves."""
        self.allow_unmute = allowed

    def arrives(self, pid: str) -> bool:
        """Someone let into the room, or back in it: whether their microphone is held off.
        While people may not unmute themselves, anyone who comes in comes in muted."""
        if not self.allow_unmute:
            self.muted.add(pid)
        return pid in self.muted

    def mic(self, pid: str, on: bool) -> None:
        """Their page says their microphone is on or off; turning it on against the rule is
        refused (their page is told to keep it off)."""
        if not on:
            return
        if pid in self.muted and not self.allow_unmute:
            raise ProtocolError(
                "held_muted",
                "Your therapist has asked everyone to keep their microphones off for now. "
                "You can raise your hand or write in the chat.",
            )
        self.muted.discard(pid)

    def hand(self, pid: str, raised: bool) -> bool:
        """Raise or lower one's own hand; True when that changed something. Refused, before
        anything changes, when it goes up and down too often."""
        if not self.rates.allow(pid):
            raise ProtocolError("rate_limited", "Too many hands up and down; slow down.")
        if raised == (pid in self.hands):
            return False
        if raised:
            self.hands[pid] = time.time()
        else:
            del self.hands[pid]
        return True

    def lower(self, pid: str) -> None:
        """The therapist lowers someone's hand."""
        if pid not in self.hands:
            raise ProtocolError("no_hand", "Their hand is not raised.")
        del self.hands[pid]

    def raised(self) -> list[str]:
        """The hands up, first raised first."""
        return list(self.hands)

    def gone(self, pid: str) -> bool:
        """Someone left the room (or went back to the waiting room): their hand comes down
        and a spotlight on them goes. True when the others should be told."""
        changed = self.hands.pop(pid, None) is not None
        self.muted.discard(pid)
        if self.spotlight == pid:
            self.spotlight = None
            changed = True
        return changed
