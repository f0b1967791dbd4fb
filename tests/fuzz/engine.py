"""The fuzzing engine: atheris (libFuzzer) when it is installed, else hypothesis's
``fuzz_one_input`` fed random bytes for the same bounded time.

Either way a target is ``one_input(data: bytes) -> None`` that raises on a crash, and the
last line on standard error is the same: ``Done N runs in S second(s)`` (libFuzzer's own)."""

from __future__ import annotations

import contextlib
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

try:
    import atheris
except ImportError:  # not built for every platform
    atheris = None


@contextlib.contextmanager
def instrumented(package: str) -> Iterator[None]:
    """Imports in this block are instrumented for coverage feedback (atheris only)."""
    if atheris is None:
        yield
        return
    with atheris.instrument_imports(include=[package]):
        yield


def fuzz(argv: list[str], one_input: Callable[[bytes], None]) -> None:
    if atheris is not None:
        atheris.Setup(argv, one_input)
        atheris.Fuzz()
        return
    _fallback(argv, one_input)


def _fallback(argv: list[str], one_input: Callable[[bytes], None]) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    options = dict(a[1:].split("=", 1) for a in argv[1:] if a.startswith("-") and "=" in a)
    seconds = float(options.get("max_total_time", "60"))
    prefix = options.get("artifact_prefix", "./")
    seeds = [p.read_bytes() for a in argv[1:] if not a.startswith("-") for p in Path(a).glob("*")]
    rng = random.Random()  # noqa: S311 - inputs, not secrets

    last = [b""]  # what hypothesis drew from the buffer: the input to write out

    @settings(database=None, suppress_health_check=list(HealthCheck), deadline=None)
    @given(st.binary(max_size=4096))
    def target(data: bytes) -> None:
        last[0] = data
        one_input(data)

    runs, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        if seeds and rng.random() < 0.5:  # a seed with a few bytes changed
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, 4)):
                if data:
                    data[rng.randrange(len(data))] = rng.randrange(256)
        else:
            data = bytearray(rng.randbytes(rng.randint(0, 4096)))
        runs += 1
        try:
            target.hypothesis.fuzz_one_input(bytes(data))
        except Exception:
            path = Path(f"{prefix}crash-{runs}")
            path.write_bytes(last[0])
            print(f"==ERROR: uncaught exception; input written to {path}", file=sys.stderr)
            print(f"Done {runs} runs in {int(time.monotonic() - start)} second(s)", file=sys.stderr)
            raise SystemExit(1) from None
    print(f"Done {runs} runs in {int(time.monotonic() - start)} second(s)", file=sys.stderr)
