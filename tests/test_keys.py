"""The key ring: sealing, binding to a row, key files and their failures."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.crypto.keys import (
    HEADER_LEN,
    KeyMaterial,
    KeyRing,
    associated_data,
    create_key_file,
    load_key_ring,
    read_key_file,
    write_key_file,
)
from server.exceptions import DecryptionError, KeyMaterialError

AAD = associated_data("users", "display_name_enc", "row1")


@pytest.fixture
def ring() -> KeyRing:
    return KeyRing(KeyMaterial.generate())


@given(st.binary(max_size=4096))
def test_seal_and_open_any_bytes(data: bytes) -> None:
    ring = KeyRing(KeyMaterial.generate())
    assert ring.decrypt(ring.encrypt(data, AAD), AAD) == data


def test_ciphertext_carries_key_id_and_fresh_nonce(ring: KeyRing) -> None:
    first, second = ring.encrypt("Sam", AAD), ring.encrypt("Sam", AAD)
    assert first != second
    assert first[5:HEADER_LEN] != second[5:HEADER_LEN]  # 96-bit nonces differ
    assert KeyRing.key_id_of(first) == 1
    assert b"Sam" not in first


def test_value_moved_to_another_row_or_column_does_not_open(ring: KeyRing) -> None:
    blob = ring.encrypt("07700 900123", AAD)
    with pytest.raises(DecryptionError):
        ring.decrypt(blob, associated_data("users", "display_name_enc", "row2"))
    with pytest.raises(DecryptionError):
        ring.decrypt(blob, associated_data("users", "username_enc", "row1"))


def test_altered_ciphertext_is_detected(ring: KeyRing) -> None:
    blob = bytearray(ring.encrypt("note", AAD))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError, match="integrity"):
        ring.decrypt(bytes(blob), AAD)


def test_key_id_in_header_cannot_be_swapped(ring: KeyRing) -> None:
    ring = KeyRing(KeyMaterial.generate().with_new_key())
    blob = bytearray(ring.encrypt("note", AAD))
    blob[4] = 1  # claim key 1 instead of 2
    with pytest.raises(DecryptionError):
        ring.decrypt(bytes(blob), AAD)


def test_garbage_is_not_a_ciphertext(ring: KeyRing) -> None:
    with pytest.raises(DecryptionError, match="not a Playroom ciphertext"):
        ring.decrypt(b"hello", AAD)


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    ring, created = load_key_ring(path, None, database_has_data=False)
    assert created and path.stat().st_mode & 0o777 == 0o600
    again, created_again = load_key_ring(path, None, database_has_data=True)
    assert not created_again
    assert again.decrypt(ring.encrypt("x", AAD), AAD) == b"x"


def test_processes_starting_together_on_a_new_folder_make_one_key_file(tmp_path: Path) -> None:
    """The server and a ``playroom`` command started at once on a new data folder: each
    finds no key file and makes one, and whichever comes second must use the first's, or
    what one seals the other cannot open. Eight at once, released together: one made it,
    all hold the same keys, and no scrap of a half-written file is left beside it."""
    path = tmp_path / "keys.json"
    start = threading.Barrier(8)
    rings: list[tuple[KeyRing, bool]] = []

    def load() -> None:
        start.wait()
        rings.append(load_key_ring(path, None, database_has_data=False))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(created for _, created in rings) == 1
    sealed = rings[0][0].encrypt("x", AAD)
    assert all(ring.decrypt(sealed, AAD) == b"x" for ring, _ in rings)
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]
    assert not create_key_file(path, KeyMaterial.generate())  # there already: left as it is
    assert rings[0][0].decrypt(sealed, AAD) == b"x"


def test_missing_key_file_with_existing_data_is_an_error_not_a_new_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    with pytest.raises(KeyMaterialError, match="missing but the database already holds"):
        load_key_ring(path, None, database_has_data=True)
    assert not path.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"version": 7}', "not a Playroom key file"),
        ('{"version": 1, "active": 1}', "missing or has a malformed field"),
    ],
)
def test_corrupted_key_file_names_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(content)
    path.chmod(0o600)
    with pytest.raises(KeyMaterialError, match=message) as info:
        load_key_ring(path, None, database_has_data=True)
    assert str(path) in str(info.value)
    assert path.read_text() == content  # never overwritten


def test_truncated_key_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    write_key_file(path, KeyMaterial.generate())
    doc = json.loads(path.read_text())
    doc["data_keys"][0]["key"] = "AAAA"
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyMaterialError, match="must be 32 bytes"):
        read_key_file(path)


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    write_key_file(path, KeyMaterial.generate())
    os.chmod(path, 0o644)
    with pytest.raises(KeyMaterialError, match="readable by others"):
        read_key_file(path)


def test_keys_from_environment(tmp_path: Path) -> None:
    material = KeyMaterial.generate()
    ring, created = load_key_ring(tmp_path / "none.json", material.to_json(), True)
    assert not created and ring.path is None
    assert ring.material.data_keys == material.data_keys


def test_ring_follows_a_rotated_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    write_key_file(path, KeyMaterial.generate())
    server_ring = KeyRing(read_key_file(path), path, reload_seconds=3600)
    rotator = KeyRing(read_key_file(path).with_new_key())
    write_key_file(path, rotator.material)
    # an unknown key id makes the ring re-read its file at once
    assert server_ring.decrypt(rotator.encrypt("x", AAD), AAD) == b"x"
    assert server_ring.active_id == 2


def test_signing_key_change_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    write_key_file(path, KeyMaterial.generate())
    ring = KeyRing(read_key_file(path), path, reload_seconds=3600)
    write_key_file(path, KeyMaterial.generate())
    with pytest.raises(KeyMaterialError, match="signing key changed"):
        ring.maybe_reload(force=True)


def test_blind_index_is_keyed_and_normalised(ring: KeyRing) -> None:
    other = KeyRing(KeyMaterial.generate())
    assert ring.blind_index(" Alex ") == ring.blind_index("alex")
    assert ring.blind_index("alex") != other.blind_index("alex")


def test_signatures_verify_with_the_public_key(ring: KeyRing) -> None:
    signature = ring.sign(b"checkpoint")
    ring.public_key.verify(signature, b"checkpoint")
