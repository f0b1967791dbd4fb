"""Typed keys for the objects shared through the application."""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import AbstractStorage

from server.accounts import Accounts
from server.db import Database
from server.keys import KeyRing
from server.ratelimit import RateLimiter
from server.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
KEYRING = web.AppKey("keyring", KeyRing)
ACCOUNTS = web.AppKey("accounts", Accounts)
COOKIE_STORAGE = web.AppKey("cookie_storage", AbstractStorage)
LOGIN_LIMITER = web.AppKey("login_limiter", RateLimiter)
