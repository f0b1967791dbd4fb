"""Reads asked for at the same moment are made as one: what is asked for while a read is
under way is read next, together, each key once; an answer is always read after it was asked
for; a failed read fails its own callers only; one caller giving up stops it for nobody. And
a storm of resumes checks its links in a few reads, each as a read of its own would say."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.appkeys import DATABASE, SCHEDULE
from server.storage.db import utcnow
from server.storage.models import Link, new_id
from server.storage.together import Together
from tests.conftest import Staff, sign_in
from tests.factories import ready_client, therapist_view
from tests.scenes import schedule_session


class Store:
    """A store whose reads are held until let go, each noting the keys it read."""

    def __init__(self) -> None:
        self.value = "old"
        self.reads: list[list[str]] = []
        self.go = asyncio.Event()
        self.reading = asyncio.Event()  # a read has begun
        self.fail = False

    async def read(self, keys: list[str]) -> dict[str, str]:
        self.reads.append(sorted(keys))
        value = self.value  # as the store is when the read begins
        self.reading.set()
        await self.go.wait()
        if self.fail:
            raise OSError("the database went away")
        return {key: f"{key}:{value}" for key in keys}


async def test_what_is_asked_for_during_a_read_is_read_next_together() -> None:
    store = Store()
    together: Together[str, str] = Together(store.read)
    first = asyncio.create_task(together.get("a"))
    await store.reading.wait()  # its read under way
    store.value = "new"  # changed after the first read began: the later askers see it
    later = [asyncio.create_task(together.get(key)) for key in ("b", "c", "b", "a")]
    await asyncio.sleep(0)
    store.go.set()
    assert await first == "a:old"  # read before the change
    assert [await task for task in later] == ["b:new", "c:new", "b:new", "a:new"]
    assert store.reads == [["a"], ["a", "b", "c"]]  # each key once a read


async def test_a_failed_read_fails_its_callers_and_the_next_asking_reads_again() -> None:
    store = Store()
    together: Together[str, str] = Together(store.read)
    store.fail = True
    store.go.set()
    with pytest.raises(OSError):
        await together.get("a")
    store.fail = False
    assert await together.get("a") == "a:old"
    assert store.reads == [["a"], ["a"]]


async def test_a_caller_giving_up_stops_the_read_for_nobody() -> None:
    store = Store()
    together: Together[str, str] = Together(store.read)
    gives_up = asyncio.create_task(together.get("a"))
    stays = asyncio.create_task(together.get("a"))
    await asyncio.sleep(0)
    gives_up.cancel()
    store.go.set()
    assert await stays == "a:old"
    assert gives_up.cancelled()


async def test_links_checked_together_say_what_each_link_and_session_are(
    app: web.Application, client: TestClient, therapist: Staff
) -> None:
    """Four resumes' links checked at once: a working one, a revoked one, an expired one, and
    one of an ended session; read in a few statements, each answered as alone."""
    csrf = await sign_in(client, therapist)
    view = await therapist_view(app, therapist.username)
    kid = await ready_client(app, view)
    live = await schedule_session(client, csrf, kid.id)
    ended = await schedule_session(client, csrf, kid.id)
    db, schedule = app[DATABASE], app[SCHEDULE]

    async def link_of(appointment_id: str) -> str:
        async with db.read() as session:
            query = sa.select(Link.id).where(Link.appointment_id == appointment_id)
            found = (await session.scalars(query)).first()
        assert found is not None
        return found

    good, spare = await link_of(live["id"]), await link_of(ended["id"])
    revoked, expired = new_id(), new_id()  # two more links of the live session
    async with db.session() as session:
        row = await session.get(Link, good)
        assert row is not None
        copy = {c.key: getattr(row, c.key) for c in sa.inspect(Link).column_attrs}
        session.add(Link(**{**copy, "id": revoked, "revoked_at": utcnow()}))
        session.add(Link(**{**copy, "id": expired, "expires_at": utcnow() - timedelta(minutes=1)}))
    await schedule.end(view, ended["id"])

    statements: list[str] = []

    def counted(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    asked = [(good, live["id"]), (revoked, live["id"]), (expired, live["id"]), (spare, ended["id"])]
    sa.event.listen(db.engine.sync_engine, "before_cursor_execute", counted)
    try:
        answers = await asyncio.gather(*(schedule.link_still_works(*pair) for pair in asked))
    finally:
        sa.event.remove(db.engine.sync_engine, "before_cursor_execute", counted)
    assert answers == [True, False, False, False]
    assert len(statements) <= 4, statements  # two for the first, two for the three after it
