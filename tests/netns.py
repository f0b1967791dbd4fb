"""A host of its own for one browser: a network namespace joined to this machine by a veth
cable, which a test can cut and mend.

Two browsers on one machine talk over loopback, which nothing can cut without also cutting
the server; Chromium's offline mode fails new requests but leaves an open WebSocket and all
of WebRTC (the media, the data connection) flowing, so it is no cut either. A browser
started inside a namespace reaches the server and the other browser only through its cable,
so cutting the cable cuts that person's whole network: the signalling socket, the data
connection to the server and the peer-to-peer media.

The cut is silent, as when Wi-Fi stops passing traffic while the laptop still thinks it is
connected: both ends of the cable get a ``blackhole`` queue, which drops every packet
leaving them, and the link stays up, so nothing tells either side that anything changed.
Mending removes the queues. Needs root and iproute2 (``ip``, ``tc``).
"""

from __future__ import annotations

import functools
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@functools.cache
def available() -> bool:
    """Whether this machine lets a test make a namespace, a veth cable and a blackhole
    queue (root, iproute2, and a kernel with network namespaces)."""
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("tc"):
        return False
    probe = Namespace()
    try:
        probe.open()
        probe.cut()
        probe.mend()
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        probe.close()
    return True


class Namespace:
    """A namespace at ``inner`` (its address), whose cable's host end is ``outer``."""

    def __init__(self) -> None:
        tag = secrets.token_hex(3)
        self.name = f"playroom-{tag}"
        self.host_end, self.inner_end = f"prh{tag}", f"prn{tag}"
        subnet = f"10.{16 + secrets.randbelow(200)}.{secrets.randbelow(250)}"
        self.outer, self.inner = f"{subnet}.1", f"{subnet}.2"
        self._wrappers: list[Path] = []

    def open(self) -> Namespace:
        _run("ip", "netns", "add", self.name)
        _run("ip", "link", "add", self.host_end, "type", "veth", "peer", "name", self.inner_end)
        _run("ip", "link", "set", self.inner_end, "netns", self.name)
        _run("ip", "addr", "add", f"{self.outer}/30", "dev", self.host_end)
        _run("ip", "link", "set", self.host_end, "up")
        inside = ("ip", "netns", "exec", self.name)
        _run(*inside, "ip", "addr", "add", f"{self.inner}/30", "dev", self.inner_end)
        _run(*inside, "ip", "link", "set", self.inner_end, "up")
        _run(*inside, "ip", "link", "set", "lo", "up")
        _run(*inside, "ip", "route", "add", "default", "via", self.outer)
        return self

    def block_udp(self) -> None:
        """From now on nothing leaves the namespace over UDP (TCP still does), as on a school
        or office network whose firewall lets only web traffic out: a route lookup of its
        own for UDP, which is a blackhole."""
        inside = ("ip", "netns", "exec", self.name)
        _run(*inside, "ip", "route", "add", "blackhole", "default", "table", "100")
        _run(*inside, "ip", "rule", "add", "ipproto", "udp", "lookup", "100")

    def cut(self) -> None:
        """Every packet either way is dropped from now on; the link stays up."""
        self._both("add", "blackhole")

    def mend(self) -> None:
        """Packets flow again both ways."""
        self._both("del")

    def shape(self, kbit: int, queue_ms: int) -> None:
        """A poor line both ways, as on a weak mobile signal: at most ``kbit`` kilobits a
        second each way, packets queued up to ``queue_ms`` and dropped beyond (a token
        bucket, ``tbf``: what a thin line does, delay and loss growing with what is sent;
        this kernel has no ``netem``). ``mend`` lifts it."""
        self._both(
            "replace", "tbf", "rate", f"{kbit}kbit", "burst", "8kbit", "latency", f"{queue_ms}ms"
        )

    def _both(self, verb: str, *kind: str) -> None:
        """Change the queue at both ends at once (two commands started together): done one
        after the other, one direction would be open several milliseconds before the
        other, and what a browser sends first on a network that comes back (a request for
        a key frame, say) would be lost in that gap."""
        ends = [
            ["tc", "qdisc", verb, "dev", self.host_end, "root", *kind],
            [
                "ip",
                "netns",
                "exec",
                self.name,
                "tc",
                "qdisc",
                verb,
                "dev",
                self.inner_end,
                "root",
                *kind,
            ],
        ]
        started = [subprocess.Popen(end, stderr=subprocess.PIPE) for end in ends]
        for process, end in zip(started, ends, strict=True):
            _, err = process.communicate(timeout=30)
            if process.returncode:
                raise subprocess.CalledProcessError(process.returncode, end, stderr=err)

    def command(self, executable: str) -> str:
        """A script that runs ``executable`` inside the namespace, with its arguments: what
        a browser launcher is given in place of the browser."""
        fd, name = tempfile.mkstemp(prefix="playroom-netns-", suffix=".sh")
        with os.fdopen(fd, "w") as script:
            script.write(f'#!/bin/sh\nexec ip netns exec {self.name} {executable} "$@"\n')
        path = Path(name)
        path.chmod(stat.S_IRWXU)
        self._wrappers.append(path)
        return str(path)

    def close(self) -> None:
        """Remove the cable and the namespace (and any process's view of them)."""
        subprocess.run(["ip", "link", "del", self.host_end], capture_output=True, timeout=30)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)
        for path in self._wrappers:
            path.unlink(missing_ok=True)
