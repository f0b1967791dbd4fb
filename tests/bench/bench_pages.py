"""Gate and page speed with 1,000 clients, on SQLite and on PostgreSQL in the same run. For
each backend a fresh server process (``bench_server``: its own data folder, migrated, the
``bench`` therapist) gets 1,000 clients seeded by the server's own services (the wiring of
``create_app``, started without listening, driven through ``tests.factories`` as the tests
do) against the same database URL and key file while the server stands idle: the rows the
JSON API's handlers would write, without the HTTP round trips. Each client has its sealed
fields, its suitability checklist and disconnection plan answered, and a parent/carer's
consent recorded through a real consent link; the therapist's checks for today are done
once. Seeding (timed) runs one client at a time on SQLite, which takes one writer at a
time, and eight at once on PostgreSQL. Then, signed in as the therapist, 8 concurrent
aiohttp clients (each its own session and connection) send 1,000 requests in all to (a) the
therapist's client page, ``GET /clients/{id}``, and (b) the gate evaluation,
``GET /api/clients/{id}/gate``, each request for the next client of a shuffled list of all
1,000, after a short warm-up that is not counted; every answer must be a 200, and every
gate ``open``. Per endpoint: requests per second (requests over the wall time) and latency
p50/p99, from just before the request to the end of reading its body. The clients list is
timed too (two rounds, one request at a time): its first page, ``GET /clients`` (the first
``PAGE_SIZE`` clients by name, each with its gate), and every page of it in turn.
PostgreSQL is the ``bench`` database at 127.0.0.1:5432 (or ``PLAYROOM_BENCH_POSTGRES_URL``),
created on first use, its schema dropped at the start."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import random
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from yarl import URL

from server.app import create_app
from server.appkeys import ACCOUNTS, CATALOGUE
from server.care.checklists import Kind
from server.settings import Settings
from server.storage.db import make_engine
from server.views.clients import PAGE_SIZE
from tests.bench.report import summary, write
from tests.bench.server import bench_server
from tests.conftest import PASSWORD
from tests.factories import answer, daily_checks, give_consent, new_client, safe_answers
from tests.helpers import ServerProcess
from tests.live import LiveStaff

CLIENTS = 1000
REQUESTS = 1000
CONCURRENCY = 8
# clients seeded at once: SQLite takes one writer at a time (more only wait on its lock and
# run slower); PostgreSQL is faster with several
SEED_CONCURRENCY = {"sqlite": 1, "postgresql": 8}
LIST_REQUESTS = 2
POSTGRES_URL = os.environ.get(
    "PLAYROOM_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/bench"
)
NAMES = ["Sky", "Rio", "Ash", "Kai", "Noor", "Jude", "Remy", "Sam", "Ari", "Lou"]
BANDS = ["12-13", "14-15", "16-17"]


async def fresh_postgres(url: str) -> str:
    """Create the database on first use and drop its schema; returns the server's version."""
    name = sa.engine.make_url(url).database
    admin = make_engine(str(sa.engine.make_url(url).set(database="postgres")))
    try:
        async with admin.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            exists = await conn.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            )
            if not exists:
                await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(sa.text("CREATE SCHEMA public"))
            version = str(await conn.scalar(sa.text("SHOW server_version")))
    finally:
        await engine.dispose()
    return version


async def seed(server: ServerProcess, count: int, concurrency: int) -> list[str]:
    """``count`` clients of the ``bench`` therapist, written by the server's own services."""
    settings = Settings(
        data_dir=Path(server.env["PLAYROOM_DATA_DIR"]),
        database_url=server.env.get("PLAYROOM_DATABASE_URL"),
        log_level="WARNING",
    )
    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()  # opens storage and builds the services; listens nowhere
    try:
        therapist = await app[ACCOUNTS].find("bench")
        suitability = safe_answers(app[CATALOGUE][Kind.SUITABILITY])
        plan = safe_answers(app[CATALOGUE][Kind.DISCONNECTION_PLAN])
        await daily_checks(app, therapist)
        gate = asyncio.Semaphore(concurrency)

        async def one(n: int) -> str:
            async with gate:
                name = f"{NAMES[n % len(NAMES)]} {n:04d}"
                client = await new_client(
                    app, therapist, display_name=name, age_band=BANDS[n % len(BANDS)]
                )
                await answer(app, therapist, client, Kind.SUITABILITY, suitability)
                await answer(app, therapist, client, Kind.DISCONNECTION_PLAN, plan)
                await give_consent(app, therapist, client)
                return client.id

        return list(await asyncio.gather(*(one(n) for n in range(count))))
    finally:
        await runner.cleanup()


async def load(
    staff: LiveStaff, paths: list[str], requests: int, concurrency: int, keep: bool = False
) -> tuple[dict[str, Any], list[bytes]]:
    """``requests`` GETs of ``paths`` in turn from ``concurrency`` clients at once, each its
    own connection with the therapist's cookie; returns the figures (and, with ``keep``,
    every body)."""
    assert staff.http is not None
    base = URL(staff.base)
    cookies = staff.http.cookie_jar.filter_cookies(base)
    sessions = []
    for _ in range(concurrency):
        jar = aiohttp.CookieJar(unsafe=True)
        jar.update_cookies(cookies, response_url=base)
        sessions.append(aiohttp.ClientSession(cookie_jar=jar))
    counter = itertools.count()
    latencies: list[float] = []
    bodies: list[bytes] = []

    async def client(http: aiohttp.ClientSession, count: int) -> None:
        while (n := next(counter)) < count:
            started = time.perf_counter()
            async with http.get(staff.base + paths[n % len(paths)], allow_redirects=False) as r:
                body = await r.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if r.status != 200:
                raise RuntimeError(f"GET {paths[n % len(paths)]} answered {r.status}")
            if keep:
                bodies.append(body)

    try:
        # warm up: templates compiled, connections open, nothing of it counted
        await asyncio.gather(*(client(http, 2 * concurrency) for http in sessions))
        counter, latencies[:], bodies[:] = itertools.count(), [], []
        started = time.perf_counter()
        await asyncio.gather(*(client(http, requests) for http in sessions))
        elapsed = time.perf_counter() - started
    finally:
        await asyncio.gather(*(http.close() for http in sessions))
    stats = summary(latencies)
    return {
        "requests": requests,
        "concurrency": concurrency,
        "requests_per_second": round(requests / elapsed, 1),
        "latency_p50_ms": round(stats["median"], 2),
        "latency_p99_ms": round(stats["p99"], 2),
        "latency_ms": stats,
    }, bodies


async def get_ms(staff: LiveStaff, path: str) -> float:
    """One GET of ``path`` as the signed-in therapist, in milliseconds; it must be a 200."""
    assert staff.http is not None
    started = time.perf_counter()
    async with staff.http.get(staff.base + path, allow_redirects=False) as r:
        await r.read()
        if r.status != 200:
            raise RuntimeError(f"GET {path} answered {r.status}")
    return (time.perf_counter() - started) * 1000


async def backend(
    name: str, clients: int, requests: int, concurrency: int, **env: str
) -> dict[str, Any]:
    server = bench_server(**env)
    staff = LiveStaff(server.url, "bench", PASSWORD)
    try:
        started = time.perf_counter()
        ids = await seed(server, clients, SEED_CONCURRENCY[name])
        seeded = time.perf_counter() - started
        print(f"{name}: seeded {clients} clients in {seeded:.1f} s", flush=True)
        await staff.sign_in()
        random.Random(1).shuffle(ids)
        figures: dict[str, Any] = {
            "clients": clients,
            "seed_s": round(seeded, 2),
            "seed_concurrency": SEED_CONCURRENCY[name],
        }
        page, _ = await load(staff, [f"/clients/{i}" for i in ids], requests, concurrency)
        gate, bodies = await load(
            staff, [f"/api/clients/{i}/gate" for i in ids], requests, concurrency, keep=True
        )
        statuses = {json.loads(body)["status"] for body in bodies}
        if statuses != {"open"}:  # every client was seeded ready: a gate not open is a fault
            raise RuntimeError(f"the seeded clients' gates are {statuses}, not open")
        figures["client_page"], figures["gate_api"] = page, gate
        pages = max(1, math.ceil(clients / PAGE_SIZE))
        listed, whole = [], []
        for _ in range(LIST_REQUESTS):
            listed.append(await get_ms(staff, "/clients"))
            every = [await get_ms(staff, f"/clients?page={n}") for n in range(1, pages + 1)]
            whole.append(sum(every))
        figures["clients_list_ms"] = summary(listed)
        figures["clients_list_pages"] = pages
        figures["clients_list_all_pages_ms"] = summary(whole)
    finally:
        await staff.close()
        server.stop()
    for label, key in (("client page", "client_page"), ("gate API", "gate_api")):
        f = figures[key]
        print(
            f"{name}: {label}: {f['requests_per_second']:.0f} req/s, "
            f"p50 {f['latency_p50_ms']:.1f} ms, p99 {f['latency_p99_ms']:.1f} ms "
            f"({requests} requests, {concurrency} clients)",
            flush=True,
        )
    print(
        f"{name}: clients list ({clients} clients): first page median "
        f"{figures['clients_list_ms']['median']:.0f} ms, all {figures['clients_list_pages']} "
        f"pages one after another median {figures['clients_list_all_pages_ms']['median']:.0f} "
        f"ms (n={LIST_REQUESTS})",
        flush=True,
    )
    return figures


async def main(
    clients: int = CLIENTS, requests: int = REQUESTS, concurrency: int = CONCURRENCY
) -> dict[str, Any]:
    try:
        postgres = await fresh_postgres(POSTGRES_URL)
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        raise SystemExit(f"PostgreSQL is needed at {POSTGRES_URL}: {exc}") from exc
    figures = {
        "sqlite": await backend("sqlite", clients, requests, concurrency),
        "postgresql": await backend(
            "postgresql", clients, requests, concurrency, PLAYROOM_DATABASE_URL=POSTGRES_URL
        ),
    }
    path = write(
        "page_speed",
        figures,
        {
            "aiohttp": aiohttp.__version__,
            "sqlalchemy": sa.__version__,
            "sqlite": sqlite3.sqlite_version,
            "postgresql": postgres,
        },
    )
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    started = time.monotonic()
    asyncio.run(main(*(int(a) for a in sys.argv[1:4])))
    print(f"took {time.monotonic() - started:.0f} s")
