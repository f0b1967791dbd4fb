"""One exception tree. Every error carries a ``code`` a program can act on and a message safe
to show to the person using the app; only the edges turn an error into an error frame
(``server/edge/dispatch.py``), a data channel's answer (``server/board/service.py``) or an
HTTP response (``server/views/security.py``).

Raised inside a pydantic validator, the errors that are also ``ValueError``s become part of
the validation error, as pydantic expects."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from server.i18n import N_


class PlayroomError(Exception):
    """Base class; ``str(error)`` is safe to show to a user, ``code`` names the fault."""

    status = 400
    code = "refused"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def detail(self) -> dict[str, Any] | None:
        """More for the page to show (the gate's reasons, say), or nothing."""
        return None


# -- start-up and storage


class ConfigurationError(PlayroomError):
    """The server cannot start as configured (key file, database, settings)."""

    status = 500


class KeyMaterialError(ConfigurationError):
    """The key material is missing, unreadable or does not match the data."""


class DecryptionError(PlayroomError):
    """A ciphertext could not be opened: wrong key, wrong row, or altered."""

    status = 500


class StorageUnavailable(PlayroomError):
    """The database cannot be written to; nothing was changed."""

    status = 503


class NoPublicAddress(PlayroomError):
    """A link to send someone cannot be made: the service has no public address set, and
    in production the address a request came to is not trusted (``views/common.py``)."""

    status = 503
    code = "no_public_url"

    def __init__(self) -> None:
        super().__init__(
            "This service has no public address set (PLAYROOM_PUBLIC_URL), so it cannot make "
            "links. Ask whoever runs it to set one; nothing was changed."
        )


# -- the witness of the session logs (``audit/witness.py``)


class WitnessRefused(PlayroomError):
    """The witness refused a checkpoint: it does not extend what the witness saw of that log,
    or it is not signed by the server the witness serves. ``size`` and ``head``: what the
    witness holds of that log, when it holds anything."""

    status = 409

    def __init__(self, code: str, message: str, size: int = 0, head: str = "") -> None:
        super().__init__(message, code=code)
        self.size, self.head = size, head


class WitnessUnavailable(PlayroomError):
    """The witness cannot be reached (or answered as no witness would); what it has not
    seen is sent again later."""

    status = 503
    code = "witness_unavailable"


# what a write that did not take can raise: the database's own errors, the disk's, or
# storage known to be read-only; each caller answers "not saved" and carries on
STORAGE_FAILURES: tuple[type[Exception], ...] = (SQLAlchemyError, OSError, StorageUnavailable)


# -- who may do what


class AuthError(PlayroomError):
    """Sign-in failed; the message does not say which part was wrong."""

    status = 401


class SignInDelayed(AuthError):
    """Too many failures for one username from one address: that pair waits a while
    (``access/lockout.py``)."""

    status = 429


class RateLimited(PlayroomError):
    """Too many requests from one place."""

    status = 429


class Forbidden(PlayroomError):
    """Not this person's to do or see."""

    status = 403


class NotFound(PlayroomError):
    """No such thing, or not one this person may know of."""

    status = 404


class TokenError(PlayroomError):
    """A link that is forged, damaged, for another purpose, or outside its window."""

    status = 403
    code = "bad_link"


class SessionEnded(TokenError):
    """A join link whose session has ended (which withdraws it): the page says goodbye, not
    that the link is refused."""


class GateClosed(PlayroomError):
    """The room cannot open: the gate is not open. Carries every reason (a
    ``care.gate.GateResult``, shown to the therapist with links to fix each)."""

    status = 409
    code = "gate_closed"

    def __init__(self, result: Any) -> None:
        super().__init__(
            "This session cannot start yet: " + "; ".join(r.message for r in result.reasons)
        )
        self.result = result

    @property
    def detail(self) -> dict[str, Any]:
        return dict(self.result.as_dict())


class NoRelay(PlayroomError):
    """The room cannot open: its session relays all media through TURN (relay only), and no
    TURN server is configured, so its media would never connect."""

    status = 409
    code = "no_relay"

    def __init__(self) -> None:
        super().__init__(
            "This session is set to relay all media through a TURN server, and none is "
            "configured. Ask your administrator, or schedule it without relay-only."
        )


class CodedError(PlayroomError):
    """An error whose code is chosen where it is raised, among those its protocol documents
    (``docs/protocol.md``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


# -- live rooms


class ProtocolError(CodedError):
    """A message that cannot be accepted; answered with an error frame. ``frame_id`` is the
    ``id`` of a frame refused as it was read, when it had a valid one: the answer echoes it."""

    def __init__(self, code: str, message: str, *, frame_id: str | None = None) -> None:
        super().__init__(code, message)
        self.frame_id = frame_id


class IllegalTransition(PlayroomError):
    """A participant's state cannot move that way (``live.rooms.State``)."""

    status = 409


class NotLetBack(PlayroomError):
    """A join link whose holder the therapist removed from the room or declined from the
    waiting room: it cannot join this session again, nor resume, until the therapist lets
    them back. The message is for the young person or parent."""

    status = 403
    code = "not_let_back"

    def __init__(self) -> None:
        super().__init__(
            N_("Your therapist has asked you to leave this session. They will be in touch.")
        )


class LinkInUse(PlayroomError):
    """A second device tried a link that is already connected."""

    status = 409
    code = "link_in_use"

    def __init__(self) -> None:
        super().__init__(
            "This link is already in use on another device. "
            "If that was not you, tell your therapist."
        )


# -- the board and its pictures (also ValueErrors: see the module's docstring)


class BoardError(CodedError, ValueError):
    """A board operation refused, with its code (``docs/protocol.md``, the board channel)."""


class PictureError(PlayroomError, ValueError):
    """A picture that cannot be shared: not a picture, too large, or damaged."""


class TransferError(CodedError, ValueError):
    """A picture's transfer refused, with its code (``docs/protocol.md``, pictures)."""
