"""The application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from server.accounts import Accounts
from server.appkeys import (
    ACCOUNTS,
    COOKIE_STORAGE,
    DATABASE,
    KEYRING,
    LOGIN_LIMITER,
    SETTINGS,
)
from server.auth import csrf_middleware, sessions
from server.ratelimit import RateLimiter
from server.security import error_middleware, headers_middleware
from server.settings import Settings
from server.storage import open_storage
from server.views import health, home, signin

WEB = Path(__file__).resolve().parent.parent / "web"


def create_app(settings: Settings) -> web.Application:
    """Build the application; resources open in ``cleanup_ctx`` when it starts."""
    app = web.Application(
        client_max_size=settings.max_body_bytes,
        middlewares=[headers_middleware, sessions, error_middleware, csrf_middleware],
    )
    app[SETTINGS] = settings
    app[LOGIN_LIMITER] = RateLimiter(settings.login_rate_per_minute, 60)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(WEB / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
    )
    app.cleanup_ctx.append(_storage_ctx)
    app.router.add_routes(health.routes)
    app.router.add_routes(signin.routes)
    app.router.add_routes(home.routes)
    app.router.add_static("/static", WEB / "static", name="static", append_version=True)
    return app


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    storage = await open_storage(settings)
    app[DATABASE] = storage.db
    app[KEYRING] = storage.ring
    app[ACCOUNTS] = Accounts(
        storage.db, storage.ring, settings.login_max_failures, settings.login_lock_seconds
    )
    app[COOKIE_STORAGE] = EncryptedCookieStorage(
        storage.ring.material.cookie_key,
        cookie_name="playroom_staff",
        max_age=settings.session_max_age,
        httponly=True,
        secure=settings.tls,
        samesite="Lax",
    )
    yield
    await storage.db.dispose()
