"""What the views share: the signed-in user, request bodies parsed by pydantic, links to
send people and their QR codes."""

from __future__ import annotations

import base64
import json
import logging
import sys
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.access.accounts import StaffView
from server.access.auth import current_user
from server.appkeys import SETTINGS
from server.exceptions import NoPublicAddress, PlayroomError
from server.settings import Settings

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)


async def staff(request: web.Request) -> StaffView:
    """The signed-in staff member (handlers are wrapped by ``staff_only``)."""
    user = await current_user(request)
    if user is None:
        raise web.HTTPUnauthorized()
    return user


def validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "request"
    return f"{where}: {first['msg']}"


def parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PlayroomError(validation_message(exc)) from exc


async def json_body(request: web.Request, model: type[M]) -> M:
    """A JSON request body validated by ``model``; bad JSON or fields get a clear 400."""
    return parse(model, _decoded(await request.read(), request.charset))


def _decoded(raw: bytes, charset: str | None) -> Any:
    """The JSON document in a request body. Besides text that is not JSON, the decoder
    refuses a number of more digits than Python turns into an int (``ValueError``) and
    nesting deeper than its recursion limit (``RecursionError``): each is a 400 naming it."""
    try:
        text = raw.decode(charset or "utf-8")
        return json.loads(text)
    except LookupError as exc:  # a charset parameter naming no codec
        raise _unreadable("its character set is not one this service knows") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _unreadable("it is not valid JSON") from exc
    except ValueError as exc:  # the only other ValueError json.loads raises
        digits = sys.get_int_max_str_digits()
        raise _unreadable(f"a number in it has more than {digits} digits") from exc
    except RecursionError as exc:
        raise _unreadable("it is nested too deeply") from exc


def _unreadable(why: str) -> PlayroomError:
    return PlayroomError(
        f"The request body is not JSON this service can read: {why}.", code="bad_json"
    )


async def form(request: web.Request) -> dict[str, str]:
    """A submitted form as plain strings (files are not accepted here)."""
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str) and k != "csrf_token"}


def qr_data_uri(text: str) -> str:
    import qrcode.image.svg  # here, not as the server starts (docs/performance.md, §13)

    svg = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8).to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def link_base(request: web.Request) -> str:
    """What a link to send someone (a consent or a join link) starts with: the public address
    whenever one is set. Without one, a development server uses the address this request
    came to, its Host header, which whoever sends the request chooses; production refuses
    (``NoPublicAddress``), and handlers ask before they make anything."""
    settings = request.app[SETTINGS]
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if not settings.development:
        raise NoPublicAddress()
    return f"{request.scheme}://{request.host}"


def link_note(settings: Settings) -> str | None:
    """What a page showing links says of their address, when it came from the request."""
    if settings.public_url or not settings.development:
        return None
    return (
        "This link is made from the address your browser used to reach Playroom: this "
        "development server has no public address set (PLAYROOM_PUBLIC_URL)."
    )


async def announce_link_base(app: web.Application) -> None:
    """Say once, as the server starts, where links will come from when that is not the
    public address."""
    settings = app[SETTINGS]
    if settings.public_url:
        return
    if settings.development:
        log.warning(
            "PLAYROOM_PUBLIC_URL is not set: this development server makes consent and join "
            "links from the address each request came to (its Host header). Set it before "
            "anyone else uses this server.",
            extra={"event": "links_from_host"},
        )
    else:
        log.error(
            "PLAYROOM_PUBLIC_URL is not set: consent and join links are refused until it is.",
            extra={"event": "no_public_url"},
        )
