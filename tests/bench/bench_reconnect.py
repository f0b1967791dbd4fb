"""Reconnect time in Chromium: the young person's browser is frozen for 3 s (SIGSTOP on all
its processes, as a laptop lid closing; loopback traffic between two local browsers cannot
be cut by other means here without root-only network namespaces), then thawed. Measured on
the therapist's page, median of 5:

- detection: from the freeze to the therapist being told "reconnecting";
- media back: from the thaw to the first new frame of the young person's video;
- resumed: from the thaw to the therapist being told the young person is back;
- board restored: from the thaw to the young person's page holding the board's snapshot.

The server runs with a 1 s WebSocket heartbeat (a drop noticed within 1.5 s): with the
default 3 s heartbeat a 3 s freeze is noticed only about half the time, and when it is not,
nothing needs to reconnect."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from tests.bench.report import summary, write
from tests.browser.conftest import CHROMIUM, FLAGS
from tests.browser.frozen import Frozen
from tests.browser.session_flow import (
    admit,
    first_frame_from,
    my_id,
    open_room,
    prepare,
    therapist_page,
    walk_in,
)
from tests.helpers import ServerProcess, cli_env, run_cli

ROUNDS = 5
FREEZE = 3.0


def _told(page: Page, participant: str, state: str, after: float) -> float:
    page.wait_for_function(
        "([id, s, t]) => window.playroom.peerStates.some("
        "(e) => e.participant === id && e.state === s && e.at >= t)",
        arg=[participant, state, after],
        timeout=60000,
    )
    return float(
        page.evaluate(
            "([id, s, t]) => window.playroom.peerStates.find("
            "(e) => e.participant === id && e.state === s && e.at >= t).at",
            [participant, state, after],
        )
    )


def _after(page: Page, expression: str, after: float) -> float:
    """The first time in the list ``expression`` at or after ``after``."""
    check = f"(t) => ({expression}).some((x) => x >= t)"
    page.wait_for_function(check, arg=after, timeout=60000)
    return float(page.evaluate(f"(t) => ({expression}).find((x) => x >= t)", after))


def main(rounds: int = ROUNDS) -> dict[str, dict[str, float]]:
    data = Path(tempfile.mkdtemp(prefix="playroom-bench-")) / "data"
    env = cli_env(data, PLAYROOM_LOG_LEVEL="WARNING", PLAYROOM_HEARTBEAT_SECONDS="1")
    assert run_cli("migrate", env=env).returncode == 0
    server = ServerProcess(env)
    server.wait_ready()
    detect, media, resumed, board = [], [], [], []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            frozen = Frozen(playwright)
            context, therapist, _ = therapist_page(browser, server, "bench-therapist")
            session = prepare(therapist, server, name="Bench")
            open_room(therapist, server, session)
            young = frozen.browser.new_context().new_page()
            walk_in(young, session.links["young_person"])
            admit(therapist, "Young person")
            yid = my_id(young)
            first_frame_from(therapist, yid)
            for _ in range(rounds):
                frozen_at = time.time() * 1000
                frozen.freeze(FREEZE)
                thawed_at = time.time() * 1000
                detect.append(_told(therapist, yid, "interrupted", frozen_at) - frozen_at)
                back = _told(therapist, yid, "reconnected", thawed_at)
                resumed.append(back - thawed_at)
                gaps = f"window.playroom.frameGaps[{yid!r}] || []"
                media.append(_after(therapist, gaps, thawed_at) - thawed_at)
                snapshots = "window.playroom.board.snapshots"
                board.append(_after(young, snapshots, thawed_at) - thawed_at)
            version = browser.version
            context.close()
            frozen.browser.close()
            browser.close()
    finally:
        server.stop()
    figures = {
        "freeze_to_detected_ms": summary(detect),
        "thaw_to_media_back_ms": summary(media),
        "thaw_to_resumed_ms": summary(resumed),
        "thaw_to_board_restored_ms": summary(board),
    }
    path = write(
        "reconnect_time_chromium",
        figures,
        {"chromium": version, "freeze_s": "3", "heartbeat_s": "1"},
    )
    print(f"wrote {path}")
    for name, s in figures.items():
        low, high = s["min"], s["max"]
        print(f"{name}: median {s['median']:.0f} ms, min {low:.0f}, max {high:.0f} (n={s['n']})")
    return figures


if __name__ == "__main__":
    started = time.monotonic()
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS)
    print(f"took {time.monotonic() - started:.0f} s")
