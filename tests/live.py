"""Talking to a real server process over HTTP and WebSocket, as a browser would."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from server.care.checklists import Kind, load_catalogue
from tests.client import ProtocolPeer
from tests.factories import join_message, safe_answer, safe_answers
from tests.totp import take

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class LiveStaff:
    """A staff member signed in to a live server (enrolling TOTP on first sign-in)."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base, self.username, self.password = base, username, password
        self.secret: str | None = None
        self.step = 0
        self.http: aiohttp.ClientSession | None = None
        self.csrf = ""

    def _code(self) -> str:
        assert self.secret is not None
        self.step, code = take(self.secret, self.step)
        return code

    async def sign_in(self, base: str | None = None) -> None:
        self.base = base or self.base
        if self.http is not None:
            await self.http.close()
        self.http = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(limit=0),  # open room sockets each hold one
        )
        page = await (await self.http.get(f"{self.base}/signin")).text()
        form = {
            "username": self.username,
            "password": self.password,
            "csrf_token": _CSRF.findall(page)[0],
        }
        resp = await self.http.post(f"{self.base}/signin", data=form)
        html = await resp.text()
        if self.secret is None:
            self.secret = html.split('id="totp-secret">')[1].split("<")[0].replace(" ", "")
        resp = await self.http.post(
            str(resp.url), data={"code": self._code(), "csrf_token": _CSRF.findall(html)[0]}
        )
        self.csrf = _CSRF.findall(await resp.text())[0]

    async def api(self, method: str, path: str, body: Any = None, form: Any = None) -> Any:
        assert self.http is not None
        resp = await self.http.request(
            method, f"{self.base}{path}", json=body, data=form, headers={"X-CSRF-Token": self.csrf}
        )
        assert resp.status < 400, await resp.text()
        return await resp.json() if resp.content_type == "application/json" else await resp.text()

    async def ws(self) -> aiohttp.ClientWebSocketResponse:
        assert self.http is not None
        return await self.http.ws_connect(f"{self.base.replace('http', 'ws', 1)}/ws")

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()


async def ready_session(staff: LiveStaff, name: str = "Sky") -> tuple[str, dict[str, str]]:
    """A client whose gate is open and a session starting soon; returns its id and links."""
    catalogue = load_catalogue()
    client = await staff.api("POST", "/api/clients", {"display_name": name, "age_band": "16-17"})
    for kind, answers in (
        ("suitability", safe_answers(catalogue[Kind.SUITABILITY])),
        ("disconnection-plan", safe_answers(catalogue[Kind.DISCONNECTION_PLAN])),
    ):
        await staff.api(
            "PUT", f"/api/clients/{client['id']}/checklists/{kind}", {"answers": answers}
        )
    daily = {i.id: safe_answer(i) for i in catalogue[Kind.PRE_SESSION].items() if i.answerable}
    await staff.api("PUT", "/api/checks/today", {"answers": daily})
    starts = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    made = await staff.api("POST", f"/api/clients/{client['id']}/sessions", {"starts_at": starts})
    return made["id"], {
        link["role"]: link["url"].rsplit("/join/", 1)[1] for link in made["join_links"]
    }


@dataclass
class InRoom:
    """A therapist and a young person in a live room, with their ids and resume tokens."""

    therapist: ProtocolPeer
    young: ProtocolPeer
    therapist_id: str
    therapist_token: str
    young_id: str
    young_token: str


async def enter_room(
    staff: LiveStaff,
    session: str,
    join_token: str,
    outsider: aiohttp.ClientSession,
    board: bool = False,
) -> InRoom:
    """The therapist opens the room, the young person joins on ``outsider`` (a browser of
    their own) and is admitted; with ``board``, both then hold the board."""
    therapist = ProtocolPeer(await staff.ws(), media=False)
    await therapist.send({"type": "open_room", "session": session})
    opened = await therapist.expect("room_opened")
    young = ProtocolPeer(
        await outsider.ws_connect(f"{staff.base.replace('http', 'ws', 1)}/ws"), media=False
    )
    await young.send(join_message(join_token))
    joined = await young.expect("joined")
    await therapist.send({"type": "admit", "participant": joined["you"]["id"]})
    await young.expect("admitted")
    if board:
        await asyncio.gather(therapist.open_board(), young.open_board())
    return InRoom(
        therapist,
        young,
        opened["you"]["id"],
        opened["resume"],
        joined["you"]["id"],
        joined["resume"],
    )
