"""The benchmarks' Markdown summary: tables from the figures, and the comparisons they ask for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench import report

FIGURES = {
    "playroom": {
        "200_rooms": {"n": 4000, "median": 1.2, "p99": 4.5, "cpu_us_per_message": 60.0},
        "1_rooms": {"n": 20, "median": 0.8, "p99": 1.0},
    },
    "floor": {"200_rooms": {"n": 4000, "median": 1.0, "p99": 3.0, "cpu_us_per_message": 40.0}},
    "peer": "not run: the npm package 'peer' could not be installed",
    "rss_mib": {"0": 132.3, "50": 155.0},
    "mib_per_room": 0.42,
    "floor_mib_per_room": 0.21,
    "compare": [
        {
            "label": "200 rooms",
            "playroom": "playroom/200_rooms",
            "floor": "floor/200_rooms",
            "peer": "peer/200_rooms",
            "peer_name": "PeerJS",
            "keys": ["median", "p99", "cpu_us_per_message"],
        },
        {"playroom": "playroom/1_rooms", "floor": "floor/1_rooms"},  # no floor: nothing to say
        {"label": "slope", "playroom": "mib_per_room", "floor": "floor_mib_per_room"},
    ],
}


def test_comparisons_are_ratios_of_playroom_to_the_floor_and_the_peer() -> None:
    assert report.comparisons(FIGURES) == [
        "200 rooms: median 1.20x the floor; p99 1.50x the floor; cpu_us_per_message 1.50x the "
        "floor",
        "slope: 2.00x the floor",
    ]
    both = {
        "a": {"median": 3.0, "p99": 6.0},
        "f": {"median": 2.0, "p99": 4.0},
        "p": {"median": 1.5, "p99": 3.0},
        "compare": [{"label": "x", "playroom": "a", "floor": "f", "peer": "p", "peer_name": "P"}],
    }
    assert report.comparisons(both) == [
        "x: median 1.50x the floor, 2.00x P; p99 1.50x the floor, 2.00x P"
    ]


def test_write_regenerates_the_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    report.write("first_bench", {"x_ms": report.summary([1.0, 2.0, 3.0])}, {"tool": "1.0"})
    report.write("signalling", FIGURES, {"aiohttp": "3.14"})
    assert set(json.loads((tmp_path / "latest.json").read_text())) == {"first_bench", "signalling"}
    text = (tmp_path / "latest.md").read_text()
    first, signalling = text.split("## first_bench")[1].split("## signalling")
    assert "| x_ms | 3 | 2.00 | 3.00 | 3.00 | 1.00 | 3.00 |" in first
    assert "tool 1.0" in first
    # the summaries share one table, with a column for the CPU figure; rss_mib has its own
    assert "| | n | median | p99 | cpu_us_per_message |" in signalling
    assert "| playroom / 1_rooms | 20 | 0.80 | 1.00 |  |" in signalling
    assert "| | 0 | 50 |" in signalling
    assert "- peer: not run: the npm package 'peer' could not be installed" in signalling
    assert "- mib_per_room: 0.42" in signalling
    assert "- 200 rooms: median 1.20x the floor; p99 1.50x the floor" in signalling
    assert "compare" not in signalling.replace("Compared", "")


def test_a_new_run_starts_afresh_and_says_what_could_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    report.write("old_bench", {"x_ms": report.summary([1.0])}, {})
    report.fresh()  # the last run is kept aside, none of it passes for this run's
    assert json.loads((tmp_path / "previous.json").read_text()).keys() == {"old_bench"}
    assert not (tmp_path / "latest.json").exists()
    report.write("new_bench", {"x_ms": report.summary([2.0])}, {})
    report.failed("page_speed", "python -m tests.bench.bench_pages", "exited 1: no PostgreSQL")
    doc = json.loads((tmp_path / "latest.json").read_text())
    assert doc.keys() == {"new_bench", "page_speed"}
    assert doc["page_speed"]["figures"] == {"could_not_run": "exited 1: no PostgreSQL"}
    assert "- could_not_run: exited 1: no PostgreSQL" in (tmp_path / "latest.md").read_text()
    assert doc["new_bench"]["command"].split()[1:3] == ["-m", "pytest"]  # as typed
