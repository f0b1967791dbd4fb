"""Ids in paths and bodies: a row's id is exactly 32 lowercase hex digits, nothing else."""

from __future__ import annotations

from server.storage.ids import is_id


def test_an_id_is_exactly_32_lowercase_hex_digits() -> None:
    good = "0123456789abcdef" * 2
    assert is_id(good)
    for bad in (good + "\n", good + "0", good[:31], good.upper(), "", good[:-1] + "\x00"):
        assert not is_id(bad), repr(bad)
