"""The witness (``witness.py``) as a small service of its own, over HTTP: ``playroom witness``
serves it, and ``RemoteWitness`` is a server's client of it (``PLAYROOM_WITNESS__URL``).

Run it where the database's administrators cannot write (another host, another volume):
its store and its key are its own. Anyone who reaches it can read what it keeps (ids and
hashes) and can send it checkpoints, but it takes only those signed by the server it serves
and only when they extend what it saw, so run it on a private network all the same.

| method and path | body | answer |
|---|---|---|
| ``POST /checkpoints`` | ``Submission`` | 200 ``Seen``, countersigned; 409 a refusal |
| ``POST /retirements`` | ``Retirement`` | 200; 409 a refusal |
| ``GET /logs/{stream}`` | | 200 ``Sighting`` |
| ``GET /heads`` | | 200 ``{"heads": [Head, ...]}`` |
| ``GET /key`` | | 200 ``{"public_key": base64}`` |
| ``GET /healthz`` | | 200 |

An error is ``{"error": {"status", "code", "message", "size", "head"}}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import quote

import aiohttp
from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from server.audit.witness import Head, Retirement, Seen, Sighting, Submission, Witness
from server.exceptions import WitnessRefused, WitnessUnavailable

M = TypeVar("M", bound=BaseModel)
WITNESS = web.AppKey("witness", Witness)
MAX_BODY = 16 * 1024  # a checkpoint is some 500 characters
_heads: TypeAdapter[list[Head]] = TypeAdapter(list[Head])


def _refusal(status: int, code: str, message: str, size: int = 0, head: str = "") -> web.Response:
    problem = {"status": status, "code": code, "message": message, "size": size, "head": head}
    return web.json_response({"error": problem}, status=status)


async def _body(request: web.Request, model: type[M]) -> M:
    """The body, parsed and validated in one pass by pydantic's own parser, which refuses a
    number of thousands of digits or nesting past its depth as it refuses any bad body."""
    return model.model_validate_json(await request.read())


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except WitnessRefused as exc:
        return _refusal(409, exc.code, str(exc), exc.size, exc.head)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        return _refusal(400, "bad_request", f"{where}: {first['msg']}")


routes = web.RouteTableDef()


@routes.post("/checkpoints")
async def submit(request: web.Request) -> web.StreamResponse:
    sub = await _body(request, Submission)
    seen = await asyncio.to_thread(request.app[WITNESS].submit, sub)
    return web.json_response(seen.model_dump())


@routes.post("/retirements")
async def retire(request: web.Request) -> web.StreamResponse:
    retirement = await _body(request, Retirement)
    await asyncio.to_thread(request.app[WITNESS].retire, retirement)
    return web.json_response({"retired": retirement.stream})


@routes.get("/logs/{stream}")
async def sighting(request: web.Request) -> web.StreamResponse:
    found = await asyncio.to_thread(request.app[WITNESS].sighting, request.match_info["stream"])
    return web.json_response(found.model_dump())


@routes.get("/heads")
async def heads(request: web.Request) -> web.StreamResponse:
    found = await asyncio.to_thread(request.app[WITNESS].heads)
    return web.json_response({"heads": [h.model_dump() for h in found]})


@routes.get("/key")
async def key(request: web.Request) -> web.StreamResponse:
    return web.json_response({"public_key": request.app[WITNESS].public_key})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


def witness_app(witness: Witness) -> web.Application:
    """The witness service; its store is closed when the application stops."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors])
    app[WITNESS] = witness

    async def close(app: web.Application) -> None:
        app[WITNESS].store.close()

    app.on_cleanup.append(close)
    app.router.add_routes(routes)
    return app


class RemoteWitness:
    """A witness service reached over HTTP. A refusal is ``WitnessRefused``; no answer, or
    an answer no witness would give, is ``WitnessUnavailable``."""

    def __init__(self, url: str, timeout_seconds: float) -> None:
        self.url = url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def submit(self, sub: Submission) -> Seen:
        return _read(Seen.model_validate_json, await self._call("POST", "/checkpoints", sub))

    async def retire(self, retirement: Retirement) -> None:
        await self._call("POST", "/retirements", retirement)

    async def sighting(self, stream: str) -> Sighting:
        text = await self._call("GET", f"/logs/{quote(stream, safe=':')}")
        return _read(Sighting.model_validate_json, text)

    async def heads(self) -> list[Head]:
        return _read(_heads.validate_json, await self._call("GET", "/heads", key="heads"))

    async def public_key(self) -> str:
        return str(json.loads(await self._call("GET", "/key", key="public_key")))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(
        self, method: str, path: str, body: BaseModel | None = None, key: str | None = None
    ) -> str:
        """The answer's JSON text (``key``: of that member of it); read by the caller's
        model, and any answer it cannot read is a witness unavailable, not a crash."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        data = None if body is None else body.model_dump_json()
        headers = {"Content-Type": "application/json"}
        try:
            async with self._session.request(
                method, self.url + path, data=data, headers=headers
            ) as resp:
                text = await resp.text()
                if resp.status in (400, 409):
                    e = json.loads(text)["error"]
                    raise WitnessRefused(e["code"], e["message"], int(e["size"]), str(e["head"]))
                if resp.status != 200:
                    raise WitnessUnavailable(f"The witness answered {resp.status}.")
                return text if key is None else json.dumps(json.loads(text)[key])
        except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
            raise WitnessUnavailable("The witness cannot be reached.") from exc


T = TypeVar("T")


def _read(parse: Callable[[str], T], text: str) -> T:
    try:
        return parse(text)
    except ValidationError as exc:
        raise WitnessUnavailable("The witness answered as no witness would.") from exc
