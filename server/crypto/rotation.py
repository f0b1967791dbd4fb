"""Key rotation: add a data key, then re-encrypt every sealed field in batches.

Runs beside a live server. Servers re-read the key file within ``key_reload_seconds``
and then seal with the new key; until then they may still write with the old one, so
rotation makes a second pass after that interval. Each update is conditional on the
old ciphertext, so a value a server rewrote meanwhile is never overwritten.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa

from server.crypto.keys import KeyRing, associated_data, read_key_file, write_key_file
from server.storage import session_models  # noqa: F401 - its tables join Base.metadata
from server.storage.db import Database
from server.storage.models import Base

log = logging.getLogger(__name__)


@dataclass
class RotationReport:
    new_key_id: int
    reencrypted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.reencrypted.values())


def encrypted_columns() -> Iterator[tuple[sa.Table, sa.Column[bytes]]]:
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.info.get("encrypted"):
                yield table, column


async def reencrypt_pass(db: Database, ring: KeyRing, batch_size: int = 500) -> dict[str, int]:
    """Re-seal every value not sealed with the active key; returns counts per column."""
    active = ring.active_id
    counts: dict[str, int] = {}
    for table, column in encrypted_columns():
        pk = table.c.id
        done, last = 0, ""
        while True:
            async with db.session() as session:
                rows = (
                    await session.execute(
                        sa.select(pk, column).where(pk > last).order_by(pk).limit(batch_size)
                    )
                ).all()
                for row_id, blob in rows:
                    if blob is None or ring.key_id_of(blob) == active:
                        continue
                    aad = associated_data(table.name, column.name, row_id)
                    fresh = ring.encrypt(ring.decrypt(blob, aad), aad)
                    result = await session.execute(
                        sa.update(table)
                        .where(pk == row_id, column == blob)
                        .values({column.name: fresh})
                    )
                    done += result.rowcount  # type: ignore[attr-defined]
            if len(rows) < batch_size:
                break
            last = rows[-1][0]
        counts[f"{table.name}.{column.name}"] = done
    return counts


async def rotate(
    db: Database, ring: KeyRing, batch_size: int = 500, settle_seconds: float = 0.0
) -> RotationReport:
    """Add a new active key to the ring's file and re-encrypt everything under it."""
    path = ring.path
    if path is None:
        raise ValueError("keys given by environment cannot be rotated here; see docs")
    material = read_key_file(path).with_new_key()
    write_key_file(path, material)
    ring.maybe_reload(force=True)
    report = RotationReport(new_key_id=material.active)
    log.info("data key added", extra={"event": "key_rotation_started", "kid": material.active})
    first = await reencrypt_pass(db, ring, batch_size)
    if settle_seconds:
        await asyncio.sleep(settle_seconds)  # let running servers pick up the new key
    second = await reencrypt_pass(db, ring, batch_size)
    report.reencrypted = {k: first.get(k, 0) + second.get(k, 0) for k in first | second}
    log.info("re-encryption finished", extra={"event": "key_rotation_done", "count": report.total})
    return report
