"""Screen sharing in a room: who may share, whose share is on, and which media streams a
person's descriptions may carry. State only, touching no socket (``edge/sharing.py`` sends).

The therapist may always share a tab, a window or a screen; a young person or a parent
only while the therapist allows it; an observer never. One share is on at a time: the
therapist's takes the place of anyone else's, someone else's waits for the one on to end.
A share is announced before its media is added (``share_start``, naming the stream that will
carry it), so the server knows it is on before any description carries it, and refuses a
description carrying a stream nobody announced (``unannounced_share``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from server.access.ratelimit import RateLimiter
from server.exceptions import Forbidden, ProtocolError
from server.live.rooms import Participant, Role

# shares a person may start in a minute (a page that starts and stops over and over would
# keep everyone's screen jumping), and the ended shares of theirs still let through: a
# description made just before a share ended may still carry it (the page stops the track
# when it is told, and its next description has it no more)
STARTS_PER_MINUTE = 6
ENDED_KEPT = 4


@dataclass(frozen=True)
class Share:
    """A share that is on: whose, and the media stream that carries it."""

    participant: str
    stream: str


@dataclass
class Sharing:
    """One room's screen sharing."""

    # the young people and parents the therapist lets share (the therapist always may)
    allowed: set[str] = field(default_factory=set)
    on: Share | None = None
    ended: dict[str, list[str]] = field(default_factory=dict)  # person -> streams just ended
    clock: Callable[[], float] = time.monotonic
    starts: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.starts = RateLimiter(STARTS_PER_MINUTE, 60, max_keys=16, clock=self.clock)

    def may_share(self, person: Participant) -> bool:
        if person.role is Role.THERAPIST:
            return True
        return person.role is not Role.OBSERVER and person.id in self.allowed

    def start(self, person: Participant, stream: str) -> Share | None:
        """``person`` announces a share carried by ``stream``; the share it takes the place of
        (the therapist's over someone else's, or their own earlier one), if any."""
        if person.role is Role.OBSERVER:
            raise ProtocolError("share_not_allowed", "An observer does not share a screen.")
        if not self.may_share(person):
            raise ProtocolError(
                "share_not_allowed",
                "Your therapist has not turned screen sharing on for you. Ask them first.",
            )
        on = self.on
        if on is not None and on.participant != person.id and person.role is not Role.THERAPIST:
            raise ProtocolError(
                "share_busy", "Someone is sharing their screen. Wait until they stop."
            )
        if not self.starts.allow(person.id):
            raise ProtocolError(
                "share_too_often", "Screen sharing was started too often. Wait a minute."
            )
        if on is not None:
            self._end(on)
        self.on = Share(person.id, stream)
        return on

    def stop(self, actor: Participant, participant_id: str | None) -> Share:
        """End a share: one's own, or (the therapist) anyone's."""
        whose = participant_id or actor.id
        if whose != actor.id and actor.role is not Role.THERAPIST:
            raise Forbidden("Only the therapist can stop someone else's share.")
        on = self.on
        if on is None or on.participant != whose:
            raise ProtocolError("no_share", "That person is not sharing their screen.")
        self._end(on)
        return on

    def allow(self, actor: Participant, person: Participant, allowed: bool) -> Share | None:
        """The therapist lets ``person`` share, or stops letting them: their share, if on,
        ends (returned)."""
        if actor.role is not Role.THERAPIST:
            raise Forbidden("Only the therapist decides who may share their screen.")
        if person.role not in (Role.YOUNG_PERSON, Role.PARENT):
            raise ProtocolError(
                "share_not_allowed", "Only a young person or a parent can be let share."
            )
        if allowed:
            self.allowed.add(person.id)
            return None
        self.allowed.discard(person.id)
        on = self.on
        if on is not None and on.participant == person.id:
            self._end(on)
            return on
        return None

    def gone(self, person: Participant) -> Share | None:
        """``person`` left the room, dropped or went back to the waiting room: their share,
        if on, ends (returned)."""
        on = self.on
        if on is None or on.participant != person.id:
            return None
        self._end(on)
        return on

    def streams(self, person: Participant) -> set[str]:
        """The streams of ``person``'s shares their descriptions may carry: the one on, and
        those just ended."""
        streams = set(self.ended.get(person.id, ()))
        if self.on is not None and self.on.participant == person.id:
            streams.add(self.on.stream)
        return streams

    def unannounced(self, person: Participant, sending: set[str]) -> set[str]:
        """The streams ``sending`` (those a description of ``person``'s sends) carries beyond
        their camera and microphone (one stream) and their announced shares: empty when
        nothing is shown that was not announced."""
        others = sending - self.streams(person)
        return others if len(others) > 1 else set()

    def _end(self, share: Share) -> None:
        self.on = None
        kept = self.ended.setdefault(share.participant, [])
        kept.append(share.stream)
        del kept[:-ENDED_KEPT]
