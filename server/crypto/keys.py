"""Key material: the AES-256-GCM data key ring, the Ed25519 signing key and the cookie key.

The ring is kept in a JSON key file (created on first run, mode 0600) or given by the
``PLAYROOM_KEYS`` environment variable. Each ciphertext carries the id of the key that
sealed it, so old keys keep opening old data while ``playroom rotate-keys`` re-encrypts.

Ciphertext layout: ``0x01 | key id (4 bytes, big endian) | nonce (12 bytes) | AES-GCM
ciphertext and tag``. The associated data binds a ciphertext to its table, column and
row, so a value copied to another row or column fails to open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from server.exceptions import DecryptionError, KeyMaterialError

FORMAT = 0x01
HEADER_LEN = 1 + 4 + 12
FILE_VERSION = 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str, size: int) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError(f"{what} is not valid base64") from exc
    if len(raw) != size:
        raise KeyMaterialError(f"{what} must be {size} bytes, found {len(raw)}")
    return raw


def associated_data(table: str, column: str, row_id: str) -> bytes:
    """The AAD binding a value to where it is stored."""
    return f"playroom|{table}|{column}|{row_id}".encode()


@dataclass
class KeyMaterial:
    """Everything held in a key file."""

    data_keys: dict[int, bytes]
    active: int
    index_key: bytes
    cookie_key: bytes
    signing_seed: bytes
    created: dict[int, str] = field(default_factory=dict)

    @classmethod
    def generate(cls) -> KeyMaterial:
        return cls(
            data_keys={1: AESGCM.generate_key(bit_length=256)},
            active=1,
            index_key=secrets.token_bytes(32),
            cookie_key=secrets.token_bytes(32),
            signing_seed=secrets.token_bytes(32),
            created={1: datetime.now(UTC).isoformat()},
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> KeyMaterial:
        """Parse key material, naming ``source`` in every error."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise KeyMaterialError(f"{source} is not valid JSON (line {exc.lineno})") from exc
        if not isinstance(doc, dict) or doc.get("version") != FILE_VERSION:
            raise KeyMaterialError(f"{source} is not a Playroom key file (version {FILE_VERSION})")
        try:
            keys = {
                int(entry["id"]): _unb64(entry["key"], f"{source}: data key {entry['id']}", 32)
                for entry in doc["data_keys"]
            }
            created = {
                int(entry["id"]): str(entry.get("created", "")) for entry in doc["data_keys"]
            }
            active = int(doc["active"])
            material = cls(
                data_keys=keys,
                active=active,
                index_key=_unb64(doc["index_key"], f"{source}: index_key", 32),
                cookie_key=_unb64(doc["cookie_key"], f"{source}: cookie_key", 32),
                signing_seed=_unb64(doc["signing_key"], f"{source}: signing_key", 32),
                created=created,
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, KeyMaterialError):
                raise
            raise KeyMaterialError(f"{source} is missing or has a malformed field: {exc}") from exc
        if active not in keys:
            raise KeyMaterialError(f"{source}: active key {active} is not among the data keys")
        return material

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "version": FILE_VERSION,
            "active": self.active,
            "data_keys": [
                {"id": kid, "key": _b64(key), "created": self.created.get(kid, "")}
                for kid, key in sorted(self.data_keys.items())
            ],
            "index_key": _b64(self.index_key),
            "cookie_key": _b64(self.cookie_key),
            "signing_key": _b64(self.signing_seed),
        }
        return json.dumps(doc, indent=2) + "\n"

    def with_new_key(self) -> KeyMaterial:
        """A copy with a fresh data key, made active."""
        kid = max(self.data_keys) + 1
        keys = dict(self.data_keys)
        keys[kid] = AESGCM.generate_key(bit_length=256)
        created = dict(self.created)
        created[kid] = datetime.now(UTC).isoformat()
        return KeyMaterial(keys, kid, self.index_key, self.cookie_key, self.signing_seed, created)


def write_key_file(path: Path, material: KeyMaterial) -> None:
    """Write atomically with mode 0600 (a crash leaves the old file or the new, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(material.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def create_key_file(path: Path, material: KeyMaterial) -> bool:
    """Write ``material`` as the key file only if there is none yet (mode 0600, whole or not
    at all); returns whether it was this call that made it. Two processes starting on a new
    data folder at once (the server, a ``playroom`` command beside it) make one key file
    between them, never one each: the second finds the first's and uses it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(material.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(tmp, path)  # atomic, and refused if the key file is there already
        except FileExistsError:
            return False
    finally:
        os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return True


def read_key_file(path: Path) -> KeyMaterial:
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise KeyMaterialError(f"key file {path} does not exist") from exc
    except OSError as exc:
        raise KeyMaterialError(f"key file {path} cannot be read: {exc.strerror}") from exc
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise KeyMaterialError(
            f"key file {path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
        )
    return KeyMaterial.from_json(text, f"key file {path}")


class KeyRing:
    """Seals and opens personal fields; signs tokens and log checkpoints.

    When backed by a file, the ring re-reads it when it meets an unknown key id and
    every ``reload_seconds``, so a running server follows ``rotate-keys``.
    """

    def __init__(
        self, material: KeyMaterial, path: Path | None = None, reload_seconds: float = 5.0
    ) -> None:
        self._path = path
        self._reload_seconds = reload_seconds
        self._mtime = path.stat().st_mtime_ns if path else 0
        self._checked = time.monotonic()
        self._set(material)

    def _set(self, material: KeyMaterial) -> None:
        self.material = material
        self._aead = {kid: AESGCM(key) for kid, key in material.data_keys.items()}
        self.signing_key = Ed25519PrivateKey.from_private_bytes(material.signing_seed)

    @property
    def path(self) -> Path | None:
        """The key file behind the ring, or None when the keys came from the environment."""
        return self._path

    @property
    def active_id(self) -> int:
        self.maybe_reload()
        return self.material.active

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.signing_key.public_key()

    def maybe_reload(self, force: bool = False) -> None:
        """Re-read the key file if it changed (cheap: one stat, at most every few seconds)."""
        if self._path is None:
            return
        now = time.monotonic()
        if not force and now - self._checked < self._reload_seconds:
            return
        self._checked = now
        mtime = self._path.stat().st_mtime_ns
        if mtime != self._mtime:
            material = read_key_file(self._path)
            if material.signing_seed != self.material.signing_seed:
                raise KeyMaterialError(f"key file {self._path}: the signing key changed")
            self._mtime = mtime
            self._set(material)

    def encrypt(self, plaintext: str | bytes, aad: bytes) -> bytes:
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        kid = self.active_id
        header = bytes([FORMAT]) + kid.to_bytes(4, "big") + os.urandom(12)
        return header + self._aead[kid].encrypt(header[5:], data, header[:5] + aad)

    def decrypt(self, blob: bytes, aad: bytes) -> bytes:
        kid = self.key_id_of(blob)
        if kid not in self._aead:
            self.maybe_reload(force=True)
        aead = self._aead.get(kid)
        if aead is None:
            raise DecryptionError(f"data was sealed with key {kid}, which the key ring lacks")
        try:
            return aead.decrypt(blob[5:HEADER_LEN], blob[HEADER_LEN:], blob[:5] + aad)
        except InvalidTag as exc:
            raise DecryptionError("stored data failed its integrity check") from exc

    def decrypt_text(self, blob: bytes, aad: bytes) -> str:
        return self.decrypt(blob, aad).decode()

    @staticmethod
    def key_id_of(blob: bytes) -> int:
        if len(blob) < HEADER_LEN + 16 or blob[0] != FORMAT:
            raise DecryptionError("stored data is not a Playroom ciphertext")
        return int.from_bytes(blob[1:5], "big")

    def blind_index(self, value: str) -> str:
        """A keyed hash for looking a value up without storing it in clear."""
        normal = value.strip().casefold().encode()
        return hmac.new(self.material.index_key, normal, hashlib.sha256).hexdigest()

    def sign(self, message: bytes) -> bytes:
        return self.signing_key.sign(message)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this server's signature of ``message``."""
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


def load_key_ring(
    path: Path, env_keys: str | None, database_has_data: bool, reload_seconds: float = 5.0
) -> tuple[KeyRing, bool]:
    """Load the ring from the environment or the key file; create the file on first run only.

    Returns the ring and whether a new file was created. A missing key file next to a
    database that already holds data is an error, never a silent regeneration.
    """
    if env_keys:
        return KeyRing(KeyMaterial.from_json(env_keys, "PLAYROOM_KEYS")), False
    if path.exists():
        return KeyRing(read_key_file(path), path, reload_seconds), False
    if database_has_data:
        raise KeyMaterialError(
            f"key file {path} is missing but the database already holds encrypted data; "
            "restore the key file from backup (a new key could not open the data)"
        )
    created = create_key_file(path, KeyMaterial.generate())  # another process may be first
    return KeyRing(read_key_file(path), path, reload_seconds), created
