"""The OpenAPI 3.1 description of the JSON API (every route under ``/api``), built from code.

What comes from the code: the paths, methods and path parameters (the router's routes), the
request bodies (``model_json_schema`` of the pydantic models the handlers parse, their
``$defs`` moved into ``components``), who may call each operation (``staff_only`` keeps its
roles on the handler), whether it needs the CSRF header (every state-changing method,
``auth.csrf_middleware``) and the form of ids (``pathids``). What is written by hand: a line
per operation, its statuses besides the common ones, and the shapes of the bodies the
handlers build as dicts, mirrored as pydantic models in ``apibodies.py``
(``tests/test_openapi.py`` checks real responses against them, and runs schemathesis on
every operation). A route under ``/api`` without a description here, or a description
without its route, makes :func:`document` raise.

``GET /api/openapi.json`` is public. The API is for signed-in staff, but its description
holds no data, no account and no configuration: it says what the open-source code in the
repository says already, and every operation it names still needs the sign-in cookie. Being
public, it can be fed to a client generator or a checker without a staff session.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from importlib import metadata
from typing import Any, cast

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from server.access.auth import CSRF_HEADER
from server.board.scenes import NewScene
from server.care.clients import AnswersIn, Levels, NewClient
from server.care.groups import NewGroup
from server.care.guests import NewGuest
from server.care.outcomes import AfterSession
from server.care.rhythm import Cancel, Move, NewSeries, NewSession
from server.storage.ids import ID_PARAMETERS, ID_PATTERN
from server.storage.models import Role
from server.views.apibodies import (
    AnswersSaved,
    Client,
    ClientList,
    ConsentLink,
    Document,
    Error,
    Gate,
    GateError,
    GroupMade,
    GroupReady,
    GroupSessionMade,
    GuestsInvited,
    GuestWithdrawn,
    LogReport,
    Me,
    Saved,
    Scene,
    SceneList,
    ScenePlaced,
    ScheduledSession,
    SeriesMade,
    Session,
    SessionEnded,
    SessionsCancelled,
    SessionsMoved,
    SignOff,
)
from server.views.clients import PER_CLIENT
from server.views.supervision import DailyIn, SignOffIn

routes = web.RouteTableDef()
COOKIE = "playroom_staff"  # the name given to aiohttp-session's storage in app.py
JSON = "application/json"
_STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
_PARAMETER = re.compile(r"\{(\w+)\}")

# -- the operations


@dataclass(frozen=True)
class Operation:
    summary: str
    status: int  # of success
    response: type[BaseModel]
    body: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()  # besides those every operation of its kind may return


OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "/api/openapi.json"): Operation("This description of the API", 200, Document),
    ("GET", "/api/me"): Operation("The signed-in staff member", 200, Me),
    ("GET", "/api/clients"): Operation("The clients this person may see", 200, ClientList),
    ("POST", "/api/clients"): Operation("Add a client to one's caseload", 201, Client, NewClient),
    ("GET", "/api/clients/{id}"): Operation("One client", 200, Client, errors=(404,)),
    ("GET", "/api/clients/{id}/gate"): Operation(
        "Whether a session with the client can start now, with every reason",
        200,
        Gate,
        None,
        (404,),
    ),
    ("PUT", "/api/clients/{id}/levels"): Operation(
        "Change the client's iThrive and risk levels", 200, Client, Levels, (404,)
    ),
    ("PUT", "/api/clients/{id}/checklists/{kind}"): Operation(
        "Save answers to a client's checklist (one bad answer saves nothing)",
        200,
        AnswersSaved,
        AnswersIn,
        (404,),
    ),
    ("POST", "/api/clients/{id}/consent-links"): Operation(
        "Make a consent link for the client's parent or carer", 201, ConsentLink, None, (404,)
    ),
    ("POST", "/api/clients/{id}/sessions"): Operation(
        "Schedule a session, with its join links (outside the service's safeguarding hours, "
        "with the reason it has to be then)",
        201,
        ScheduledSession,
        NewSession,
        (404,),
    ),
    ("POST", "/api/clients/{id}/series"): Operation(
        "Schedule a weekly or fortnightly series (at most 52 sessions), each session with its "
        "join links",
        201,
        SeriesMade,
        NewSeries,
        (404,),
    ),
    ("POST", "/api/groups"): Operation(
        "Make a group of 2 to 5 of the therapist's own clients",
        201,
        GroupMade,
        NewGroup,
        (403, 404),
    ),
    ("GET", "/api/groups/{id}"): Operation(
        "A group, and whether each member may join now (their own gate) and why not",
        200,
        GroupReady,
        None,
        (404,),
    ),
    ("POST", "/api/groups/{id}/sessions"): Operation(
        "Schedule a group session: a join link for each member (and their parent's), each "
        "offered once that member's own gate is open",
        201,
        GroupSessionMade,
        NewSession,
        (404,),
    ),
    ("POST", "/api/sessions/{id}/move"): Operation(
        "Move a session, or it and the rest of its series by the same amount: old join links "
        "stop at once, new ones are made for the new times",
        200,
        SessionsMoved,
        Move,
        (404,),
    ),
    ("POST", "/api/sessions/{id}/cancel"): Operation(
        "Cancel a session, or it and the rest of its series, with the reason (sealed): its "
        "join links stop at once",
        200,
        SessionsCancelled,
        Cancel,
        (404,),
    ),
    ("POST", "/api/clients/{client}/sign-offs"): Operation(
        "Sign off the current revision of the client's suitability answers",
        201,
        SignOff,
        SignOffIn,
        (404,),
    ),
    ("POST", "/api/sessions/{id}/open"): Operation(
        "Open the session's room, if the gate is open (and TURN configured for a relay-only one)",
        200,
        Session,
        None,
        (400, 404, 409),
    ),
    ("POST", "/api/sessions/{id}/end"): Operation(
        "End the session", 200, SessionEnded, None, (404,)
    ),
    ("POST", "/api/sessions/{id}/guests"): Operation(
        "Invite a guest (an interpreter or another professional) to the session, or to it and "
        "the rest of its series, with the agreement recorded: one guest link per session",
        201,
        GuestsInvited,
        NewGuest,
        (404,),
    ),
    ("POST", "/api/sessions/{id}/guests/{guest}/withdraw"): Operation(
        "Withdraw a guest's invitation: their link stops working at once",
        200,
        GuestWithdrawn,
        None,
        (404,),
    ),
    ("POST", "/api/sessions/{id}/after"): Operation(
        "Record the reflection, goals and risk level after a session", 201, Saved, AfterSession
    ),
    ("POST", "/api/sessions/{id}/scenes"): Operation(
        "Save the session's board as it is now, as a named scene in the child's box",
        201,
        Scene,
        NewScene,
    ),
    ("GET", "/api/sessions/{id}/scenes"): Operation(
        "The scenes of the session's client, newest first", 200, SceneList
    ),
    ("POST", "/api/sessions/{id}/scenes/{scene}/reopen"): Operation(
        "Put a scene of the client's box on this session's board",
        200,
        ScenePlaced,
        None,
        (400,),
    ),
    ("GET", "/api/records/{session}/verify"): Operation(
        "Check every hash and signature of the session's log", 200, LogReport, None, (404,)
    ),
    ("PUT", "/api/checks/today"): Operation("Save today's pre-session checks", 200, Saved, DailyIn),
}

_PARAMETERS = {
    "client": "The client's id.",
    "session": "The session's id.",
    "kind": "Which of the client's checklists.",
    "scene": "The scene's id.",
    "guest": "The guest's invitation's id.",
}
# ids checked by their service rather than by ``pathids``: a scene's, as the box checks its own
_SERVICE_IDS = frozenset({"scene", "guest"})
_ERRORS = {
    400: "The body is not valid JSON, a field is wrong (named in the message), or the"
    " request does not fit the state of things (a session that has ended, a board too full).",
    401: "Not signed in.",
    403: "Not this person's to see or change, the wrong role, or no CSRF token.",
    404: "There is no such client, session, checklist or scene.",
    409: "The gate is not open: every reason is in `gate`.",
    413: "The body is larger than the server accepts.",
    503: "The database cannot be written to right now, or the service has no public address"
    " set to make the links asked for (`no_public_url`); nothing was changed.",
}


class UndescribedRoute(AssertionError):
    """The router and the description disagree."""


def api_routes(app: web.Application) -> dict[tuple[str, str], web.AbstractRoute]:
    """Every route under ``/api`` by method and path (HEAD, which aiohttp adds beside each
    GET, is left out)."""
    found = {}
    for route in app.router.routes():
        resource = route.resource
        if resource is None or not resource.canonical.startswith("/api/"):
            continue
        if route.method != "HEAD":
            found[(route.method, resource.canonical)] = route
    return found


def document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of ``app``'s JSON API."""
    routed = api_routes(app)
    missing = sorted(set(routed) - set(OPERATIONS))
    stale = sorted(set(OPERATIONS) - set(routed))
    if missing or stale:
        raise UndescribedRoute(f"routes not described: {missing}; described, no route: {stale}")
    schemas, components = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), route in sorted(routed.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        spec = OPERATIONS[(method, path)]
        paths.setdefault(path, {})[method.lower()] = _operation(method, path, route, spec, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Playroom JSON API",
            "version": _version(),
            "description": "The staff API of Playroom. Errors come as "
            '`{"error": {"status": ..., "code": ..., "message": ...}}`.',
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "staffCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": COOKIE,
                    "description": "The signed-in staff member's session (sign in at /signin).",
                },
                "csrfToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": CSRF_HEADER,
                    "description": "The session's CSRF token, on every POST, PUT and DELETE.",
                },
            },
        },
    }


Keyed = dict[tuple[type[BaseModel], JsonSchemaMode], Any]


def _schemas() -> tuple[Keyed, dict[str, Any]]:
    """Every body's schema, with the shared definitions under ``components``."""
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Error, "serialization")]
    wanted.append((GateError, "serialization"))
    for spec in OPERATIONS.values():
        wanted.append((spec.response, "serialization"))
        if spec.body is not None:
            wanted.append((spec.body, "validation"))
    keyed, defs = models_json_schema(
        list(dict.fromkeys(wanted)), ref_template="#/components/schemas/{model}"
    )
    return cast(Keyed, dict(keyed)), dict(defs.get("$defs", {}))


def _operation(
    method: str,
    path: str,
    route: web.AbstractRoute,
    spec: Operation,
    schemas: Keyed,
) -> dict[str, Any]:
    handler = route.handler
    roles: tuple[Role, ...] | None = getattr(handler, "staff_roles", None)
    csrf = method in _STATE_CHANGING and not getattr(handler, "csrf_exempt", False)
    errors = set(spec.errors)
    if roles is not None:
        errors |= {401, 403}
    if spec.body is not None:
        errors |= {400, 413}
    if method in _STATE_CHANGING:
        errors |= {403, 503}
    if _PARAMETER.search(path):
        errors.add(404)
    responses: dict[str, Any] = {
        str(spec.status): {
            "description": "Done.",
            "content": {JSON: {"schema": schemas[(spec.response, "serialization")]}},
        }
    }
    for status in sorted(errors):
        frame = GateError if status == 409 and path.endswith("/open") else Error
        responses[str(status)] = {
            "description": _ERRORS[status],
            "content": {JSON: {"schema": schemas[(frame, "serialization")]}},
        }
    operation: dict[str, Any] = {
        "operationId": getattr(inspect.unwrap(handler), "__name__", method.lower()),
        "summary": spec.summary,
        "responses": responses,
        "security": [] if roles is None else [_security(csrf)],
    }
    if roles is not None:
        operation["description"] = "For " + ", ".join(f"{r.value}s" for r in roles) + "."
    parameters = [_parameter(name, path) for name in _PARAMETER.findall(path)]
    if parameters:
        operation["parameters"] = parameters
    if spec.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": schemas[(spec.body, "validation")]}},
        }
    return operation


def _security(csrf: bool) -> dict[str, list[str]]:
    return {"staffCookie": [], "csrfToken": []} if csrf else {"staffCookie": []}


def _parameter(name: str, path: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if name in ID_PARAMETERS | _SERVICE_IDS:
        schema["pattern"] = ID_PATTERN  # anything else is a 404 (``pathids``)
    if name == "kind":
        schema["enum"] = sorted(PER_CLIENT)
    default = "The session's id." if path.startswith(("/api/sessions/", "/api/records/")) else None
    description = _PARAMETERS.get(name) or default or "The client's id."
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _version() -> str:
    try:
        return metadata.version("playroom")
    except metadata.PackageNotFoundError:
        return "0"


@routes.get("/api/openapi.json", name="api_openapi")
async def openapi_json(request: web.Request) -> web.StreamResponse:
    """This description, for anyone (see the module's docstring)."""
    return web.json_response(document(request.app))
