"""Sampling a benchmark's server process with py-spy, and the summary a person reads: the
functions that take the most time on their own (the leaf of a sample) and in all (anywhere
in a sample's stack), and the time on one's own summed by package.

py-spy leaves out most samples of a thread that waits, but not all of those in the event
loop's ``epoll``; those are counted apart, and the percentages are of the other samples,
the busy ones. The CPU time a message costs is taken from ``/proc`` (user and system), not
from the samples: a process that is ready to run but waits for a core (the machine is
shared) still looks busy to a sampler. Sampling does not pause the process
(``--nonblocking``), and is done apart from the measured phases all the same."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

RATE = 400  # samples a second
WAITING = ("select", "(selectors.py:")  # the event loop waiting for its sockets


def cpu_seconds(pid: int) -> float | None:
    """The CPU time (user and system) a process has used so far, or None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Stacks:
    """Collapsed stacks ("outer;inner count"), as ``py-spy record --format raw`` writes,
    with how long they were taken over and the CPU time the process used meanwhile."""

    counts: Counter[tuple[str, ...]] = field(default_factory=Counter)
    waiting: int = 0
    seconds: float = 0.0
    cpu: float | None = None

    @classmethod
    def parse(cls, text: str) -> Stacks:
        stacks = cls()
        for line in text.splitlines():
            path, _, count = line.rpartition(" ")
            if not path or not count.isdigit():
                continue
            frames = tuple(path.split(";"))
            name, _, where = frames[-1].partition(" ")
            if name.endswith(WAITING[0]) and where.startswith(WAITING[1]):
                stacks.waiting += int(count)
            else:
                stacks.counts[frames] += int(count)
        return stacks

    @property
    def busy(self) -> int:
        return sum(self.counts.values())

    def own(self) -> Counter[str]:
        own: Counter[str] = Counter()
        for frames, n in self.counts.items():
            own[frames[-1]] += n
        return own

    def total(self) -> Counter[str]:
        """Each function once a sample, however deep it recurses."""
        total: Counter[str] = Counter()
        for frames, n in self.counts.items():
            for name in set(frames):
                total[name] += n
        return total

    def by_package(self) -> Counter[str]:
        packages: Counter[str] = Counter()
        for frames, n in self.counts.items():
            packages[package(frames[-1])] += n
        return packages


def package(frame: str) -> str:
    """``send_str (aiohttp/web_ws.py:483)`` -> ``aiohttp``; the project's own by module, the
    standard library's by module too (``asyncio``, ``json``, ``selectors``)."""
    where = frame.rpartition(" (")[2].rstrip(")").rpartition(":")[0]
    parts = where.removesuffix(".py").split("/")
    if parts[0] in ("server", "media", "tests"):
        return ".".join(parts)
    return parts[0]


class Recorder:
    """``py-spy record`` on a running process, from ``start`` until ``stop``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.raw = Path(tempfile.mkdtemp(prefix="playroom-profile-")) / "stacks.txt"
        self.proc: asyncio.subprocess.Process | None = None
        self.started = 0.0
        self.cpu: float | None = None

    async def start(self) -> None:
        spy = py_spy()
        if spy is None:
            raise RuntimeError("py-spy is not installed: pip install py-spy")
        self.proc = await asyncio.create_subprocess_exec(
            spy, "record", "--pid", str(self.pid), "--format", "raw", "--function",
            "--nonblocking", "--rate", str(RATE), "--output", str(self.raw),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        assert self.proc.stdout is not None
        said = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        if b"Sampling" not in said:  # py-spy says "Sampling process ..." once attached
            raise RuntimeError(f"py-spy could not sample {self.pid}: {said.decode().strip()}")
        self.started = asyncio.get_running_loop().time()
        self.cpu = cpu_seconds(self.pid)

    async def stop(self) -> Stacks:
        assert self.proc is not None
        cpu = cpu_seconds(self.pid)
        seconds = asyncio.get_running_loop().time() - self.started
        self.proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(self.proc.communicate(), 30)
        stacks = Stacks.parse(self.raw.read_text() if self.raw.exists() else "")
        stacks.seconds = seconds
        if cpu is not None and self.cpu is not None:
            stacks.cpu = cpu - self.cpu
        return stacks


def report(title: str, stacks: Stacks, messages: int, top: int = 25) -> str:
    """A plain-text summary of one process's profile."""
    busy = stacks.busy or 1
    cpu = "" if stacks.cpu is None else f"{stacks.cpu / max(messages, 1) * 1e6:.0f} us of CPU"
    lines = [
        f"== {title}",
        f"{messages} messages relayed in {stacks.seconds:.1f} s: {cpu} a message (/proc); "
        f"{stacks.busy} busy samples at {RATE} Hz, and {stacks.waiting} left out in epoll",
        "",
        "top by own time",
        f"{'own %':>6} {'total %':>7}  function",
    ]
    own, total = stacks.own(), stacks.total()
    for name, n in own.most_common(top):
        lines.append(f"{n / busy:6.1%} {total[name] / busy:7.1%}  {name}")
    lines += ["", "top by total time", f"{'total %':>7} {'own %':>6}  function"]
    for name, n in total.most_common(top):
        lines.append(f"{n / busy:7.1%} {own[name] / busy:6.1%}  {name}")
    lines += ["", "own time by package (the project's and the standard library's by module)"]
    lines.append(f"{'own %':>6}  package")
    for name, n in stacks.by_package().most_common(top):
        lines.append(f"{n / busy:6.1%}  {name}")
    return "\n".join(lines) + "\n"
