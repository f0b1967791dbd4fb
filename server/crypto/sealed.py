"""Sealing personal fields of a row with the key ring, bound to table, column and row."""

from __future__ import annotations

from typing import Any

from server.crypto.keys import KeyRing, associated_data


def _aad(row: Any, column: str) -> bytes:
    if not getattr(row, "id", None):
        raise ValueError("a row needs its id before a field can be sealed")
    return associated_data(row.__tablename__, column, row.id)


def seal(ring: KeyRing, row: Any, column: str, value: str | bytes | None) -> None:
    """Encrypt ``value`` into ``row.<column>`` (None stays None)."""
    setattr(row, column, None if value is None else ring.encrypt(value, _aad(row, column)))


def unseal(ring: KeyRing, row: Any, column: str) -> str | None:
    blob = getattr(row, column)
    return None if blob is None else ring.decrypt_text(blob, _aad(row, column))


def unseal_bytes(ring: KeyRing, row: Any, column: str) -> bytes | None:
    blob = getattr(row, column)
    return None if blob is None else ring.decrypt(blob, _aad(row, column))
