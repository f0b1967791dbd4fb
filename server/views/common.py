"""What the views share: the signed-in user, request bodies parsed by pydantic, QR codes."""

from __future__ import annotations

import base64
import json
from typing import Any, TypeVar

import qrcode
import qrcode.image.svg
from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.access.accounts import StaffView
from server.access.auth import current_user
from server.exceptions import PlayroomError

M = TypeVar("M", bound=BaseModel)


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
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PlayroomError("The request body is not valid JSON.") from exc
    return parse(model, data)


async def form(request: web.Request) -> dict[str, str]:
    """A submitted form as plain strings (files are not accepted here)."""
    data = await request.post()
    return {k: v for k, v in data.items() if isinstance(v, str) and k != "csrf_token"}


def qr_data_uri(text: str) -> str:
    svg = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8).to_string()
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def absolute(request: web.Request, path: str, public_url: str | None) -> str:
    base = public_url.rstrip("/") if public_url else f"{request.scheme}://{request.host}"
    return base + path
