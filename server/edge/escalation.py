"""Escalation at the socket: the therapist raises a concern and is told at once who it
reached (or, with nobody on shift, the out-of-hours number); dashboards are alerted at once,
and again, down the rota, until someone acknowledges; a supervisor acknowledges, and the
therapist or a supervisor closes it with a note of what was done; each step reaches the
therapist's panel and the dashboards concerned as it happens. The escalation is
``care/escalation.py``'s, the rota ``care/rota.py``'s, and the alerts still to send are kept
in the database (``care/repeats.py``): whichever node finds one due sends it
(``send_due``)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from server.appkeys import ACCOUNTS, ESCALATIONS, HUB, NOTIFIER
from server.care.escalation import CONCERNS, EscalationView
from server.care.repeats import Turn
from server.edge.connection import Connection, Handlers
from server.exceptions import Forbidden, PlayroomError
from server.live.protocol import Acknowledge, CloseEscalation, Escalate, Watch
from server.live.replies import Done, EscalationAlert, EscalationInfo, EscalationUpdate
from server.live.rooms import Role
from server.storage.models import Role as StaffRole

log = logging.getLogger(__name__)


async def escalate(conn: Connection, message: Escalate) -> None:
    room, me = conn.in_room()
    if me.role is not Role.THERAPIST or conn.user is None:
        raise Forbidden("Only the therapist can escalate.")
    service = conn.app[ESCALATIONS]
    # whoever it is about, still here or not: a child who left by the quick exit, or was
    # lost, is the one a concern is most likely about
    about = room.participants.get(message.about) if message.about is not None else None
    if message.about is not None and about is None:
        raise PlayroomError("That person was not in this session.")
    client_id = room.client_of(about) if about is not None else room.client_id
    if not client_id:
        raise PlayroomError("Choose the young person the concern is about.")
    view = await service.raise_concern(conn.user, room.session_id, message.concern, client_id)
    turn = await service.repeats.take_first(view.id, conn.hub.bus.node_id)
    if turn is None:  # another node is sending it (it found this one slow to)
        await conn.reply(EscalationInfo(escalation=view.as_dict()))
        return
    alerted = await _alert(conn.app, turn)
    if alerted is None:  # acknowledged already, somehow: nothing to send
        await conn.reply(EscalationInfo(escalation=(await service.view(view.id)).as_dict()))
        return
    view, reached = alerted
    await conn.reply(EscalationInfo(escalation=view.as_dict()))  # before any e-mail goes
    # the therapist's page may vanish now: the alert goes out all the same
    await asyncio.shield(_mail_first(conn.app, view, reached, turn))


async def _mail_first(
    app: web.Application, view: EscalationView, reached: list[str], turn: Turn
) -> None:
    try:
        await _notify(app, view, reached, "raised")
        await app[ESCALATIONS].repeats.sent(turn)
    except Exception as exc:  # noqa: BLE001 - unsent, the turn is claimed again later
        log.warning("escalation alert failed", extra={"event": type(exc).__name__})


async def _alert(app: web.Application, turn: Turn) -> tuple[EscalationView, list[str]] | None:
    """One turn of the rota: record whom it reaches, then push it to the dashboards of the
    therapist's supervisors and of everyone it has reached. None: no longer open (and no
    more alerts)."""
    service = app[ESCALATIONS]
    reached = await service.record_alerts(turn.escalation_id, turn.targets)
    if reached is None:  # acknowledged or closed, even as this turn began
        await service.repeats.drop(turn.escalation_id)
        return None
    view = await service.view(turn.escalation_id)
    if view.nobody_on_shift and turn.first:
        await service.record(turn.escalation_id, "nobody_on_shift")
    alert = EscalationAlert(escalation=view.as_dict(), therapist=view.therapist_name)
    await app[HUB].tell_watchers(await service.concerned(view.id, view.therapist_id), alert)
    return view, [r.id for r in reached]


async def _notify(app: web.Application, view: EscalationView, to: list[str], what: str) -> None:
    notifier = app[NOTIFIER]
    concern = CONCERNS.get(view.concern, view.concern)
    emails = await app[ACCOUNTS].emails(to) if to else {}
    subject = f"Playroom: escalation {what} ({concern})"
    text = (
        f"A therapist in your service escalated a concern: {concern}.\n"
        "Open Playroom's Escalations page now and acknowledge it.\n"
    )
    await notifier.email(list(emails.values()), subject, text)
    await notifier.webhook(
        {
            "event": f"escalation_{what}",
            "escalation": view.id,
            "concern": view.concern,
            "nobody_on_shift": view.nobody_on_shift,
        }
    )


async def send_due(app: web.Application) -> None:
    """Send every alert that is due, from whichever node runs this first: each turn is
    claimed in the database, so no two nodes send the same one."""
    for turn in await app[ESCALATIONS].repeats.due(app[HUB].bus.node_id):
        try:
            await _send(app, turn)
        except Exception as exc:  # noqa: BLE001 - one turn's failure never stops the others
            # unsent, the turn is claimed again when its claim runs out
            log.warning("escalation alert failed", extra={"event": type(exc).__name__})


async def _send(app: web.Application, turn: Turn) -> None:
    service = app[ESCALATIONS]
    before = await service.view(turn.escalation_id)
    alerted = await _alert(app, turn)
    if alerted is None:
        return
    view, reached = alerted
    # a first turn here: the node that raised the escalation died before sending it
    what = "raised" if turn.first else "not yet acknowledged"
    await _notify(app, view, reached, what)
    if view.alerted != before.alerted:  # the therapist's panel says who has it now
        await app[HUB].tell_therapist(
            view.appointment_id, EscalationUpdate(escalation=view.as_dict())
        )
    await service.repeats.sent(turn)


async def watch(conn: Connection, message: Watch) -> None:
    """A supervisor's dashboard listens for escalations, and is told of those still open."""
    if conn.user is None or conn.user.role is not StaffRole.SUPERVISOR:
        raise Forbidden("Only supervisors watch for escalations.")
    conn.hub.watchers.setdefault(conn.user.id, set()).add(conn.ws)
    for view in await conn.app[ESCALATIONS].open_for(conn.user):
        await conn.reply(EscalationAlert(escalation=view.as_dict(), therapist=view.therapist_name))
    await conn.reply(Done())  # every escalation still open has been told


async def acknowledge(conn: Connection, message: Acknowledge) -> None:
    if conn.user is None:
        raise Forbidden("Supervisors acknowledge escalations.")
    view = await conn.app[ESCALATIONS].acknowledge(conn.user, message.escalation)
    await _settled(conn, view, "escalation_acknowledged")


async def close_escalation(conn: Connection, message: CloseEscalation) -> None:
    if conn.user is None:
        raise Forbidden("Staff close escalations.")
    view = await conn.app[ESCALATIONS].close(conn.user, message.escalation, message.note)
    await _settled(conn, view, "escalation_closed")


async def _settled(conn: Connection, view: EscalationView, event: str) -> None:
    """Acknowledged or closed (the alerts stopped with it, in the same transaction):
    everyone concerned sees it, the service's webhook hears it, and the sender is
    answered."""
    update = EscalationUpdate(escalation=view.as_dict())
    service = conn.app[ESCALATIONS]
    await conn.hub.tell_watchers(await service.concerned(view.id, view.therapist_id), update)
    await conn.hub.tell_therapist(view.appointment_id, update)
    await conn.app[NOTIFIER].webhook({"event": event, "escalation": view.id})
    await conn.reply(Done())


HANDLERS: Handlers = {
    Escalate: escalate,
    Watch: watch,
    Acknowledge: acknowledge,
    CloseEscalation: close_escalation,
}
