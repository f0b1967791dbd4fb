"""``playroom demo-code`` prints the sign-in code alone, for a script to read: no log lines
come with it (warnings and errors still go to standard error)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import cli_env, run_cli


def test_demo_code_prints_the_code_alone(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data")
    assert run_cli("migrate", env=env).returncode == 0
    assert run_cli("demo", env=env).returncode == 0
    result = run_cli("demo-code", "demo-therapist", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().isdigit() and result.stdout.count("\n") == 1
    assert result.stderr == ""  # no INFO lines (the migration check's) beside the code
    refused = run_cli("demo-code", "nobody", env=env)
    assert refused.returncode == 2 and refused.stdout == ""
    assert "playroom:" in refused.stderr  # what went wrong is still said
