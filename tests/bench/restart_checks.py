"""What the restart benchmark (``bench_restart.py``) checks once the run is over: every board
operation the people saw acknowledged, seq by seq, against what the database holds; every
session's log with ``playroom verify-log``, and a ``participant.reconnected`` entry for every
resume; the server's errors (its log lines at ERROR and above, tracebacks, 5xx answers in its
access log, and 5xx the people were given); and the stroke acknowledgement latency second by
second around each restart."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from server.audit.sessionlog import session_stream
from server.crypto.sealed import unseal
from server.settings import Settings
from server.storage.opening import open_storage
from server.storage.session_models import BoardOp, LogEntry
from tests.helpers import run_cli

SAMPLES = 3  # findings quoted in the report, of each kind


async def stored_ops(data_dir: Path, rooms: list[dict[str, Any]]) -> dict[str, Any]:
    """Each acknowledged change (a seq either person of a room applied) must be in storage at
    that seq, setting the same element; each element on a board at the end must have been
    stored. Read from the database, the server stopped."""
    storage = await open_storage(Settings(data_dir=data_dir), writable=False)
    acknowledged = lost = other = missing_elements = reconnections = 0
    found: list[str] = []
    try:
        async with storage.db.session() as db:
            for room in rooms:
                rows = (
                    await db.scalars(
                        sa.select(BoardOp).where(BoardOp.appointment_id == room["session"])
                    )
                ).all()
                by_seq = {row.seq: row for row in rows}
                ids: set[str] = set()
                for row in rows:
                    op = json.loads(unseal(storage.ring, row, "op_enc") or "{}")
                    if "id" in op:
                        ids.add(str(op["id"]))
                for seq, elements in room["seqs"].items():
                    acknowledged += 1
                    stored = by_seq.get(int(seq))
                    if stored is None:
                        lost += 1
                        found.append(f"{room['session'][:8]} seq {seq}: not stored")
                        continue
                    op = json.loads(unseal(storage.ring, stored, "op_enc") or "{}")
                    if elements and str(op.get("id")) not in elements:
                        other += 1
                        found.append(f"{room['session'][:8]} seq {seq}: stored another op")
                for element in room["elements"]:
                    if element not in ids:
                        missing_elements += 1
                        found.append(f"{room['session'][:8]} element {element}: not stored")
                reconnections += int(
                    await db.scalar(
                        sa.select(sa.func.count()).where(
                            LogEntry.stream == session_stream(room["session"]),
                            LogEntry.kind == "participant.reconnected",
                        )
                    )
                    or 0
                )
    finally:
        await storage.db.dispose()
    return {
        "acknowledged": acknowledged,
        "lost": lost,
        "stored_another_op_at_its_seq": other,
        "board_elements_not_stored": missing_elements,
        "reconnections_logged": reconnections,
        "findings": found[:SAMPLES],
    }


def verify_logs(env: dict[str, str], sessions: list[str]) -> dict[str, Any]:
    """``playroom verify-log --all --json --no-witness``: every log, re-checked."""
    done = run_cli("verify-log", "--all", "--json", "--no-witness", env=env)
    try:
        reports = json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"could_not_check": (done.stderr or done.stdout)[-300:]}
    ours = {session_stream(s) for s in sessions}
    mine = [r for r in reports if r["stream"] in ours]
    failing = [r for r in mine if not r["intact"]]
    return {
        "logs": len(mine),
        "intact": len(mine) - len(failing),
        "entries": sum(r["entries"] for r in mine),
        "findings": [f for r in failing for f in r["findings"]][:SAMPLES],
    }


def server_errors(stderr_files: list[Path]) -> dict[str, Any]:
    """The server's own account of its errors, over every process of the run."""
    errors = tracebacks = answers_5xx = 0
    seen: list[str] = []
    for path in stderr_files:
        for line in path.read_text(errors="replace").splitlines():
            try:
                doc = json.loads(line)
            except json.JSONDecodeError:
                if line.startswith("Traceback"):
                    tracebacks += 1
                    seen.append(line[:200])
                continue
            if not isinstance(doc, dict):
                continue
            if doc.get("level") in ("ERROR", "CRITICAL"):
                errors += 1
                seen.append(" ".join(str(doc.get(k, "")) for k in ("msg", "exc_type", "exc_where")))
            status = doc.get("status")
            if isinstance(status, int) and status >= 500:
                answers_5xx += 1
                seen.append(f"{doc.get('method')} {doc.get('route')} {status}")
    return {
        "error_lines": errors,
        "tracebacks": tracebacks,
        "answers_5xx": answers_5xx,
        "first": sorted(set(seen))[:SAMPLES],
    }


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def latency_series(
    strokes: list[tuple[float, float | None]], unsent: list[float], at: float, before: int,
    after: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Second by second from ``before`` s before ``at`` to ``after`` s after it, by when
    each stroke was drawn: how many were acknowledged, their latency's p50 and p99 (ms),
    how many never were, and how many were not sent for want of a board."""
    bins: dict[int, dict[str, Any]] = {
        s: {"second": s, "times": [], "never_acked": 0, "not_sent": 0}
        for s in range(-before, after)
    }
    for sent, acked in strokes:
        second = int((sent - at) // 1)
        if second in bins:
            if acked is None:
                bins[second]["never_acked"] += 1
            else:
                bins[second]["times"].append((acked - sent) * 1000)
    for sent in unsent:
        second = int((sent - at) // 1)
        if second in bins:
            bins[second]["not_sent"] += 1
    rows = []
    for row in bins.values():
        times = row.pop("times")
        row["acks"] = len(times)
        row["ack_p50_ms"] = round(statistics.median(times), 1) if times else None
        row["ack_p99_ms"] = round(_pct(times, 99), 1) if times else None
        row["ack_max_ms"] = round(max(times), 1) if times else None
        rows.append(row)
    return rows
