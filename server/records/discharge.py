"""The end of treatment and record holds, set by the client's named worker; each change is
appended to the client's own log. The discharge date starts the clock of how long the record
is kept (``server/records/retention.py``); a hold stops it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from server.access.accounts import StaffView
from server.audit.sessionlog import SessionLog, client_stream, staff_actor
from server.care.clients import Clients
from server.exceptions import NotFound
from server.records.retention import Retention
from server.storage.db import Database, utcnow
from server.storage.models import Client


@dataclass(frozen=True)
class KeepingView:
    discharged_on: date | None
    held: bool
    end_of_care: date
    keep_until: date | None  # None: on hold
    until_age: int
    min_years: int


class Discharges:
    def __init__(
        self, db: Database, clients: Clients, retention: Retention, log: SessionLog
    ) -> None:
        self.db = db
        self.clients = clients
        self.retention = retention
        self.log = log

    async def view(self, user: StaffView, client_id: str) -> KeepingView:
        await self.clients.get(user, client_id)
        async with self.db.session() as session:
            client = await session.get(Client, client_id)
            if client is None:
                raise NotFound("There is no such client.")
            discharged, held = client.discharged_at, client.retention_hold
        keeping = await self.retention.keeping(client_id)
        assert keeping is not None
        return KeepingView(
            discharged.date() if discharged else None,
            held,
            keeping.end_of_care,
            keeping.keep_until,
            self.retention.policy.until_age,
            self.retention.policy.min_years,
        )

    async def discharge(self, user: StaffView, client_id: str, discharged: bool) -> None:
        """Record the end of treatment now, or clear it (the young person came back)."""
        await self.clients.get(user, client_id, write=True)
        async with self.db.session() as session:
            client = await session.get(Client, client_id)
            if client is None:
                raise NotFound("There is no such client.")
            client.discharged_at = utcnow() if discharged else None
        kind = "client.discharged" if discharged else "client.reopened"
        await self.log.append(client_stream(client_id), kind, staff_actor(user.id))

    async def hold(self, user: StaffView, client_id: str, held: bool) -> None:
        """Keep the record whatever its period (a safeguarding concern, a complaint, a
        claim, an inquiry), or lift the hold."""
        await self.clients.get(user, client_id, write=True)
        async with self.db.session() as session:
            client = await session.get(Client, client_id)
            if client is None:
                raise NotFound("There is no such client.")
            client.retention_hold = held
        kind = "retention.held" if held else "retention.released"
        await self.log.append(client_stream(client_id), kind, staff_actor(user.id))
