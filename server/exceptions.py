"""One exception tree. Every message is safe to show to the person using the app."""

from __future__ import annotations

from sqlalchemy.exc import SQLAlchemyError


class PlayroomError(Exception):
    """Base class; ``str(error)`` is safe to show to a user."""

    status = 400


class ConfigurationError(PlayroomError):
    """The server cannot start as configured (key file, database, settings)."""

    status = 500


class KeyMaterialError(ConfigurationError):
    """The key material is missing, unreadable or does not match the data."""


class DecryptionError(PlayroomError):
    """A ciphertext could not be opened: wrong key, wrong row, or altered."""

    status = 500


class AuthError(PlayroomError):
    """Sign-in failed; the message does not say which part was wrong."""

    status = 401


class AccountLocked(AuthError):
    """Too many failures: the account is locked for a while."""

    status = 429


class RateLimited(PlayroomError):
    """Too many requests from one place."""

    status = 429


class Forbidden(PlayroomError):
    status = 403


class NotFound(PlayroomError):
    status = 404


class StorageUnavailable(PlayroomError):
    """The database cannot be written to; nothing was changed."""

    status = 503


# what a write that did not take can raise: the database's own errors, the disk's, or
# storage known to be read-only; each caller answers "not saved" and carries on
STORAGE_FAILURES: tuple[type[Exception], ...] = (SQLAlchemyError, OSError, StorageUnavailable)
