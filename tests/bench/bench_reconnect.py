"""Reconnect time in Chromium, median of 5 of each of two failures of the young person's
connection, 3 s each:

- a network cut: the young person's browser on a host of its own (a network namespace,
  ``tests/netns.py``) whose cable stops passing anything, silently, then passes it again;
- a freeze: every process of the young person's browser stopped (SIGSTOP), as a laptop lid
  closing, then thawed.

Measured on the therapist's page, from the cut (or the freeze) and from the network coming
back (or the thaw):

- detection: from the cut to the therapist being told "reconnecting";
- media back: to the first frame of the young person's video after a gap (and, the other
  way, of the therapist's on the young person's page);
- resumed: to the therapist being told the young person is back;
- board restored: to the young person's page holding the board again, up to date (its copy
  caught up with what changed while it was away, or a snapshot).

The server runs with its default settings (a silent drop noticed within 1.5 heartbeats of
1.25 s, under 2 s)."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.bench.report import summary, write
from tests.browser.conftest import CHROMIUM, FLAGS
from tests.browser.frozen import Frozen
from tests.browser.remote import RemoteBrowser
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

ROUNDS = 10
FAILURE = 3.0


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


class _Failure:
    """One way of losing the young person's connection for a while."""

    name = ""

    def young_browser(self, playwright: Playwright, server: ServerProcess) -> Browser:
        raise NotImplementedError

    def reach(self, link: str) -> str:
        return link

    def fail_for(self, seconds: float) -> float:
        """Fail now, for ``seconds``; returns when the connection began to come back (ms
        since the epoch), taken before it does: a page may see its first frame within a
        millisecond of it, and a time taken after would miss that frame."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _Cut(_Failure):
    name = "network_cut"

    def young_browser(self, playwright: Playwright, server: ServerProcess) -> Browser:
        self.remote = RemoteBrowser(playwright, server)
        return self.remote.browser

    def reach(self, link: str) -> str:
        return self.remote.url(link)

    def fail_for(self, seconds: float) -> float:
        cut_at = time.monotonic()
        self.remote.cut()
        time.sleep(max(0.0, cut_at + seconds - time.monotonic()))  # the cut itself
        back_at = time.time() * 1000
        self.remote.mend()
        return back_at

    def close(self) -> None:
        self.remote.close()


class _Freeze(_Failure):
    name = "freeze"

    def young_browser(self, playwright: Playwright, server: ServerProcess) -> Browser:
        self.frozen = Frozen(playwright)
        return self.frozen.browser

    def fail_for(self, seconds: float) -> float:
        return self.frozen.freeze(seconds) * 1000

    def close(self) -> None:
        self.frozen.browser.close()


def _rounds(
    playwright: Playwright, server: ServerProcess, failure: _Failure, rounds: int
) -> tuple[dict[str, dict[str, float]], str]:
    detect, media, media_young, resumed, board = [], [], [], [], []
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    young_browser = failure.young_browser(playwright, server)
    try:
        context, therapist, _ = therapist_page(browser, server, f"bench-{failure.name}")
        session = prepare(therapist, server, name="Bench")
        open_room(therapist, server, session)
        young = young_browser.new_context().new_page()
        walk_in(young, failure.reach(session.links["young_person"]))
        admit(therapist, "Young person")
        yid, tid = my_id(young), my_id(therapist)
        first_frame_from(therapist, yid)
        first_frame_from(young, tid)
        for _ in range(rounds):
            failed_at = time.time() * 1000
            back_at = failure.fail_for(FAILURE)
            detect.append(_told(therapist, yid, "interrupted", failed_at) - failed_at)
            resumed.append(_told(therapist, yid, "reconnected", back_at) - back_at)
            gaps = f"window.playroom.frameGaps[{yid!r}] || []"
            media.append(_after(therapist, gaps, back_at) - back_at)
            gaps = f"window.playroom.frameGaps[{tid!r}] || []"
            media_young.append(_after(young, gaps, back_at) - back_at)
            restored = "window.playroom.whiteboard.feed.restored"
            board.append(_after(young, restored, back_at) - back_at)
            print(
                f"{failure.name} round {len(detect)}: detected {detect[-1]:.0f} ms; after the "
                f"network came back: resumed {resumed[-1]:.0f} ms, media {media[-1]:.0f} ms "
                f"(young person's page {media_young[-1]:.0f} ms), board {board[-1]:.0f} ms",
                flush=True,
            )
            # the next round starts from a settled room: both back, media flowing again
            young.wait_for_function("(n) => window.playroom.resumes >= n", arg=len(resumed))
        version = browser.version
        context.close()
    finally:
        failure.close()
        browser.close()
    return {
        "to_detected_ms": summary(detect),
        "back_to_media_ms": summary(media),
        "back_to_media_on_young_page_ms": summary(media_young),
        "back_to_resumed_ms": summary(resumed),
        "back_to_board_restored_ms": summary(board),
    }, version


def main(rounds: int = ROUNDS) -> dict[str, dict[str, dict[str, float]]]:
    data = Path(tempfile.mkdtemp(prefix="playroom-bench-")) / "data"
    env = cli_env(
        data,
        PLAYROOM_LOG_LEVEL="WARNING",
        PLAYROOM_HOST="0.0.0.0",  # noqa: S104 - reached from a browser on a host of its own
        PLAYROOM_TEST_HOOKS="true",  # the pages' state (window.playroom), read below
    )
    assert run_cli("migrate", env=env).returncode == 0
    server = ServerProcess(env)
    server.wait_ready()
    figures: dict[str, dict[str, dict[str, float]]] = {}
    try:
        with sync_playwright() as playwright:
            for failure in (_Cut(), _Freeze()):
                figures[failure.name], version = _rounds(playwright, server, failure, rounds)
    finally:
        server.stop()
    path = write(
        "reconnect_time_chromium",
        figures,
        {"chromium": version, "failure_s": f"{FAILURE:g}", "heartbeat_s": "default"},
    )
    print(f"wrote {path}")
    for kind, measures in figures.items():
        for name, s in measures.items():
            low, high = s["min"], s["max"]
            print(f"{kind} {name}: median {s['median']:.0f} ms, min {low:.0f}, max {high:.0f}")
    return figures


if __name__ == "__main__":
    started = time.monotonic()
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS)
    print(f"took {time.monotonic() - started:.0f} s")
