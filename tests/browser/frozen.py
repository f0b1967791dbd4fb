"""A Chromium alone in its own processes, which a test can freeze (SIGSTOP) and thaw, as a
laptop lid closing and opening: every process of that browser stops at once."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

from playwright.sync_api import Playwright

from tests.browser.conftest import CHROMIUM, FLAGS


class Frozen:
    """A second Chromium, alone in its processes, that can be frozen and thawed."""

    def __init__(self, playwright: Playwright) -> None:
        self.marker = f"--playroom-test-{uuid.uuid4().hex}"
        self.browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*FLAGS, self.marker], headless=True
        )

    def _pids(self) -> list[int]:
        parents: dict[int, int] = {}
        roots = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            pid = int(entry.name)
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
            if self.marker.encode() in cmdline:
                roots.append(pid)
        family = set(roots)
        grew = True
        while grew:
            grew = False
            for pid, parent in parents.items():
                if parent in family and pid not in family:
                    family.add(pid)
                    grew = True
        return sorted(family)

    def freeze(self, seconds: float) -> float:
        """Freeze for ``seconds``; returns when the thaw began (seconds since the epoch),
        taken before the first process wakes: a page can run as soon as its process does."""
        pids = self._pids()
        assert pids, "the frozen browser's processes were not found"
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        time.sleep(seconds)  # the freeze itself: the scenario, not a wait for anything
        thawed_at = time.time()
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        return thawed_at
