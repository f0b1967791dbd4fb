from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import Settings


def test_defaults_use_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/playroom.db"
    assert settings.resolved_key_file == tmp_path / "keys.json"
    assert not settings.tls


@pytest.mark.parametrize(
    "given, expected",
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:////x/y.db", "sqlite+aiosqlite:////x/y.db"),
    ],
)
def test_database_url_gets_an_async_driver(given: str, expected: str) -> None:
    assert Settings(database_url=given).resolved_database_url == expected


def test_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYROOM_PORT", "9000")
    monkeypatch.setenv("PLAYROOM_PUBLIC_URL", "https://playroom.example")
    settings = Settings()
    assert settings.port == 9000 and settings.tls


def test_bad_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAYROOM_PORT", "seventy")
    with pytest.raises(ValueError, match="port"):
        Settings()
