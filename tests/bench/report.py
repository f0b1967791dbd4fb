"""Writing benchmark results: medians and percentiles, with the machine and the command.

Every ``write`` merges one benchmark's figures into ``results/latest.json`` and then writes
``results/latest.md`` from the whole of it again: a short section a benchmark, its figures
in tables, and its comparisons. ``python -m tests.bench.report`` rewrites the Markdown alone.

Figures are a JSON object, nested as a benchmark likes. In the Markdown, every object whose
values are plain (numbers, strings, booleans, lists of those) is a row, named by its path
("playroom / 200_rooms"); rows that share a column go in one table. The plain values at the
top of the figures are listed under the tables.

Comparisons. A benchmark that measures Playroom beside a floor (the least a server can do)
and/or a peer (another project doing the same job) in the same run says what to compare
under ``"compare"``: a list, one entry a comparison::

    "compare": [
        {
            "label": "200 rooms",
            "playroom": "playroom/200_rooms",
            "floor": "floor_aiohttp_relay/200_rooms",
            "peer": "peerjs/200_rooms",
            "peer_name": "PeerJS",
            "keys": ["median", "p99"]
        }
    ]

``playroom``, ``floor`` and ``peer`` are paths into the figures, keys joined by ``/``; each
leads to a row (an object) or to a single number. ``floor`` and ``peer`` are each optional,
and one whose path leads nowhere (a peer that could not be run) is left out. ``keys`` are
the row's keys to compare (``["median", "p99"]`` unless given; ignored for single numbers),
``label`` names the comparison (the Playroom path unless given), ``peer_name`` the peer
("the peer" unless given). Each ratio is Playroom's figure over the other's, so 1.50x is
Playroom taking one and a half times as long (or as much): "200 rooms: median 1.20x the
floor, 1.26x PeerJS; p99 1.50x the floor, 1.58x PeerJS". ``comparisons`` gives those lines.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
COMPARE = "compare"
DEFAULT_KEYS = ("median", "p99")


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {
        "n": len(ordered),
        "median": statistics.median(ordered),
        "p90": pct(90),
        "p99": pct(99),
        "min": ordered[0],
        "max": ordered[-1],
    }


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write(
    name: str, figures: dict[str, Any], versions: dict[str, str], command: str | None = None
) -> Path:
    """Merge ``figures`` under ``name`` into results/latest.json; latest.md follows.
    ``command`` is what ran (by default this process's command line, as typed: ``python -m
    tests.bench.x ...``, which reruns it)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "latest.json"
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc[name] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command or " ".join([Path(sys.executable).name, *sys.orig_argv[1:]]),
        "machine": machine(),
        "versions": versions,
        "figures": figures,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    (RESULTS / "latest.md").write_text(markdown(doc))
    return path


def fresh() -> None:
    """Start a new report: the last one is kept beside it as previous.json and previous.md,
    so that no section of an earlier run passes for this run's."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    for suffix in ("json", "md"):
        latest = RESULTS / f"latest.{suffix}"
        if latest.exists():
            latest.replace(RESULTS / f"previous.{suffix}")


def failed(name: str, command: str, reason: str) -> Path:
    """Record that benchmark ``name`` could not run: its section says so and why."""
    return write(name, {"could_not_run": reason}, {}, command)


def regenerate() -> Path:
    """latest.md from latest.json as it is."""
    path = RESULTS / "latest.md"
    source = RESULTS / "latest.json"
    path.write_text(markdown(json.loads(source.read_text()) if source.exists() else {}))
    return path


# -- the Markdown summary


def markdown(doc: dict[str, Any]) -> str:
    parts = [
        "# Benchmark results\n",
        "Written from `latest.json` by `tests/bench/report.py` whenever a benchmark writes its "
        "figures: each section is that benchmark's latest run. Times in ms unless a name says "
        "otherwise.\n",
    ]
    for name, entry in doc.items():
        parts.append(section(name, entry))
    return "\n".join(parts)


def section(name: str, entry: dict[str, Any]) -> str:
    figures = entry.get("figures", {})
    blocks = [f"## {name}", _about(entry)]
    if not isinstance(figures, dict):
        return "\n\n".join([*blocks, _cell(figures)]) + "\n"
    plain = {k: v for k, v in figures.items() if k != COMPARE and _plain(v)}
    rest = {k: v for k, v in figures.items() if k != COMPARE and not _plain(v)}
    blocks += ["\n".join(_table(columns, rows)) for columns, rows in _tables(_rows(rest, ()))]
    if plain:
        blocks.append("\n".join(f"- {key}: {_cell(value)}" for key, value in plain.items()))
    compared = comparisons(figures)
    if compared:
        blocks.append(
            "Compared within this run, Playroom's figure over the other's:\n"
            + "\n".join(f"- {line}" for line in compared)
        )
    return "\n\n".join(blocks) + "\n"


def _about(entry: dict[str, Any]) -> str:
    machine = entry.get("machine", {})
    versions = ", ".join(f"{k} {v}" for k, v in entry.get("versions", {}).items())
    bits = [
        str(entry.get("when", "")).replace("T", " ").replace("+00:00", " UTC"),
        f"`{entry.get('command', '')}`",
        f"{machine.get('cores', '?')} cores ({machine.get('cpu', '?')}), "
        f"Python {machine.get('python', '?')}",
    ]
    if versions:
        bits.append(versions)
    return " · ".join(b for b in bits if b)


def _plain(value: Any) -> bool:
    if isinstance(value, list):
        return all(_plain(v) and not isinstance(v, list) for v in value)
    return value is None or isinstance(value, str | int | float | bool)


Row = tuple[str, dict[str, Any]]


def _rows(value: dict[str, Any] | list[Any], path: tuple[str, ...]) -> Iterator[Row]:
    """Each object's plain values as a row named by its path; deeper objects after."""
    items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    plain = {str(k): v for k, v in items if _plain(v)}
    if plain and path:
        yield " / ".join(path), plain
    for key, child in items:
        if not _plain(child):
            yield from _rows(child, (*path, str(key)))


def _tables(rows: Iterator[Row]) -> list[tuple[list[str], list[Row]]]:
    """Rows that share a column go together; a table's columns are theirs, in order."""
    tables: list[tuple[list[str], list[Row]]] = []
    for row in rows:
        for columns, members in tables:
            if set(columns) & set(row[1]):
                columns += [k for k in row[1] if k not in columns]
                members.append(row)
                break
        else:
            tables.append((list(row[1]), [row]))
    return tables


def _table(columns: list[str], rows: list[Row]) -> list[str]:
    """Numbers to the right, anything else to the left."""
    align = [
        "---:" if all(_number(v.get(c)) is not None for _, v in rows if c in v) else "---"
        for c in columns
    ]
    lines = ["| | " + " | ".join(columns) + " |", "|---|" + "|".join(align) + "|"]
    for name, values in rows:
        cells = [_cell(values[c]) if c in values else "" for c in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
        return f"{value:.{digits}f}"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value) or "–"
    if value is None:
        return "–"
    return str(value).replace("|", "\\|").replace("\n", " ")


# -- comparisons


def _at(figures: dict[str, Any], path: Any) -> Any:
    """The value at ``path`` ("a/b/0"), or None where it leads nowhere."""
    if not isinstance(path, str) or not path:
        return None
    value: Any = figures
    for key in path.split("/"):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def comparisons(figures: dict[str, Any]) -> list[str]:
    """One line a comparison under ``"compare"``: the ratios of Playroom to each other."""
    entries = figures.get(COMPARE, []) if isinstance(figures, dict) else []
    lines = []
    for entry in entries:
        ours = _at(figures, entry.get("playroom"))
        names = (("floor", "the floor"), ("peer", entry.get("peer_name", "the peer")))
        others = [(name, _at(figures, entry.get(role))) for role, name in names]
        keys = list(entry.get("keys", DEFAULT_KEYS)) if isinstance(ours, dict) else [None]
        parts = []
        for key in keys:
            mine = _number(ours.get(key) if key is not None else ours)
            ratios = []
            for name, theirs in others:
                other = _number(theirs.get(key) if isinstance(theirs, dict) else theirs)
                if mine is not None and other:
                    ratios.append(f"{mine / other:.2f}x {name}")
            if ratios:
                parts.append(f"{key} {', '.join(ratios)}" if key else ", ".join(ratios))
        if parts:
            lines.append(f"{entry.get('label', entry.get('playroom'))}: " + "; ".join(parts))
    return lines


if __name__ == "__main__":
    print(f"wrote {regenerate()}")
