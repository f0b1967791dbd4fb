"""Join time in Chromium: from the young person's "join" click (after the checks) to the
first decoded frame of the therapist's video, from admission to the first frame on each
side, and from admission to the board on the young person's page (its snapshot drawn), on
the machine's network and on one where no UDP gets through (the young person's browser on a
host of its own, ``tests/browser/remote.py``). Median of 5 sessions each, each a fresh room
on a live server."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.bench.report import summary, write
from tests.browser.conftest import CHROMIUM, FLAGS
from tests.browser.remote import RemoteBrowser
from tests.browser.session_flow import (
    admit,
    first_frame_from,
    my_id,
    open_room,
    prepare,
    therapist_page,
)
from tests.helpers import ServerProcess, cli_env, run_cli

ROUNDS = 5


def main(rounds: int = ROUNDS) -> dict[str, dict[str, float]]:
    data = Path(tempfile.mkdtemp(prefix="playroom-bench-")) / "data"
    env = cli_env(
        data,
        PLAYROOM_LOG_LEVEL="WARNING",
        PLAYROOM_TEST_HOOKS="true",
        PLAYROOM_HOST="0.0.0.0",  # noqa: S104 - reached from a browser on a host of its own
    )
    assert run_cli("migrate", env=env).returncode == 0
    server = ServerProcess(env)
    server.wait_ready()
    click_to_frame, admit_to_young, admit_to_therapist = [], [], []
    board: dict[str, list[float]] = {"udp": [], "no_udp": []}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            context, therapist, _ = therapist_page(browser, server, "bench-therapist")
            for n in range(rounds):
                session = prepare(therapist, server, name=f"Bench {n}")
                open_room(therapist, server, session)
                young_context = browser.new_context()
                young = young_context.new_page()
                _walk_to_device_check(young, session.links["young_person"])
                clicked = young.evaluate("() => performance.timeOrigin + performance.now()")
                young.get_by_role("button", name="Join the waiting room").click()
                therapist.get_by_role("button", name="Admit Young person").wait_for()
                tid, yid = my_id(therapist), my_id(young)
                admitted = admit(therapist, "Young person")
                seen_by_young = first_frame_from(young, tid)
                seen_by_therapist = first_frame_from(therapist, yid)
                click_to_frame.append(seen_by_young - clicked)
                admit_to_young.append(seen_by_young - admitted)
                admit_to_therapist.append(seen_by_therapist - admitted)
                board["udp"].append(_board_shown(young) - admitted)
                _end(therapist, young)
                young_context.close()
            remote = RemoteBrowser(playwright, server, udp=False)
            try:
                for n in range(rounds):
                    session = prepare(therapist, server, name=f"Bench no UDP {n}")
                    open_room(therapist, server, session)
                    young = remote.browser.new_context().new_page()
                    _walk_to_device_check(young, remote.url(session.links["young_person"]))
                    young.get_by_role("button", name="Join the waiting room").click()
                    therapist.get_by_role("button", name="Admit Young person").wait_for()
                    admitted = admit(therapist, "Young person")
                    board["no_udp"].append(_board_shown(young) - admitted)
                    _end(therapist, young)
                    young.context.close()
            finally:
                remote.close()
            context.close()
            browser.close()
            version = browser.version
    finally:
        server.stop()
    figures = {
        "join_click_to_first_frame_ms": summary(click_to_frame),
        "admission_to_first_frame_young_person_ms": summary(admit_to_young),
        "admission_to_first_frame_therapist_ms": summary(admit_to_therapist),
        "admission_to_board_young_person_ms": summary(board["udp"]),
        "admission_to_board_young_person_no_udp_ms": summary(board["no_udp"]),
    }
    path = write("join_time_chromium", figures, {"chromium": version})
    print(f"wrote {path}")
    for name, s in figures.items():
        low, high = s["min"], s["max"]
        print(f"{name}: median {s['median']:.0f} ms, min {low:.0f}, max {high:.0f} (n={s['n']})")
    return figures


def _board_shown(page) -> float:  # type: ignore[no-untyped-def]
    """When ``page`` drew the board's first snapshot (ms since the epoch)."""
    page.wait_for_function("() => window.playroom.board.snapshots.length > 0", timeout=30000)
    return float(page.evaluate("() => window.playroom.board.snapshots[0]"))


def _end(therapist, young) -> None:  # type: ignore[no-untyped-def]
    therapist.get_by_role("button", name="End session").click()
    young.get_by_role("heading", name="See you next time").wait_for()


def _walk_to_device_check(page, url: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(url)
    page.get_by_role("button", name="I've read this. Next").click()
    for group in page.locator("#checks-form fieldset").all():
        group.locator('input[type="radio"]').first.check()
    page.locator("#checks-form").get_by_role("button", name="Next").click()
    page.wait_for_function("() => document.getElementById('preview').videoWidth > 0")


if __name__ == "__main__":
    started = time.monotonic()
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS)
    print(f"took {time.monotonic() - started:.0f} s")
