"""A process's CPU time from ``/proc`` (all its threads, user and system), how long it waited
for a CPU, and pinning a process to some CPUs (Linux)."""

from __future__ import annotations

import os
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` so far, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # the name in brackets may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_seconds_or_none(pid: int) -> float | None:
    """``cpu_seconds``, or None when ``pid`` cannot be read (it has ended, or no ``/proc``)."""
    try:
        return cpu_seconds(pid)
    except (OSError, IndexError):
        return None


def run_queue(pid: int) -> dict[str, int]:
    """How long each thread of ``pid`` has waited for a CPU while ready to run, in ns (a
    shared machine: the server wanted to work and another process had the core)."""
    waits = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            waits[task.name] = int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended meanwhile
    return waits


def waited(before: dict[str, int], after: dict[str, int]) -> float:
    """Seconds waited for a CPU between two ``run_queue`` readings (threads that ended in
    between are left out, those that started count from nothing)."""
    return sum(ns - before.get(tid, 0) for tid, ns in after.items()) / 1e9


def pin(pid: int, cpus: set[int] | None) -> None:
    """Run ``pid`` on ``cpus`` only (None: on every CPU again)."""
    os.sched_setaffinity(pid, cpus if cpus is not None else set(range(os.cpu_count() or 1)))


def wait_idle(pid: int, below: float = 0.15, within: float = 45.0) -> float:
    """Wait until ``pid`` uses less than ``below`` of a CPU over half a second (a server
    still working through a backlog would distort the next measurement); returns its use."""
    deadline = time.monotonic() + within
    while True:
        before = cpu_seconds(pid)
        time.sleep(0.5)  # the sampling window
        use = (cpu_seconds(pid) - before) / 0.5
        if use < below or time.monotonic() > deadline:
            return use
