"""Connection quality as the pages measure it (getStats: round-trip time, packet loss, frame
rate), kept per link while the room is live and written to the session's log as one summary
per link when the session ends: the supervisor's timeline shows how the connection was,
without a log entry every few seconds."""

from __future__ import annotations

from dataclasses import dataclass

from server.audit.sessionlog import SessionLog, participant_actor, session_stream, staff_actor
from server.live.rooms import Participant, Room

MAX_LINKS = 8  # a room holds six people: each reports on at most five others


@dataclass
class LinkQuality:
    samples: int = 0
    rtt_total: float = 0.0
    rtt_samples: int = 0
    rtt_max: float = 0.0
    loss_total: float = 0.0
    loss_max: float = 0.0

    def add(self, rtt_ms: float | None, loss: float) -> None:
        self.samples += 1
        if rtt_ms is not None:
            self.rtt_total += rtt_ms
            self.rtt_samples += 1
            self.rtt_max = max(self.rtt_max, rtt_ms)
        self.loss_total += loss
        self.loss_max = max(self.loss_max, loss)

    def summary(self) -> dict[str, float | int | None]:
        return {
            "samples": self.samples,
            "rtt_mean_ms": round(self.rtt_total / self.rtt_samples) if self.rtt_samples else None,
            "rtt_max_ms": round(self.rtt_max),
            "loss_mean_pct": round(100 * self.loss_total / self.samples, 1),
            "loss_max_pct": round(100 * self.loss_max, 1),
        }


def record_sample(reporter: Participant, peer: str, rtt_ms: float | None, loss: float) -> None:
    stats = reporter.quality.get(peer)
    if stats is None:
        if len(reporter.quality) >= MAX_LINKS:
            return
        stats = reporter.quality[peer] = LinkQuality()
    stats.add(rtt_ms, loss)


async def write_summaries(log: SessionLog, room: Room) -> None:
    """One log entry per measured link; called before the session's log is sealed."""
    for reporter in room.participants.values():
        for peer_id, stats in reporter.quality.items():
            peer = room.participants.get(peer_id)
            if peer is None or not stats.samples:
                continue
            actor = (
                staff_actor(reporter.user_id)
                if reporter.user_id
                else participant_actor(reporter.role.value, reporter.id)
            )
            await log.append(
                session_stream(room.session_id),
                "quality.summary",
                actor,
                {"role": reporter.role.value, "peer_role": peer.role.value, **stats.summary()},
            )
        reporter.quality.clear()
