"""Reconnect time with aiortc peers (``tests.client.ProtocolPeer``, sending synthetic audio and
320x240 video, paced by aiortc at 30 frames a second), after a real 3 s network cut.

The young person is a process of its own (``young_aiortc.py``) on a host of its own: a
network namespace joined to this machine by a cable (``tests/netns.py``), as the young
person's browser is in ``bench_reconnect.py``. Cutting the cable silences everything the
young person has: the signalling socket, the data connection to the server (board, control)
and the media to and from the therapist. The therapist is an aiortc participant in this
process, on the machine itself, with the real server process at its default settings (a
silent drop noticed within 2 s, as in ``bench_reconnect.py``).

Nobody tells the young person's process when the network goes or comes back: it notices, as
a page does, that its socket has gone quiet and probes until the network answers, connects
again, resumes with its token, then opens fresh media
connections (aiortc has no ICE restart) and a fresh data connection for the board. While the
cable is cut the therapist draws a stroke, so the board the young person gets back holds
what they missed. Measured, median of 10 rounds (with p90, min and max):

- detection: from the cut to the therapist being told the young person is ``interrupted``;
- media back: from the network coming back to the therapist's first decoded video frame of
  the young person, and the same on the young person's side, on whichever connection: the
  old media connections, which nothing closed during a 3 s cut, carry video again as soon
  as the network does, until the fresh ones replace them (the time to the first frame on
  the young person's fresh connection is recorded too); the media gap is, as the therapist
  sees it, from the last frame before the cut to the first after;
- resumed: from the network coming back to the therapist being told the young person is
  ``reconnected`` (back in the room); and, before it, to the young person's process
  deciding to give its old socket up (a probe answered, or the server's close arrived);
- board restored: from the network coming back to the young person holding the board's
  snapshot, its seq equal to the server's (the therapist's replica, which saw every change).

Every process here reads the same clock (``time.monotonic``, which a network namespace does
not change), so times taken in the young person's process compare with the therapist's."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiortc

from tests.bench.report import summary, write
from tests.bench.server import bench_server
from tests.bench.timedpeer import TimedPeer
from tests.conftest import PASSWORD
from tests.live import LiveStaff, ready_session
from tests.netns import Namespace, available
from tests.scenes import stroke

ROUNDS = 10
CUT = 3.0
HEARTBEAT = "default"


class YoungProcess:
    """The young person's process inside the namespace, and the events it reports."""

    def __init__(self, network: Namespace) -> None:
        self.network = network
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, url: str, token: str) -> None:
        self._process = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", self.network.name,
            sys.executable, "-m", "tests.bench.young_aiortc", url, token,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        async for line in self._process.stdout:
            async with self._changed:
                self.events.append(json.loads(line))
                self._changed.notify_all()
        async with self._changed:
            self.events.append({"event": "exited", "at": time.monotonic()})
            self._changed.notify_all()

    async def next(self, event: str, after: float = 0.0, within: float = 30.0) -> dict[str, Any]:
        """The first ``event`` reported at or after ``after``."""

        def found() -> dict[str, Any] | None:
            for e in self.events:
                if e["event"] == "exited":
                    raise RuntimeError("the young person's process ended (its stderr says why)")
                if e["event"] == event and e["at"] >= after:
                    return e
            return None

        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: found() is not None)
        return found()  # type: ignore[return-value]

    async def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
        if self._reader is not None:
            await self._reader


async def _round(n: int, therapist: TimedPeer, young: YoungProcess, yid: str) -> dict[str, float]:
    network = young.network
    old_frames = [t for a in therapist.video_from(yid) for t in a.frames]
    cut_at = time.monotonic()
    await asyncio.to_thread(network.cut)
    ops = stroke(f"cut-{n}", 100 + 40 * n)  # drawn while the young person is cut off
    target = therapist.board.seq + len(ops)
    for op in ops:
        therapist.draw(op)
    told = await therapist.expect("peer_state", participant=yid, state="interrupted", within=15)
    await therapist.wait_for(lambda: therapist.board.seq >= target)
    await asyncio.sleep(max(0.0, cut_at + CUT - time.monotonic()))
    back_at = time.monotonic()  # taken before: a frame may arrive within a millisecond of it
    await asyncio.to_thread(network.mend)
    back = await therapist.expect("peer_state", participant=yid, state="reconnected")
    lost = await young.next("lost", back_at)
    media = await therapist.frame_after(yid, back_at)
    during_cut = sum(cut_at < t < back_at for a in therapist.video_from(yid) for t in a.frames)
    board = await young.next("board", back_at)
    fresh_young = (await young.next("media", back_at))["at"]
    old_young = (await young.next("old_connection", back_at))["back"]
    media_young = min(t for t in (fresh_young, old_young) if t is not None and t >= back_at)
    assert board["seq"] == therapist.board.seq >= target, (board, therapist.board.seq)
    await young.next("flowing", back_at)
    await therapist.flowing(yid, back_at)  # both ways on the fresh connections
    last_old = max((t for t in old_frames if t <= cut_at), default=cut_at)
    return {
        "detect": (told["_at"] - cut_at) * 1000,
        "media": (media - back_at) * 1000,
        "media_young": (media_young - back_at) * 1000,
        "media_young_fresh": (fresh_young - back_at) * 1000,
        "gap": (media - last_old) * 1000,
        "resumed": (back["_at"] - back_at) * 1000,
        "socket_ended": (lost["at"] - back_at) * 1000,
        "board": (board["at"] - back_at) * 1000,
        "frames_during_cut": float(during_cut),
    }


async def main(rounds: int = ROUNDS) -> dict[str, Any]:
    if not available():
        raise RuntimeError("needs network namespaces (root, iproute2 and tc)")
    network = Namespace().open()
    server = bench_server(
        PLAYROOM_HOST="0.0.0.0",  # noqa: S104 - reached from a host of its own
    )
    staff = LiveStaff(server.url, "bench", PASSWORD)
    young = YoungProcess(network)
    results: dict[str, list[float]] = {}
    therapist: TimedPeer | None = None
    try:
        await staff.sign_in()
        session, links = await ready_session(staff, name="Bench")
        therapist = TimedPeer(await staff.ws())
        await therapist.send({"type": "open_room", "session": session})
        await therapist.expect("room_opened")
        await young.start(f"ws://{network.outer}:{server.port}/ws", links["young_person"])
        yid = (await young.next("joined"))["id"]
        await therapist.send({"type": "admit", "participant": yid})
        await therapist.open_board()
        therapist.start_heartbeat()
        await young.next("ready", within=60)
        await therapist.flowing(yid, 0)
        for n in range(rounds):
            figures = await _round(n, therapist, young, yid)
            for key, value in figures.items():
                results.setdefault(key, []).append(value)
            print(
                f"round {n + 1}: detected {figures['detect']:.0f} ms; after the network came "
                f"back: resumed {figures['resumed']:.0f} ms, media {figures['media']:.0f} ms "
                f"(young side {figures['media_young']:.0f}, gap {figures['gap']:.0f} ms), "
                f"board {figures['board']:.0f} ms",
                flush=True,
            )
        spurious = [m for m in therapist.inbox if m["type"] == "peer_state"]  # not expected
    finally:
        await young.stop()
        if therapist is not None:
            await therapist.close()
        await staff.close()
        server.stop()
        network.close()
    figures_out: dict[str, Any] = {
        "cut_to_detected_ms": summary(results["detect"]),
        "back_to_media_ms": summary(results["media"]),
        "back_to_media_young_side_ms": summary(results["media_young"]),
        "back_to_media_young_side_fresh_connection_ms": summary(results["media_young_fresh"]),
        "media_gap_ms": summary(results["gap"]),
        "back_to_resumed_ms": summary(results["resumed"]),
        "back_to_old_socket_given_up_ms": summary(results["socket_ended"]),
        "back_to_board_restored_ms": summary(results["board"]),
        "therapist_frames_during_cut": summary(results["frames_during_cut"]),
        "other_peer_states": [{k: m.get(k) for k in ("participant", "state")} for m in spurious],
    }
    path = write(
        "reconnect_time_aiortc",
        figures_out,
        {"aiortc": aiortc.__version__, "cut_s": f"{CUT:g}", "heartbeat_s": HEARTBEAT},
    )
    print(f"wrote {path}")
    for name, s in figures_out.items():
        if isinstance(s, dict):
            print(
                f"{name}: median {s['median']:.0f}, p90 {s['p90']:.0f}, "
                f"min {s['min']:.0f}, max {s['max']:.0f} (n={s['n']})"
            )
    if spurious:
        print(f"the therapist was also told: {figures_out['other_peer_states']}")
    return figures_out


if __name__ == "__main__":
    started = time.monotonic()
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS))
    print(f"took {time.monotonic() - started:.0f} s")
