"""Hostile JSON bodies: a number of thousands of digits, or nesting deeper than the decoder
goes, is a 400 with a clear JSON error on every route that reads a JSON body, never a 500.

The routes are read from the application's router (every POST, PUT and PATCH whose handler
parses its body with ``json_body``) and from the API's description (every operation that
names a body), so a route added later is swept without this file changing."""

from __future__ import annotations

import inspect

from aiohttp import web
from aiohttp.test_utils import TestClient

from server.storage.ids import ID_PARAMETERS
from server.storage.models import Role, new_id
from server.views.clients import PER_CLIENT
from server.views.openapi import OPERATIONS
from tests.conftest import make_staff, sign_in

HOSTILE = {
    "a number of 5,000 digits": b'{"display_name": ' + b"7" * 5000 + b"}",
    "nesting 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
}
# path parameters that are not ids, with a value their route takes
OTHER_PARAMETERS = {"kind": next(iter(PER_CLIENT)), "scene": new_id()}


def json_routes(app: web.Application) -> dict[tuple[str, str], web.AbstractRoute]:
    """Every route of ``app`` that reads a JSON body, by method and path."""
    found = {}
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method not in ("POST", "PUT", "PATCH"):
            continue
        handler = inspect.unwrap(route.handler)  # type: ignore[arg-type]
        described = OPERATIONS.get((route.method, resource.canonical))
        if "json_body(" in inspect.getsource(handler) or (described and described.body):
            found[(route.method, resource.canonical)] = route
    return found


def _address(path: str) -> str:
    for name in ID_PARAMETERS:
        path = path.replace("{" + name + "}", new_id())
    for name, value in OTHER_PARAMETERS.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"{path}: give its parameter a value in OTHER_PARAMETERS"
    return path


async def test_every_json_route_answers_hostile_json_with_a_clear_400(
    app: web.Application,
    aiohttp_client,
    client: TestClient,  # type: ignore[no-untyped-def]
) -> None:
    routes = json_routes(app)
    assert len(routes) >= 8  # the API's bodies today; more is fine
    signed_in: dict[Role, tuple[TestClient, str]] = {}
    for (method, path), route in sorted(routes.items()):
        roles = getattr(route.handler, "staff_roles", ()) or (Role.THERAPIST,)
        role = roles[0]
        if role not in signed_in:
            browser = client if not signed_in else await aiohttp_client(client.server)
            staff = await make_staff(app, f"sweep.{role.value}", role)
            signed_in[role] = (browser, await sign_in(browser, staff))
        browser, token = signed_in[role]
        for what, body in HOSTILE.items():
            resp = await browser.request(
                method,
                _address(path),
                data=body,
                headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
            )
            assert resp.status == 400, (method, path, what, resp.status)
            assert resp.content_type == "application/json", (method, path, what)
            error = (await resp.json())["error"]
            assert error["status"] == 400 and error["code"] == "bad_json", (method, path, what)
            assert error["message"].startswith(
                "The request body is not JSON this service can read"
            ), (method, path, what, error)


async def test_a_body_that_is_not_json_is_still_named_as_such(
    client: TestClient, therapist
) -> None:  # type: ignore[no-untyped-def]
    token = await sign_in(client, therapist)
    for body, words in [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b'{"display_name": ' + b"7" * 5000 + b"}", "more than 4300 digits"),
        (b"[" * 100_000, "nested too deeply"),
    ]:
        resp = await client.post(
            "/api/clients",
            data=body,
            headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
        )
        assert resp.status == 400
        assert words in (await resp.json())["error"]["message"]
    resp = await client.post(  # a character set nobody knows: named, not a server error
        "/api/clients",
        data=b"{}",
        headers={"X-CSRF-Token": token, "Content-Type": "application/json; charset=klingon"},
    )
    assert resp.status == 400 and "character set" in (await resp.json())["error"]["message"]


async def test_hostile_frames_on_the_signalling_socket_are_answered_and_the_socket_goes_on(
    client: TestClient,
) -> None:
    """The socket's frames are parsed by ``live/protocol.py`` (and the board's, inside them,
    by ``media/ops.py``): the same hostile JSON is an error frame there, never a closed
    socket."""
    frames = [
        "1" * 5000,
        '{"v": 1, "type": "ping", "id": "n", "n": ' + "7" * 5000 + "}",
        "[" * 30_000 + "]" * 30_000,  # within the 64 KiB a frame may take
        '{"v": 1, "type": "board", "id": "b", "op": ' + '{"a": ' * 5000 + "1" + "}" * 5001,
    ]
    async with client.ws_connect("/ws") as ws:
        for frame in frames:
            await ws.send_str(frame)
            answer = await ws.receive_json()
            assert (answer["type"], answer["code"]) == ("error", "bad_json"), frame[:40]
        await ws.send_json({"v": 1, "type": "ping", "id": "alive"})
        assert (await ws.receive_json())["type"] == "pong"
        assert not ws.closed
