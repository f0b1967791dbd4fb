"""Ids in paths. Every row's id is 32 lowercase hex digits (``models.new_id``), so a path
whose id is anything else names nothing: it is answered 404 before any handler takes it to
the database (where PostgreSQL would refuse a NUL character with a server error, and a long
or odd value has no business)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from server.exceptions import NotFound

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# the path parameters that hold a row's id, in every route that has them
ID_PARAMETERS = frozenset({"id", "client", "session", "appointment", "object"})
ID_PATTERN = "^[0-9a-f]{32}$"  # as JSON Schema writes it (the OpenAPI document)
_ID = re.compile("[0-9a-f]{32}")


def is_id(value: str) -> bool:
    """Whether ``value`` can be a row's id: exactly 32 lowercase hex digits (a trailing
    newline included, which ``$`` in a Python pattern would let through)."""
    return _ID.fullmatch(value) is not None


@web.middleware
async def ids_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A path's ids are well-formed, or there is nothing at that address."""
    for name, value in request.match_info.items():
        if name in ID_PARAMETERS and not is_id(value):
            raise NotFound("There is nothing at this address.")
    return await handler(request)
