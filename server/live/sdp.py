"""Checking session descriptions before they are relayed: they must parse and offer media."""

from __future__ import annotations

from typing import TYPE_CHECKING

from server.exceptions import ProtocolError

if TYPE_CHECKING:
    from aiortc.sdp import SessionDescription

USABLE = {"audio", "video", "application"}


def check_sdp(sdp: str) -> SessionDescription:
    """Refuse a description that does not parse or offers no usable media; the parsed
    description otherwise."""
    from aiortc.sdp import SessionDescription  # aiortc: imported once the server answers

    if not sdp.startswith("v=0"):
        raise ProtocolError("bad_sdp", "The session description does not parse.")
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:
        # aiortc's parser is not written for hostile input: besides ValueError and its kin
        # it asserts that c= and m= lines match, and a format with no rtpmap line ends in
        # StopIteration. Whatever it raises, the description does not parse.
        raise ProtocolError("bad_sdp", "The session description does not parse.") from exc
    if not any(m.kind in USABLE and m.port != 0 for m in parsed.media):
        raise ProtocolError("bad_sdp", "The session description offers no usable media.")
    return parsed


def sending(parsed: SessionDescription) -> set[str]:
    """The kinds of media (audio, video) this description says its side sends."""
    return {
        m.kind
        for m in parsed.media
        if m.kind in ("audio", "video") and m.port != 0 and m.direction in ("sendrecv", "sendonly")
    }


def sending_streams(parsed: SessionDescription) -> set[str]:
    """The media streams (``a=msid``) whose audio or video this description says its side
    sends: a page's camera and microphone are one, each screen it shares another."""
    return {
        next(iter((m.msid or "").split()), "-")
        for m in parsed.media
        if m.kind in ("audio", "video") and m.port != 0 and m.direction in ("sendrecv", "sendonly")
    }
