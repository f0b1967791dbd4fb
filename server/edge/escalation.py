"""Escalation at the socket: the therapist raises a concern, supervisors' dashboards are
alerted at once (and again, down the rota, until someone acknowledges), a supervisor
acknowledges, and the therapist or a supervisor closes it with a note of what was done;
each step reaches the therapist's panel and the team's cards as it happens. The escalation
itself is ``care/escalation.py``'s."""

from __future__ import annotations

import asyncio
import itertools

from server.appkeys import ACCOUNTS, ESCALATIONS, NOTIFIER, SETTINGS
from server.care.escalation import CONCERNS, EscalationView
from server.edge.connection import Connection, Handlers
from server.exceptions import Forbidden
from server.live.protocol import Acknowledge, CloseEscalation, Escalate, Watch
from server.live.replies import Done, EscalationAlert, EscalationInfo, EscalationUpdate
from server.live.rooms import Role
from server.storage.models import Role as StaffRole


async def escalate(conn: Connection, message: Escalate) -> None:
    room, me = conn.in_room()
    if me.role is not Role.THERAPIST or conn.user is None:
        raise Forbidden("Only the therapist can escalate.")
    service = conn.app[ESCALATIONS]
    view = await service.raise_concern(conn.user, room.session_id, message.concern)
    await conn.reply(EscalationInfo(escalation=view.as_dict()))
    alert = EscalationAlert(escalation=view.as_dict(), therapist=view.therapist_name)
    rota = await service.supervisors_of(conn.user.id)
    await conn.hub.tell_watchers(rota, alert)
    await _notify(conn, view.id, view.concern, rota[:1], "raised")
    task = asyncio.create_task(_repeat(conn, view.id, alert, rota))
    conn.hub.escalation_tasks[view.id] = task


async def _notify(
    conn: Connection, escalation_id: str, concern: str, to: list[str], what: str
) -> None:
    notifier = conn.app[NOTIFIER]
    emails = await conn.app[ACCOUNTS].emails(to)
    subject = f"Playroom: escalation {what} ({CONCERNS.get(concern, concern)})"
    text = (
        f"A therapist in your team escalated a concern: {CONCERNS.get(concern, concern)}.\n"
        "Open Playroom's Escalations page now and acknowledge it.\n"
    )
    await notifier.email(list(emails.values()), subject, text)
    await notifier.webhook(
        {"event": f"escalation_{what}", "escalation": escalation_id, "concern": concern}
    )


async def _repeat(
    conn: Connection, escalation_id: str, alert: EscalationAlert, rota: list[str]
) -> None:
    """Until someone acknowledges: alert the dashboards again, and go down the rota."""
    service = conn.app[ESCALATIONS]
    every = conn.app[SETTINGS].escalation_repeat_seconds
    for turn in itertools.count(1):
        await asyncio.sleep(every)  # the repeat interval itself
        view = await service.view(escalation_id)
        if view.status != "open" or not rota:
            return
        await service.record(escalation_id, "repeated")
        await conn.hub.tell_watchers(rota, alert)
        await _notify(
            conn, escalation_id, view.concern, [rota[turn % len(rota)]], "not yet acknowledged"
        )


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
    """Acknowledged or closed: the alerts stop repeating, everyone concerned sees it, the
    service's webhook hears it, and the sender is answered."""
    _stop_repeating(conn, view.id)
    await _updated(conn, view.as_dict(), view.therapist_id)
    await conn.app[NOTIFIER].webhook({"event": event, "escalation": view.id})
    await conn.reply(Done())


def _stop_repeating(conn: Connection, escalation_id: str) -> None:
    task = conn.hub.escalation_tasks.pop(escalation_id, None)
    if task is not None:
        task.cancel()


async def _updated(conn: Connection, escalation: dict[str, object], therapist_id: str) -> None:
    update = EscalationUpdate(escalation=escalation)
    service = conn.app[ESCALATIONS]
    await conn.hub.tell_watchers(await service.supervisors_of(therapist_id), update)
    await conn.hub.tell_therapist(str(escalation["appointment_id"]), update)


HANDLERS: Handlers = {
    Escalate: escalate,
    Watch: watch,
    Acknowledge: acknowledge,
    CloseEscalation: close_escalation,
}
