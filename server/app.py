"""The application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from media import miniatures
from media.turn import relays
from server import i18n, jobs
from server.access.accounts import Accounts
from server.access.auth import csrf_middleware, session_cookies
from server.access.links import Links
from server.access.ratelimit import RateLimiter
from server.access.sessions import StaffSessions
from server.appkeys import (
    ACCOUNTS,
    BOX,
    BUSY,
    CATALOGUE,
    CHATS,
    CLIENTS,
    CONSENTS,
    COOKIE_STORAGE,
    DATABASE,
    DISCHARGES,
    ESCALATIONS,
    EXPORTS,
    GATEKEEPER,
    GROUPS,
    GUESTS,
    HUB,
    INVITATIONS,
    KEYRING,
    LINKS,
    LOGIN_LIMITER,
    NOTIFIER,
    OUTCOMES,
    PRACTICE,
    RECORDS,
    REPORTS,
    RETENTION,
    ROTA,
    SCENES,
    SCHEDULE,
    SERIES,
    SESSION_LOG,
    SETTINGS,
    SIGN_OFF_REQUESTS,
    STAFF_SESSIONS,
    STAFF_SOCKETS,
    WHITEBOARDS,
)
from server.audit.sessionlog import SessionLog
from server.audit.witnessing import open_witnessing
from server.board.box import Box
from server.board.scenes import Scenes
from server.board.whiteboards import Whiteboards
from server.care.addresses import ClientContacts
from server.care.checklists import load_catalogue
from server.care.clients import Clients
from server.care.consent import Consents
from server.care.escalation import Escalations
from server.care.gate_service import Gatekeeper
from server.care.groups import Groups
from server.care.guests import Guests
from server.care.hours import SafeguardingHours
from server.care.invitations import Invitations
from server.care.notify import Notifier
from server.care.outbox import Outbox
from server.care.outcomes import Outcomes
from server.care.practice import Practice
from server.care.repeats import Repeats
from server.care.rota import Rota
from server.care.schedule import Schedule
from server.care.series import Series
from server.care.signoffs import SignOffRequests
from server.edge import websocket, working
from server.edge.staffsockets import StaffSockets
from server.live.hub import Hub
from server.live.places import Places
from server.nodes.bus import make_bus
from server.nodes.relay import RELAY, Relay
from server.records.chat import Chats
from server.records.discharge import Discharges
from server.records.export import Exports
from server.records.reports import Reports
from server.records.retention import Policy, Retention
from server.records.sessions import Records
from server.settings import Settings
from server.storage.groupcommit import GroupCommit
from server.storage.ids import ids_middleware
from server.storage.opening import open_storage
from server.views import (
    box,
    clients,
    consent,
    groups,
    guests,
    health,
    home,
    invitations,
    library,
    openapi,
    practice,
    privacy,
    records,
    reports,
    series,
    sessions,
    signin,
    supervision,
)
from server.views.common import announce_link_base
from server.views.security import error_middleware, headers_middleware

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent.parent / "web"


def create_app(settings: Settings) -> web.Application:
    """Build the application; resources open in ``cleanup_ctx`` when it starts."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[
            headers_middleware,
            session_cookies,
            error_middleware,
            csrf_middleware,
            ids_middleware,
        ],
    )
    app[SETTINGS] = settings
    app[CATALOGUE] = load_catalogue()  # a malformed checklist stops start-up here
    miniatures.installed()  # so does a sand tray library not installed (it names `npm ci`)
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    app[RELAY] = Relay(
        app, make_bus(redis_url, settings.node_lease_seconds), websocket.serve_remote
    )
    app[NOTIFIER] = Notifier(settings)
    app.on_shutdown.append(websocket.close_all)
    app.on_startup.append(announce_link_base)  # once: where links come from, if not set
    app[LOGIN_LIMITER] = RateLimiter(settings.login_rate_per_minute, 60)
    app[STAFF_SOCKETS] = StaffSockets(settings.session_check_seconds)
    app[BUSY] = working.Busy()
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(WEB / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        filters={
            "when": _when_filter(ZoneInfo(settings.timezone)),
            "clock": _when_filter(ZoneInfo(settings.timezone), "%H:%M:%S"),
        },
    )
    i18n.install(env)  # family pages in the family's language (``render``)
    # storage, then what runs beside the requests (``jobs.py``): each opens after what it
    # needs, and closes before it
    app.cleanup_ctx.extend((_storage_ctx, *jobs.JOBS))
    for area in (
        health, signin, home, clients, consent, practice, records, reports, sessions, series,
        groups, supervision, box, privacy, openapi, library, invitations, guests, websocket,
    ):  # fmt: skip
        app.router.add_routes(area.routes)
    app.router.add_static("/static", WEB / "static", name="static", append_version=True)
    return app


def _when_filter(zone: ZoneInfo, layout: str = "%a %d %b %Y, %H:%M") -> Callable[[datetime], str]:
    """Show a time in the service's time zone, the way people read it."""

    def when(value: datetime) -> str:
        return value.astimezone(zone).strftime(layout)

    return when


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    storage = await open_storage(settings)
    app[DATABASE] = storage.db
    app[KEYRING] = storage.ring
    app[ACCOUNTS] = Accounts(
        storage.db, storage.ring, settings.login_max_failures, settings.login_lock_seconds
    )
    app[STAFF_SESSIONS] = StaffSessions(storage.db, app[ACCOUNTS], settings.session_max_age)
    catalogue = app[CATALOGUE]
    links = Links(storage.db, storage.ring)
    clients = Clients(storage.db, storage.ring, catalogue)
    contacts = ClientContacts(storage.db, storage.ring)
    consents = Consents(
        storage.db, storage.ring, links, catalogue, settings.consent_link_days, contacts
    )
    witnessing = open_witnessing(settings, storage.db, storage.ring)
    # one group commit for the process: board operations, chat, log entries, places
    writer = GroupCommit(storage.db, settings.commit_gather_ms / 1000)
    session_log = SessionLog(storage.db, storage.ring, witnessing, writer)
    app[SESSION_LOG] = session_log
    gatekeeper = Gatekeeper(
        storage.db,
        storage.ring,
        catalogue,
        clients,
        consents,
        settings.checklist_valid_days,
        settings.timezone,
        session_log,
    )
    whiteboards = app[WHITEBOARDS] = Whiteboards(storage.db, storage.ring, writer)
    # the hub keeps places in the database; an empty room's board leaves memory with it
    app[HUB] = Hub(
        app[RELAY].bus,
        Places(storage.db, settings.place_seen_seconds, writer),
        lambda room: whiteboards.forget(room.session_id),
    )
    app[ROTA] = Rota(storage.db, settings.timezone)
    app[ESCALATIONS] = Escalations(
        storage.db,
        storage.ring,
        clients,
        consents,
        gatekeeper,
        session_log,
        app[ROTA],
        Repeats(storage.db, settings.escalation_repeat_seconds),
        settings.out_of_hours_number or "",
    )
    app[BOX] = Box(storage.db, storage.ring, clients, app[WHITEBOARDS])
    app[SCENES] = Scenes(app[BOX], session_log)
    app[LINKS] = links
    app[CLIENTS] = clients
    app[CONSENTS] = consents
    app[GATEKEEPER] = gatekeeper
    app[SIGN_OFF_REQUESTS] = SignOffRequests(
        storage.db, storage.ring, catalogue, clients, gatekeeper, session_log
    )
    app[SCHEDULE] = Schedule(
        storage.db,
        storage.ring,
        clients,
        links,
        gatekeeper,
        settings.join_early_minutes,
        session_log,
        relays(settings.turn_urls, settings.turn_secret),
    )
    app[GUESTS] = Guests(storage.db, storage.ring, app[SCHEDULE], links, session_log)
    app[INVITATIONS] = Invitations(
        storage.db,
        storage.ring,
        settings,
        contacts,
        Outbox(
            storage.db,
            settings.outbox_lease_seconds,
            settings.outbox_retry_seconds,
            settings.outbox_max_attempts,
        ),
        app[SCHEDULE],
    )
    app[PRACTICE] = Practice(
        storage.db, storage.ring, clients, links, session_log, settings.practice_link_days
    )
    # the family is told of each session scheduled, moved or cancelled
    app[SERIES] = Series(
        storage.db,
        storage.ring,
        app[SCHEDULE],
        SafeguardingHours.parse(settings.safeguarding_hours, ZoneInfo(settings.timezone)),
        app[INVITATIONS].appointment_changed,
    )
    app[GROUPS] = Groups(storage.db, storage.ring, app[SERIES])
    app[OUTCOMES] = Outcomes(storage.db, storage.ring, session_log, clients)
    app[REPORTS] = Reports(storage.db, storage.ring, settings.timezone)
    app[CHATS] = Chats(storage.db, storage.ring, writer)
    app[RECORDS] = Records(
        storage.db, session_log, clients, gatekeeper, settings.timezone, app[CHATS]
    )
    app[RETENTION] = Retention(storage.db, storage.ring, Policy.from_settings(settings), witnessing)
    app[EXPORTS] = Exports(storage.db, storage.ring, session_log)
    app[DISCHARGES] = Discharges(storage.db, clients, app[RETENTION], session_log)
    app[COOKIE_STORAGE] = EncryptedCookieStorage(
        storage.ring.material.cookie_key,
        cookie_name="playroom_staff",
        max_age=settings.session_max_age,
        httponly=True,
        secure=settings.tls,
        samesite="Lax",
    )
    yield
    if witnessing is not None:
        await witnessing.close()
    await storage.db.dispose()
