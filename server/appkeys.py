"""Typed keys for the objects shared through the application."""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import AbstractStorage

from server.accounts import Accounts
from server.box import Box
from server.checklists import Catalogue
from server.clients import Clients
from server.consent import Consents
from server.db import Database
from server.discharge import Discharges
from server.escalation import Escalations
from server.export import Exports
from server.gatekeeper import Gatekeeper
from server.hub import Hub
from server.keys import KeyRing
from server.links import Links
from server.notify import Notifier
from server.outcomes import Outcomes
from server.ratelimit import RateLimiter
from server.records import Records
from server.reports import Reports
from server.retention import Retention
from server.schedule import Schedule
from server.sessionlog import SessionLog
from server.settings import Settings
from server.whiteboard import Whiteboards

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
KEYRING = web.AppKey("keyring", KeyRing)
ACCOUNTS = web.AppKey("accounts", Accounts)
COOKIE_STORAGE = web.AppKey("cookie_storage", AbstractStorage)
LOGIN_LIMITER = web.AppKey("login_limiter", RateLimiter)
CATALOGUE = web.AppKey("catalogue", Catalogue)
CLIENTS = web.AppKey("clients", Clients)
LINKS = web.AppKey("links", Links)
CONSENTS = web.AppKey("consents", Consents)
GATEKEEPER = web.AppKey("gatekeeper", Gatekeeper)
SCHEDULE = web.AppKey("schedule", Schedule)
HUB = web.AppKey("hub", Hub)
WHITEBOARDS = web.AppKey("whiteboards", Whiteboards)
BOX = web.AppKey("box", Box)
ESCALATIONS = web.AppKey("escalations", Escalations)
NOTIFIER = web.AppKey("notifier", Notifier)
SESSION_LOG = web.AppKey("session_log", SessionLog)
RECORDS = web.AppKey("records", Records)
OUTCOMES = web.AppKey("outcomes", Outcomes)
REPORTS = web.AppKey("reports", Reports)
RETENTION = web.AppKey("retention", Retention)
EXPORTS = web.AppKey("exports", Exports)
DISCHARGES = web.AppKey("discharges", Discharges)
