"""A Chromium on a host of its own (a network namespace, ``tests/netns.py``), as a young
person's laptop at home: it reaches the server and the other browsers only over its cable,
so cutting the cable is a real network cut of everything that person has (the signalling
socket, the data connection to the server, the peer-to-peer media), while the rest of the
room stays up."""

from __future__ import annotations

from playwright.sync_api import Browser, Playwright

from tests.browser.conftest import CHROMIUM, FLAGS
from tests.conftest import require
from tests.helpers import ServerProcess
from tests.netns import Namespace, available


class RemoteBrowser:
    """A browser whose whole network a test can cut and mend. The server must listen on
    every address (``PLAYROOM_HOST=0.0.0.0``): this browser reaches it at the host's end of
    the cable."""

    def __init__(self, playwright: Playwright, server: ServerProcess, udp: bool = True) -> None:
        require(available(), "network namespaces (root, iproute2, tc)")
        self.network = Namespace().open()
        if not udp:
            self.network.block_udp()
        self.origin = f"http://{self.network.outer}:{server.port}"
        self.server = server
        try:
            # cameras need a secure context: this address is as trusted here as localhost
            self.browser: Browser = playwright.chromium.launch(
                executable_path=self.network.command(CHROMIUM),
                args=[*FLAGS, f"--unsafely-treat-insecure-origin-as-secure={self.origin}"],
                headless=True,
            )
        except Exception:
            self.network.close()
            raise

    def url(self, link: str) -> str:
        """``link`` (made for the server's loopback address) as this host reaches it."""
        return link.replace(self.server.url, self.origin, 1)

    def cut(self) -> None:
        self.network.cut()

    def mend(self) -> None:
        self.network.mend()

    def shape(self, kbit: int, queue_ms: int) -> None:
        self.network.shape(kbit, queue_ms)

    def close(self) -> None:
        try:
            self.browser.close()
        finally:
            self.network.close()
