"""``make fuzz``: run every fuzz target for a bounded time and write a JSON report.

Each target runs in a process of its own (libFuzzer stops at the first crash) with a
corpus under ``tests/fuzz/results/corpus-NAME`` seeded from the target's ``SEEDS``; a
crashing input is written beside it. The report, ``tests/fuzz/results/report.json``,
gives per target the inputs tried, the seconds and the crashes (file and the error's
last lines). Exits 1 when a target crashed."""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
RESULTS = HERE / "results"
TARGETS = ["fuzz_messages", "fuzz_board"]


def engine() -> str:
    try:
        import atheris  # noqa: F401
    except ImportError:
        return "hypothesis"
    return "atheris"


def run(name: str, seconds: int) -> dict[str, Any]:
    corpus = RESULTS / f"corpus-{name}"
    corpus.mkdir(parents=True, exist_ok=True)
    for seed in importlib.import_module(f"tests.fuzz.{name}").SEEDS:
        (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed)  # noqa: S324 - a name
    before = set(RESULTS.glob(f"{name}-crash-*"))
    command = [
        sys.executable,
        "-m",
        f"tests.fuzz.{name}",
        f"-max_total_time={seconds}",
        f"-artifact_prefix={RESULTS}/{name}-",
        "-timeout=10",
        "-max_len=8192",  # past 4,300 digits, the longest number json.loads converts
        "-rss_limit_mb=2048",
        str(corpus),
    ]
    start = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    log = done.stderr
    (RESULTS / f"{name}.log").write_text(log)
    runs = [int(m) for m in re.findall(r"Done (\d+) runs", log)]
    if not runs:  # a crash: libFuzzer's last status line
        runs = [int(m) for m in re.findall(r"#(\d+)\s", log)][-1:]
    crashes = sorted(set(RESULTS.glob(f"{name}-crash-*")) - before)
    lines = [line for line in log.splitlines() if line.strip()]
    first = next((i for i, line in enumerate(lines) if "Uncaught Python exception" in line), -12)
    tail = lines[first : first + 16] if done.returncode else []
    return {
        "target": name,
        "engine": engine(),
        "seconds": round(time.monotonic() - start, 1),
        "inputs": runs[-1] if runs else 0,
        "corpus": len(list(corpus.iterdir())),
        "exit_code": done.returncode,
        "crashes": [{"input": str(p.relative_to(ROOT)), "error": tail} for p in crashes]
        or ([{"input": None, "error": tail}] if done.returncode else []),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60, help="per target")
    parser.add_argument("targets", nargs="*", default=TARGETS)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"engine": engine(), "seconds_per_target": args.seconds, "targets": []}
    for name in args.targets:
        result = run(name, args.seconds)
        report["targets"].append(result)
        print(
            f"{name}: {result['inputs']} inputs in {result['seconds']} s,"
            f" {len(result['crashes'])} crash(es)"
        )
    (RESULTS / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {(RESULTS / 'report.json').relative_to(ROOT)}")
    return 1 if any(t["crashes"] for t in report["targets"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
