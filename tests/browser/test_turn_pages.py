"""Media through TURN, for real: Debian's coturn (``turnserver``) set up as
``docs/operations.md`` says (a shared secret, coturn's REST scheme), the server handing each
browser short-lived credentials made with that secret, and a relay-only session in Chromium.
Video is decoded on both pages, and the connection each page selected runs through a relay
candidate: the young person's own candidate is a relay (their address never reaches the
other side), and coturn's log shows the allocations made with the credentials the server
made for them."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import screenshot, start_server
from tests.browser.session_flow import (
    admit,
    frames_decoded,
    my_id,
    open_room,
    prepare,
    therapist_page,
    walk_in,
)
from tests.conftest import require
from tests.helpers import ServerProcess

pytestmark = pytest.mark.browser

TURNSERVER = os.environ.get(
    "PLAYROOM_TEST_TURNSERVER", shutil.which("turnserver") or "/usr/bin/turnserver"
)
SECRET = secrets.token_hex(24)
REALM = "playroom.test"


@dataclass
class Coturn:
    port: int
    log: Path


def _free_port() -> int:
    """A loopback port free for both UDP and TCP (coturn listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


def _answers_stun(port: int) -> bool:
    """A STUN binding request (RFC 5389) to coturn gets its success response."""
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.settimeout(0.2)
        try:
            probe.sendto(request, ("127.0.0.1", port))
            answer = probe.recv(2048)
        except OSError:
            return False
    return answer[:2] == b"\x01\x01" and answer[8:20] == request[8:20]


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    """coturn on 127.0.0.1, in the foreground, relaying on loopback, no TLS: checked by the
    shared secret alone, as in production."""
    require(Path(TURNSERVER).exists(), "coturn's turnserver (apt-get install coturn)")
    folder = tmp_path_factory.mktemp("coturn")
    port = _free_port()
    log = folder / "turnserver.log"
    command = [
        TURNSERVER,
        "-n",  # no configuration file: only what is said here
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        f"--listening-port={port}",
        "--use-auth-secret",
        f"--static-auth-secret={SECRET}",
        f"--realm={REALM}",
        "--fingerprint",
        "--verbose",  # each allocation logged, with the username it was made with
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        "--allow-loopback-peers",  # both browsers are on this host: their peers are loopback
        f"--log-file={log}",
        "--simple-log",  # that very file, no date or pid added to its name
        "--no-stdout-log",
        f"--pidfile={folder / 'turnserver.pid'}",
        f"--userdb={folder / 'turndb'}",  # unused with a shared secret, but kept here
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not _answers_stun(port):
            assert proc.poll() is None, f"turnserver exited {proc.returncode}"
            assert time.monotonic() < deadline, "turnserver did not answer"
            time.sleep(0.1)
        yield Coturn(port, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, coturn: Coturn) -> Iterator[ServerProcess]:
    served = start_server(
        tmp_path_factory,
        "turn",
        PLAYROOM_TURN_URLS=json.dumps([f"turn:127.0.0.1:{coturn.port}?transport=udp"]),
        PLAYROOM_TURN_SECRET=SECRET,
        PLAYROOM_TURN_TTL_SECONDS="600",
    )
    yield served
    served.stop()


# the candidate pair a page's connection to ``id`` selected, from getStats
SELECTED = """async (id) => {
  const link = window.playroom.mesh?.peers.get(id);
  if (!link) return null;
  const stats = await link.pc.getStats();
  let pair = null;
  stats.forEach((r) => {
    if (r.type === "transport" && r.selectedCandidatePairId)
      pair = stats.get(r.selectedCandidatePairId);
  });
  if (!pair || pair.state !== "succeeded") return null;
  const local = stats.get(pair.localCandidateId);
  const remote = stats.get(pair.remoteCandidateId);
  return {
    local: local.candidateType,
    remote: remote.candidateType,
    relayProtocol: local.relayProtocol ?? null,
    url: local.url ?? null,
    policy: link.pc.getConfiguration().iceTransportPolicy,
    bytesReceived: pair.bytesReceived,
  };
}"""


def _selected(page: Page, peer_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pair = page.evaluate(SELECTED, peer_id)
        if pair and pair["bytesReceived"] > 0:
            return dict(pair)
        time.sleep(0.2)
    raise AssertionError("no candidate pair selected")


def test_media_flows_through_turn_in_a_relay_only_room(
    browser: Browser, server: ServerProcess, coturn: Coturn
) -> None:
    context, therapist, _ = therapist_page(browser, server, "tarn")
    session = prepare(therapist, server, name="Rowan", relay_only=True)
    open_room(therapist, server, session)
    young_context = browser.new_context(viewport={"width": 1100, "height": 900})
    young = young_context.new_page()
    try:
        walk_in(young, session.links["young_person"])
        yid = my_id(young)
        admit(therapist, "Young person")
        tid = my_id(therapist)

        # frames decoded on both sides
        assert frames_decoded(young, tid) > 0
        assert frames_decoded(therapist, yid) > 0

        # the young person's side relays only, through the TURN server the server named
        theirs = _selected(young, tid)
        assert theirs["policy"] == "relay"
        assert theirs["local"] == "relay" and theirs["relayProtocol"] == "udp"
        assert theirs["url"] == f"turn:127.0.0.1:{coturn.port}?transport=udp"
        # the therapist's side reaches them through their relay (and may relay itself)
        mine = _selected(therapist, yid)
        assert mine["policy"] == "all"
        assert mine["remote"] == "relay", mine

        # coturn allocated the young person's relay with the short-lived credentials the
        # server made for them (``EXPIRY:PARTICIPANT``), checked by the shared secret alone
        log = coturn.log.read_text()
        allocated = re.findall(
            r"user <(\d+):([0-9a-f]+)>: incoming packet ALLOCATE processed, success", log
        )
        expiries = [int(expiry) for expiry, who in allocated if who == yid]
        assert expiries, log[-3000:]
        assert all(0 < expiry - time.time() <= 600 for expiry in expiries)  # the TTL set here
        screenshot(therapist, "room-through-turn")
    finally:
        young_context.close()
        context.close()
