"""The signalling handlers for escalation: the therapist raises a concern, supervisors'
dashboards are alerted at once, a supervisor acknowledges, and it is closed."""

from __future__ import annotations

import asyncio
import itertools

from server.appkeys import ACCOUNTS, ESCALATIONS, NOTIFIER, SETTINGS
from server.care.escalation import CONCERNS
from server.edge.continuity import Continuity
from server.exceptions import Forbidden
from server.live.protocol import (
    Acknowledge,
    CloseEscalation,
    Escalate,
    Watch,
)
from server.live.replies import (
    EscalationAlert,
    EscalationInfo,
    EscalationUpdate,
)
from server.live.rooms import Role
from server.storage.models import Role as StaffRole


class Escalating(Continuity):
    async def escalate(self, message: Escalate) -> None:
        room, me = self._in_room()
        if me.role is not Role.THERAPIST or self.user is None:
            raise Forbidden("Only the therapist can escalate.")
        service = self.app[ESCALATIONS]
        view = await service.raise_concern(self.user, room.session_id, message.concern)
        await self.reply(EscalationInfo(escalation=view.as_dict()))
        alert = EscalationAlert(escalation=view.as_dict(), therapist=self.user.display_name)
        rota = await service.supervisors_of(self.user.id)
        await self.hub.tell_watchers(rota, alert)
        await self._notify(view.id, view.concern, rota[:1], "raised")
        task = asyncio.create_task(self._repeat(view.id, alert, rota))
        self.hub.escalation_tasks[view.id] = task

    async def _notify(self, escalation_id: str, concern: str, to: list[str], what: str) -> None:
        notifier = self.app[NOTIFIER]
        emails = await self.app[ACCOUNTS].emails(to)
        subject = f"Playroom: escalation {what} ({CONCERNS.get(concern, concern)})"
        text = (
            f"A therapist in your team escalated a concern: {CONCERNS.get(concern, concern)}.\n"
            "Open Playroom's Escalations page now and acknowledge it.\n"
        )
        await notifier.email(list(emails.values()), subject, text)
        await notifier.webhook(
            {"event": f"escalation_{what}", "escalation": escalation_id, "concern": concern}
        )

    async def _repeat(self, escalation_id: str, alert: EscalationAlert, rota: list[str]) -> None:
        """Until someone acknowledges: alert the dashboards again, and go down the rota."""
        service = self.app[ESCALATIONS]
        every = self.app[SETTINGS].escalation_repeat_seconds
        for turn in itertools.count(1):
            await asyncio.sleep(every)  # the repeat interval itself
            view = await service.view(escalation_id)
            if view.status != "open" or not rota:
                return
            await service.record(escalation_id, "repeated")
            await self.hub.tell_watchers(rota, alert)
            await self._notify(
                escalation_id, view.concern, [rota[turn % len(rota)]], "not yet acknowledged"
            )

    async def watch(self, message: Watch) -> None:
        if self.user is None or self.user.role is not StaffRole.SUPERVISOR:
            raise Forbidden("Only supervisors watch for escalations.")
        self.hub.watchers.setdefault(self.user.id, set()).add(self.ws)
        accounts = self.app[ACCOUNTS]
        for view in await self.app[ESCALATIONS].open_for(self.user):
            therapist = await accounts.get(view.therapist_id)
            name = therapist.display_name if therapist else ""
            await self.reply(EscalationAlert(escalation=view.as_dict(), therapist=name))

    async def acknowledge(self, message: Acknowledge) -> None:
        if self.user is None:
            raise Forbidden("Supervisors acknowledge escalations.")
        view = await self.app[ESCALATIONS].acknowledge(self.user, message.escalation)
        self._stop_repeating(view.id)
        await self._updated(view.as_dict(), view.therapist_id)
        await self.app[NOTIFIER].webhook(
            {"event": "escalation_acknowledged", "escalation": view.id}
        )

    async def close_escalation(self, message: CloseEscalation) -> None:
        if self.user is None:
            raise Forbidden("Staff close escalations.")
        view = await self.app[ESCALATIONS].close(self.user, message.escalation)
        self._stop_repeating(view.id)
        await self._updated(view.as_dict(), view.therapist_id)
        await self.app[NOTIFIER].webhook({"event": "escalation_closed", "escalation": view.id})

    def _stop_repeating(self, escalation_id: str) -> None:
        task = self.hub.escalation_tasks.pop(escalation_id, None)
        if task is not None:
            task.cancel()

    async def _updated(self, escalation: dict[str, object], therapist_id: str) -> None:
        update = EscalationUpdate(escalation=escalation)
        service = self.app[ESCALATIONS]
        await self.hub.tell_watchers(await service.supervisors_of(therapist_id), update)
        await self.hub.tell_therapist(str(escalation["appointment_id"]), update)
