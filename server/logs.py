"""Structured JSON logs that never carry a secret, a token or a personal datum.

Three defences: fields whose names suggest personal or secret content are replaced,
anything shaped like a token (long base64 or hex runs) is masked in every string, and so is
every IP address (a young person's address is personal data, and the WebRTC libraries name
the addresses they connect to). Access lines name the route pattern, never the path, so
capability links stay out; they never name the client's address either.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

REDACTED = "[redacted]"
_SENSITIVE = re.compile(
    r"pass|secret|token|code|cookie|name|phone|email|address|note|key|otp|csrf|auth",
    re.IGNORECASE,
)
_TOKENISH = re.compile(r"[A-Za-z0-9_\-+/=.]{24,}")
# what could be an address, checked by ``ipaddress`` before it is masked (so a time such as
# 12:30:45 or a version such as 1.16.0 stays): runs of hex and colons with at least two
# colons (IPv6, also ending in a dotted quad), then dotted quads (IPv4, also with a port)
_IPV6ISH = re.compile(
    r"(?<![\w.:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?::\d{1,3}(?:\.\d{1,3}){3})?"
    r"(?:%\w+)?(?![\w.:])"
)
_IPV4ISH = re.compile(r"(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?![\w.])")
IP_REDACTED = "[address]"
# connection chatter at INFO from the WebRTC libraries (candidate pairs, their addresses)
QUIET_LIBRARIES = ("aioice", "aiortc")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_SAFE_FIELDS = {"event", "route", "method", "status", "ms", "user_id", "role", "count", "kid"}
# a session log's checkpoint, written whole so that it can witness the log from outside the
# database: the stream's name ("session:" and a 32-digit id) and the head's SHA-256, neither
# a secret nor personal; anything else under these names is scrubbed as usual
_LOG_IDS = {
    "stream": re.compile(r"(?:session|client|views):[0-9a-f]{32}"),
    "head": re.compile(r"[0-9a-f]{64}"),
}


def _address(match: re.Match[str]) -> str:
    try:
        ipaddress.ip_address(match.group(0).split("%", 1)[0])
    except ValueError:
        return match.group(0)
    return IP_REDACTED


def scrub(value: Any) -> Any:
    """Mask token-shaped runs and IP addresses in strings; leave numbers and booleans."""
    if isinstance(value, str):
        masked = _IPV4ISH.sub(_address, _IPV6ISH.sub(_address, value))
        return _TOKENISH.sub(REDACTED, masked)
    if isinstance(value, int | float | bool) or value is None:
        return value
    return scrub(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and safe extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            sensitive = _SENSITIVE.search(key) and key not in _SAFE_FIELDS
            if key in _LOG_IDS and isinstance(value, str) and _LOG_IDS[key].fullmatch(value):
                doc[key] = value
            else:
                doc[key] = REDACTED if sensitive else scrub(value)
        if record.exc_info and record.exc_info[0] is not None:
            # the type and where it happened, not the message: messages can quote data
            doc["exc_type"] = record.exc_info[0].__name__
            doc["exc_where"] = _where(record.exc_info[2])
        return json.dumps(doc, ensure_ascii=False)


def _where(tb: Any) -> str:
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return ""
    code = last.tb_frame.f_code
    return f"{code.co_filename.rsplit('/', 1)[-1]}:{last.tb_lineno} in {code.co_name}"


class PlainFormatter(JsonFormatter):
    """Readable lines for a terminal, with the same scrubbing."""

    def format(self, record: logging.LogRecord) -> str:
        doc = json.loads(super().format(record))
        extra = " ".join(
            f"{k}={v}" for k, v in doc.items() if k not in {"ts", "level", "logger", "msg"}
        )
        return f"{doc['ts']} {doc['level']:<7} {doc['logger']}: {doc['msg']} {extra}".rstrip()


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's own loggers can print raw request lines and headers on protocol errors
    logging.getLogger("aiohttp.server").setLevel(logging.ERROR)
    for name in QUIET_LIBRARIES:  # their warnings stay (scrubbed like every line)
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


# routes whose plain success is not logged
UNLOGGED = frozenset({"/healthz"})


class AccessLogger(AbstractAccessLogger):
    """Logs method, route pattern, status and duration; never the path or the client."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        route = "-"
        match_info = getattr(request, "match_info", None)
        if match_info is not None and match_info.route.resource is not None:
            route = match_info.route.resource.canonical
        if route in UNLOGGED and response.status == 200:
            return  # liveness answered: pages probe it many times a second after a network cut
        self.logger.info(
            "request",
            extra={
                "method": request.method,
                "route": route,
                "status": response.status,
                "ms": round(time * 1000, 1),
            },
        )
