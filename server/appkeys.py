"""Typed keys for the objects shared through the application."""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import AbstractStorage

from server.access.accounts import Accounts
from server.access.links import Links
from server.access.ratelimit import RateLimiter
from server.audit.sessionlog import SessionLog
from server.board.box import Box
from server.board.scenes import Scenes
from server.board.service import Whiteboards
from server.care.checklists import Catalogue
from server.care.clients import Clients
from server.care.consent import Consents
from server.care.escalation import Escalations
from server.care.gate_service import Gatekeeper
from server.care.notify import Notifier
from server.care.outcomes import Outcomes
from server.care.schedule import Schedule
from server.crypto.keys import KeyRing
from server.live.hub import Hub
from server.records.discharge import Discharges
from server.records.export import Exports
from server.records.reports import Reports
from server.records.retention import Retention
from server.records.sessions import Records
from server.settings import Settings
from server.storage.db import Database

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
SCENES = web.AppKey("scenes", Scenes)
ESCALATIONS = web.AppKey("escalations", Escalations)
NOTIFIER = web.AppKey("notifier", Notifier)
SESSION_LOG = web.AppKey("session_log", SessionLog)
RECORDS = web.AppKey("records", Records)
OUTCOMES = web.AppKey("outcomes", Outcomes)
REPORTS = web.AppKey("reports", Reports)
RETENTION = web.AppKey("retention", Retention)
EXPORTS = web.AppKey("exports", Exports)
DISCHARGES = web.AppKey("discharges", Discharges)
