"""The signals that feed a participant's state while their socket stays up: the control
channel's heartbeat and the browser's reports of its connections; and what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from server.settings import Settings
from tests.client import ProtocolPeer
from tests.scenes import Scene

SILENCE = 1.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"control_timeout_seconds": SILENCE})


def _state_in_lobby(peer: ProtocolPeer, pid: str, state: str) -> bool:
    def has(message: dict[str, Any]) -> bool:
        return message["type"] == "lobby" and any(
            p["id"] == pid and p["state"] == state for p in message["present"]
        )

    return any(has(m) for m in peer.inbox)


async def test_a_silent_control_channel_interrupts_and_its_return_reconnects(
    scene: Scene,
) -> None:
    therapist, young = scene.therapist, scene.young
    yid = young.me["id"]  # type: ignore[index]
    await young.send({"type": "media_state", "peer": "server", "state": "connected"})
    await therapist.wait_for(lambda: _state_in_lobby(therapist, yid, "connected"))
    young.start_heartbeat(0.2)
    await young.wait_for(lambda: young.pongs > 0)
    young.stop_heartbeat()  # the data connection goes quiet; the socket stays up
    await therapist.expect("peer_state", participant=yid, state="interrupted", within=SILENCE + 3)
    young.start_heartbeat(0.2)
    await therapist.expect("peer_state", participant=yid, state="reconnected", within=3)
    await therapist.wait_for(lambda: _state_in_lobby(therapist, yid, "connected"))


async def test_the_browser_reports_its_server_link_failing_and_back(scene: Scene) -> None:
    therapist, young = scene.therapist, scene.young
    yid = young.me["id"]  # type: ignore[index]
    await young.send({"type": "media_state", "peer": "server", "state": "failed"})
    await therapist.expect("peer_state", participant=yid, state="interrupted")
    await young.send({"type": "media_state", "peer": "server", "state": "connected"})
    await therapist.expect("peer_state", participant=yid, state="reconnected")


async def test_forged_and_flooded_reports_are_refused_and_the_room_goes_on(scene: Scene) -> None:
    therapist, young = scene.therapist, scene.young
    await young.send({"type": "media_state", "peer": "ab" * 8, "state": "connected"})
    assert (await young.expect("error"))["code"] == "unknown_peer"
    await young.send({"type": "media_state", "peer": "server", "state": "asleep"})
    assert (await young.expect("error"))["code"] == "bad_message"
    for n in range(120):  # a flood of heartbeats and reports
        state = "connected" if n % 2 else "connecting"
        await young.send({"type": "media_state", "peer": "server", "state": state})
        await young.send({"type": "ping", "n": n})
    await young.wait_for(
        lambda: any(m.get("code") == "rate_limited" for m in young.inbox), within=5
    )
    young.draw({"op": "sticker", "id": "after-flood", "name": "cat", "x": 5, "y": 5})
    await therapist.wait_for(lambda: "after-flood" in therapist.board.elements)


async def test_signals_to_someone_interrupted_are_dropped_quietly(scene: Scene) -> None:
    therapist, young = scene.therapist, scene.young
    yid = young.me["id"]  # type: ignore[index]
    await young.ws.close()  # their socket drops: their place is held
    await therapist.expect("peer_state", participant=yid, state="interrupted")
    candidate = {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}
    await therapist.send({"type": "signal", "to": yid, "candidate": candidate})
    await therapist.send({"type": "ping", "n": 7})
    await therapist.expect("pong", n=7)
    assert not [m for m in therapist.inbox if m["type"] == "error"]
