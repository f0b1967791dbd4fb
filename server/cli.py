"""The ``playroom`` command (also ``python -m server``).

Each command imports what it uses when it runs, not when this module is read: ``serve``
listens first, within half a second of the process starting, and only then imports the
application (some 1,000 modules, over a second), while connections made meanwhile wait in
the listening socket's queue instead of being refused (``docs/operations.md``, Restarts)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import json
import logging
import os
import secrets
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from server.exceptions import PlayroomError
from server.logs import AccessLogger, configure_logging
from server.settings import Settings

if TYPE_CHECKING:
    from server.access.accounts import Accounts
    from server.audit.sessionlog import Report, Witness
    from server.care.rota import ShiftView
    from server.storage.opening import Storage

log = logging.getLogger("playroom")
# commands whose output is one value for a script to read (``demo-code``: the code alone)
PRINTS_ALONE = ("demo-code",)
ROLES = ("therapist", "supervisor", "admin")  # ``storage.models.Role``, without importing it
# connections waiting for the server to accept them while it starts (the kernel's own
# bound, ``net.core.somaxconn``, applies too): every page of a node coming back at once
BACKLOG = 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="playroom", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (default from settings)")
    serve.add_argument("--port", type=int, help="port (default from settings)")
    serve.add_argument(
        "--tls-self-signed",
        action="store_true",
        help="serve HTTPS with a self-signed certificate (for trying it on a local network)",
    )

    sub.add_parser("migrate", help="create or upgrade the database schema")

    user = sub.add_parser("create-user", help="create a staff account")
    user.add_argument("--username", required=True)
    user.add_argument("--role", required=True, choices=ROLES)
    user.add_argument("--display-name", default="")
    user.add_argument("--email", help="for escalation alerts (supervisors)")
    user.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )

    off = sub.add_parser(
        "disable-user", help="disable a staff account (its sign-ins end; retention starts)"
    )
    off.add_argument("username")

    unlock = sub.add_parser(
        "unlock", help="clear a username's failed sign-ins, from every address (no more waits)"
    )
    unlock.add_argument("username")

    sup = sub.add_parser("supervise", help="link a supervisor to a therapist they supervise")
    sup.add_argument("supervisor")
    sup.add_argument("therapist")

    shift = sub.add_parser(
        "shift", help="put a supervisor on or off shift now (until their weekly shifts change)"
    )
    shift.add_argument("supervisor")
    shift.add_argument("state", choices=["on", "off"])
    weekly = sub.add_parser(
        "shift-pattern", help="set a supervisor's weekly shifts, in the service's time zone"
    )
    weekly.add_argument("supervisor")
    weekly.add_argument(
        "pattern", nargs="+", help="days and hours, e.g. mon-fri 09:00-17:00; or: none"
    )

    rot = sub.add_parser("rotate-keys", help="add a data key and re-encrypt everything with it")
    rot.add_argument("--batch-size", type=int, default=500)

    sub.add_parser("demo", help="create a demo therapist and supervisor (first run only)")
    code = sub.add_parser("demo-code", help="print the current sign-in code of a demo account")
    code.add_argument("username")
    check = sub.add_parser(
        "verify-log", help="re-check every hash and signature of a session's log"
    )
    check.add_argument(
        "session", nargs="?", help="the session's id (or client:<id> for a client's log)"
    )
    check.add_argument(
        "--all",
        action="store_true",
        help="every log: those in the database, and those the witness saw, gone or not",
    )
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.add_argument("--no-witness", action="store_true", help="check against the database alone")
    check.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="FILE",
        help="the application's JSON log (its log_checkpoint lines), kept outside the database;"
        " may be given more than once",
    )
    witness = sub.add_parser(
        "witness", help="serve the witness of the session logs, as a service of its own"
    )
    witness.add_argument("--host", help="address to listen on (default from settings)")
    witness.add_argument("--port", type=int, default=8090, help="port (default 8090)")
    purge = sub.add_parser("purge", help="delete what is past its retention period")
    purge.add_argument(
        "--dry-run", action="store_true", help="count what would be deleted, delete nothing"
    )
    export = sub.add_parser(
        "export-client", help="everything held about one client, as JSON (subject access)"
    )
    export.add_argument("client_id")
    export.add_argument("--output", help="write to this file (mode 0600) instead of printing")
    doc = sub.add_parser(
        "checklists-doc", help="write docs/checklists.md from the checklists' YAML files"
    )
    how = doc.add_mutually_exclusive_group()
    how.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when docs/checklists.md differs from the YAML files",
    )
    how.add_argument("--stdout", action="store_true", help="print the document, write nothing")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command != "serve":
        gc.enable()  # off while ``python -m server`` imported (``server/__main__.py``)
    settings = Settings()
    level = settings.log_level
    numeric = logging.getLevelName(level)
    if args.command in PRINTS_ALONE and isinstance(numeric, int) and numeric < logging.WARNING:
        level = "WARNING"  # its output is read by scripts: only what went wrong comes with it
    configure_logging(level, settings.log_json)
    try:
        if args.command == "serve":
            return _serve(settings, args)
        if args.command == "migrate":
            from server.storage.migrate import upgrade

            upgrade(settings.resolved_database_url)
            print("The database schema is up to date.")
            return 0
        if args.command == "checklists-doc":
            return _checklists_doc(args)
        if args.command == "witness":
            return _witness(settings, args)
        return asyncio.run(_with_storage(settings, _COMMANDS[args.command], args))
    except PlayroomError as exc:
        print(f"playroom: {exc}", file=sys.stderr)
        return 2


def _checklists_doc(args: argparse.Namespace) -> int:
    """Render ``docs/checklists.md`` from ``checklists/*.yaml``; needs no database or keys.
    With ``--check``, exit 1 when the committed file is not what the YAML files give."""
    from server.care import checklists_doc

    text = checklists_doc.render(*checklists_doc.read())
    path = checklists_doc.DOC
    if args.stdout:
        sys.stdout.write(text)
        return 0
    try:
        written = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        written = None
    if args.check:
        if written == text:
            print(f"{path} is up to date.")
            return 0
        print(
            f"{path} is out of date with checklists/*.yaml; run `{checklists_doc.COMMAND}`.",
            file=sys.stderr,
        )
        return 1
    if written == text:
        print(f"{path} is up to date; nothing written.")
        return 0
    path.write_text(text, encoding="utf-8", newline="\n")
    print(f"Wrote {path}.")
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    """Listen first, then build the application and serve on what is listening: a page
    coming back after a restart waits in the queue for the first answer, instead of being
    refused and waiting out a retry."""
    if args.host:
        settings.host = args.host
    if args.port:
        settings.port = args.port
    context = None
    if args.tls_self_signed:
        from server.crypto.tls import self_signed

        cert, key = self_signed(settings.data_dir / "tls", [settings.host])
        settings.tls_cert, settings.tls_key = cert, key
    if settings.tls_cert and settings.tls_key:
        from server.crypto.tls import ssl_context

        context = ssl_context(settings.tls_cert, settings.tls_key)
    sockets = _listen(settings.host, settings.port)
    scheme = "https" if context else "http"
    print(f"Playroom is serving on {scheme}://{settings.host}:{settings.port}/", flush=True)
    from server.app import create_app

    try:
        app = create_app(settings)
    except BaseException:
        for listening in sockets:
            listening.close()
        raise
    app.on_startup.append(_freeze_heap)
    web.run_app(
        app,
        loop=_event_loop(),
        sock=sockets,
        ssl_context=context,
        access_log_class=AccessLogger,
        print=None,
        shutdown_timeout=10,
    )
    return 0


def _event_loop() -> asyncio.AbstractEventLoop | None:
    """uvloop's event loop, where it is installed (everywhere but Windows): 8% less CPU a
    drawing room than asyncio's own (``docs/performance.md``, §10); None: asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop()


def _listen(host: str, port: int) -> list[socket.socket]:
    """Listening sockets on every address ``host`` names (as aiohttp's own ``host=`` does:
    ``localhost`` is both 127.0.0.1 and ::1), with the address reusable at once after a
    restart; nobody is answered until the server runs, but nobody is refused either."""
    sockets: list[socket.socket] = []
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, address in dict.fromkeys((f, t, p, a) for f, t, p, _, a in found):
            listening = socket.socket(family, kind, proto)
            sockets.append(listening)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                listening.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            listening.bind(address)
            listening.listen(BACKLOG)
            listening.setblocking(False)
    except OSError as exc:
        for listening in sockets:
            listening.close()
        raise PlayroomError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from exc
    return sockets


# the garbage collector's thresholds once started (Python's are 700, 10, 10): a young
# collection after 50,000 new objects rather than 700, so that what a message makes and
# drops (its parsed JSON, its models) is freed by reference counting before any collection
# sees it, instead of surviving two young collections into the old generation, whose growth
# is what sets off the full collections that stop every room
GC_THRESHOLDS = (50_000, 20, 10)


async def _freeze_heap(app: web.Application) -> None:
    """Once the server has started (its storage, keys, library and templates open), keep
    what it made out of the garbage collector's full collections: some 175,000 objects that
    live as long as the process. A full collection stops the event loop, every room with
    it, for as long as it walks what is tracked: 150 to 540 ms with 100 rooms drawing before
    (``docs/performance.md``, Rooms drawing). Then collect less often (``GC_THRESHOLDS``):
    with 300 rooms drawing, the longest pause went from 136 to 154 ms to 26 ms. The
    collector, off while ``python -m server`` imported and started, is on from here.

    Frozen without a collection first, as Python's documentation of ``gc.freeze`` has it:
    the 2,400 objects start-up left in cycles (0.5 MB: classes made and replaced as they
    were defined, functions, their cells) are kept with the rest, where collecting them took
    110 ms of the first answer that every page coming back after a restart waits for."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.enable()


Command = Callable[["Storage", Settings, argparse.Namespace], Awaitable[int]]


async def _with_storage(settings: Settings, command: Command, args: argparse.Namespace) -> int:
    from server.storage.opening import open_storage

    storage = await open_storage(settings)
    try:
        return await command(storage, settings, args)
    finally:
        await storage.db.dispose()


def _accounts(storage: Storage, settings: Settings) -> Accounts:
    from server.access.accounts import Accounts

    return Accounts(
        storage.db, storage.ring, settings.login_max_failures, settings.login_lock_seconds
    )


async def _create_user(storage: Storage, settings: Settings, args: argparse.Namespace) -> int:
    from server.storage.models import Role

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        shown = False
    elif sys.stdin.isatty():
        password = getpass.getpass("Password (12 characters or more): ")
        shown = False
    else:
        password = secrets.token_urlsafe(15)
        shown = True
    user, _ = await _accounts(storage, settings).create(
        args.username, args.display_name, Role(args.role), password, email=args.email
    )
    print(f"Created {user.role.value} account '{user.username}'.")
    if shown:
        print(f"Password: {password}")
    print("A second factor is set up on first sign-in.")
    return 0


async def _supervise(storage: Storage, settings: Settings, args: argparse.Namespace) -> int:
    await _accounts(storage, settings).supervise(args.supervisor, args.therapist)
    print(f"'{args.supervisor}' now supervises '{args.therapist}'.")
    return 0


async def _shift(storage: Storage, settings: Settings, args: argparse.Namespace) -> int:
    from server.care.rota import Rota

    user = await _accounts(storage, settings).find(args.supervisor)
    view = await Rota(storage.db, settings.timezone).press(user.id, args.state == "on")
    print(_shift_text(args.supervisor, view, settings))
    return 0


async def _shift_pattern(storage: Storage, settings: Settings, args: argparse.Namespace) -> int:
    from server.care.rota import Pattern, Rota

    text = " ".join(args.pattern).strip()
    pattern = None if text.lower() == "none" else Pattern.parse(text)
    user = await _accounts(storage, settings).find(args.supervisor)
    view = await Rota(storage.db, settings.timezone).set_pattern(user.id, pattern)
    print(_shift_text(args.supervisor, view, settings))
    return 0


def _shift_text(username: str, view: ShiftView, settings: Settings) -> str:
    from zoneinfo import ZoneInfo

    said = f"'{username}' is {'on' if view.on else 'off'} shift"
    if view.by_hand and view.held_until:
        local = view.held_until.astimezone(ZoneInfo(settings.timezone))
        said += f" until {local:%a %d %b %H:%M}"
    weekly = f"weekly shifts {view.pattern}" if view.pattern else "no weekly shifts"
    return f"{said}; {weekly} ({settings.timezone})."


async def _rotate(storage: Storage, settings: Settings, args: argparse.Namespace) -> int:
    from server.crypto.rotation import rotate

    report = await rotate(
        storage.db, storage.ring, args.batch_size, settle_seconds=settings.key_reload_seconds + 1
    )
    print(f"New data key {report.new_key_id} is active; re-encrypted {report.total} values.")
    for column, count in sorted(report.reencrypted.items()):
        print(f"  {column}: {count}")
    return 0


DEMO = [
    ("demo-therapist", "Demo Therapist", "therapist"),
    ("demo-supervisor", "Demo Supervisor", "supervisor"),
]


async def _demo(storage: Storage, settings: Settings, args: argparse.Namespace) -> int:
    from server.care.rota import Rota
    from server.storage.models import Role

    accounts = _accounts(storage, settings)
    if await accounts.count():
        print("Accounts exist already; no demo accounts were made.")
        creds = settings.data_dir / "demo-credentials.txt"
        if creds.exists():
            print(f"Demo sign-in details: {creds.resolve()}")
        return 0
    lines = []
    for username, name, role in DEMO:
        password = secrets.token_urlsafe(12)
        _, secret = await accounts.create(
            username, name, Role(role), password, demo=True, enrol_totp=True
        )
        lines.append(f"{role:<10} username {username}  password {password}  TOTP key {secret}")
    await accounts.supervise("demo-supervisor", "demo-therapist")
    # on shift until they press "Go off shift": an escalation in the demo reaches someone
    demo_supervisor = await accounts.find("demo-supervisor")
    await Rota(storage.db, settings.timezone).press(demo_supervisor.id, True)
    text = "\n".join(
        [
            "Demo accounts (for trying Playroom; do not use them with real clients):",
            *lines,
            "Add the TOTP key to an authenticator app, or print the current code with:",
            "  .venv/bin/python -m server demo-code demo-therapist",
        ]
    )
    creds = settings.data_dir / "demo-credentials.txt"
    fd = os.open(creds, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    print(text)
    print(f"(Saved to {creds}, readable only by you.)")
    return 0


async def _demo_code(storage: Storage, settings: Settings, args: argparse.Namespace) -> int:
    print(await _accounts(storage, settings).current_code(args.username))
    return 0


async def _verify_log(storage: Storage, settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when the log (with ``--all``, every log) is intact, 1 when anything was
    altered, removed, inserted or reordered (each finding names its entry). The witness is
    asked unless ``--no-witness``: every checkpoint it countersigned must still be there."""
    from server.audit.sessionlog import SessionLog, session_stream
    from server.audit.witnessing import open_witnessing

    if args.all == bool(args.session):
        raise PlayroomError("Name one session's log, or give --all.")
    witnessing = None if args.no_witness else open_witnessing(settings, storage.db, storage.ring)
    log_ = SessionLog(storage.db, storage.ring, witnessing)
    reports = []
    try:
        name = args.session or ""
        streams = (
            await log_.streams() if args.all else [name if ":" in name else session_stream(name)]
        )
        for stream in streams:
            witnessed = [w for path in args.witness for w in _witnessed(path, stream)]
            reports.append(await log_.verify(stream, witnessed, not args.no_witness))
    finally:
        if witnessing is not None:
            await witnessing.close()
    if args.json:
        docs = [r.as_dict() for r in reports]
        print(json.dumps(docs if args.all else docs[0], indent=2))
    elif args.all:
        for report in reports:
            if not report.intact:
                _print_report(report, args.witness)
        whole = sum(r.intact for r in reports)
        print(f"{len(reports)} logs checked: {whole} intact, {len(reports) - whole} not.")
    else:
        _print_report(reports[0], args.witness)
    first = reports[0] if reports else None
    if not args.all and first is not None and first.entries == 0 and not first.findings:
        print("(There is no log for that id.)", file=sys.stderr)
    return 0 if all(r.intact for r in reports) else 1


def _print_report(report: Report, files: list[str]) -> None:
    print(f"{report.stream}: {report.entries} entries, {report.checkpoints} signed checkpoints.")
    if report.witness is not None:
        print(f"Witness: {report.witness.message}")
    if files:
        print(f"{len(files)} log file(s) of checkpoints kept outside the database read.")
    for finding in report.findings:
        where = f"entry {finding.seq}" if finding.seq is not None else "log"
        print(f"  {finding.problem.upper()} at {where}: {finding.detail}")
    print("Intact: every hash and signature checks." if report.intact else "NOT INTACT.")


def _witness(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the witness (``server/audit/witness_service.py``) until stopped."""
    from server.audit.witness import open_witness
    from server.audit.witness_service import witness_app

    witness = open_witness(
        settings.witness_dir, settings.witness_key_file, settings.witness.server_keys
    )
    host = args.host or settings.host
    print(
        f"The witness is serving on http://{host}:{args.port}/ from {witness.store.path}; "
        f"its public key is {witness.public_key}",
        flush=True,
    )
    web.run_app(
        witness_app(witness),
        host=host,
        port=args.port,
        access_log_class=AccessLogger,
        print=None,
        shutdown_timeout=5,
    )
    return 0


def _witnessed(path: str, stream: str) -> list[Witness]:
    """The checkpoints of ``stream`` in a JSON log file (its ``log_checkpoint`` lines; white
    space inside an id or a hash, as a log shipper may wrap it, is ignored)."""
    found = []
    try:
        with open(path, encoding="utf-8", errors="replace") as lines:
            for line in lines:
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue  # not a JSON line: another program's output
                if not isinstance(doc, dict) or doc.get("event") != "log_checkpoint":
                    continue
                if "".join(str(doc.get("stream", "")).split()) != stream:
                    continue
                try:
                    found.append((int(doc["seq"]), "".join(str(doc["head"]).split())))
                except (KeyError, TypeError, ValueError):
                    continue  # a damaged line witnesses nothing
    except OSError as exc:
        raise PlayroomError(f"The witness file could not be read: {exc.strerror}.") from None
    return found


async def _disable_user(storage: Storage, settings: Settings, args: argparse.Namespace) -> int:
    """Refuse the account's sign-ins from now on and end its sessions (its open sockets close
    within a second, on every node: ``server/edge/staffsockets.py``); the retention clock of
    its credentials starts now (``server/records/retention.py``)."""
    import sqlalchemy as sa

    from server.storage.db import utcnow
    from server.storage.models import StaffSession, User

    index = storage.ring.blind_index(args.username)
    async with storage.db.session() as session:
        done = await session.execute(
            sa.update(User)
            .where(User.login_index == index)
            .values(disabled=True, disabled_at=utcnow())
        )
        account = sa.select(User.id).where(User.login_index == index)
        await session.execute(sa.delete(StaffSession).where(StaffSession.user_id.in_(account)))
    if not cast(sa.CursorResult[Any], done).rowcount:
        raise PlayroomError("There is no account with that username.")
    print(f"Disabled '{args.username}'; its sign-ins have ended.")
    return 0


async def _unlock(storage: Storage, settings: Settings, args: argparse.Namespace) -> int:
    """Clear a username's failed sign-ins from every address, so that none waits. Said the
    same whether or not the username has an account."""
    waiting = await _accounts(storage, settings).unlock(args.username)
    print(f"Cleared failed sign-ins for '{args.username}' from {waiting} address(es).")
    return 0


async def _purge(storage: Storage, settings: Settings, args: argparse.Namespace) -> int:
    """Delete what is past its period; the witness is told which logs went (and must answer
    first: logs deleted while it cannot be told would look deleted by hand)."""
    from server.audit.witnessing import open_witnessing
    from server.exceptions import WitnessUnavailable
    from server.records.retention import Policy, Retention

    witnessing = open_witnessing(settings, storage.db, storage.ring)
    policy = Policy.from_settings(settings)
    try:
        if witnessing is not None and not args.dry_run:
            try:
                await witnessing.witness.heads()
            except WitnessUnavailable as exc:
                raise PlayroomError(
                    f"{exc} Nothing was deleted: the witness must be told which logs go. Try "
                    "again once it answers."
                ) from exc
        counts = await Retention(storage.db, storage.ring, policy, witnessing).purge(
            dry_run=args.dry_run
        )
    finally:
        if witnessing is not None:
            await witnessing.close()
    verb = "Would delete" if args.dry_run else "Deleted"
    if not counts:
        print(f"{verb} nothing: no data is past its retention period.")
    for table, count in counts.items():
        print(f"{verb} {count} from {table}")
    return 0


async def _export_client(storage: Storage, settings: Settings, args: argparse.Namespace) -> int:
    """Everything held about one client; the export is recorded in the client's log."""
    from server.audit.sessionlog import SessionLog
    from server.records.export import Exports

    log_ = SessionLog(storage.db, storage.ring)
    document = await Exports(storage.db, storage.ring, log_).client(args.client_id, "system")
    text = json.dumps(document, indent=2, ensure_ascii=False)
    if args.output:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")
        print(f"Wrote everything held about the client to {args.output}.")
    else:
        print(text)
    return 0


_COMMANDS: dict[str, Command] = {
    "disable-user": _disable_user,
    "unlock": _unlock,
    "purge": _purge,
    "export-client": _export_client,
    "verify-log": _verify_log,
    "create-user": _create_user,
    "supervise": _supervise,
    "shift": _shift,
    "shift-pattern": _shift_pattern,
    "rotate-keys": _rotate,
    "demo": _demo,
    "demo-code": _demo_code,
}
