"""The signalling handlers for escalation: the therapist raises a concern, supervisors'
dashboards are alerted at once, a supervisor acknowledges, and it is closed."""

from __future__ import annotations

from server.appkeys import ACCOUNTS, ESCALATIONS
from server.continuity import Continuity
from server.exceptions import Forbidden
from server.models import Role as StaffRole
from server.protocol import (
    Acknowledge,
    CloseEscalation,
    Escalate,
    EscalationAlert,
    EscalationInfo,
    EscalationUpdate,
    Watch,
)
from server.rooms import Role


class Escalating(Continuity):
    async def escalate(self, message: Escalate) -> None:
        room, me = self._in_room()
        if me.role is not Role.THERAPIST or self.user is None:
            raise Forbidden("Only the therapist can escalate.")
        service = self.request.app[ESCALATIONS]
        view = await service.raise_concern(self.user, room.session_id, message.concern)
        await self.reply(EscalationInfo(escalation=view.as_dict()))
        alert = EscalationAlert(escalation=view.as_dict(), therapist=self.user.display_name)
        await self.hub.tell_watchers(await service.supervisors_of(self.user.id), alert)

    async def watch(self, message: Watch) -> None:
        if self.user is None or self.user.role is not StaffRole.SUPERVISOR:
            raise Forbidden("Only supervisors watch for escalations.")
        self.hub.watchers.setdefault(self.user.id, set()).add(self.ws)
        accounts = self.request.app[ACCOUNTS]
        for view in await self.request.app[ESCALATIONS].open_for(self.user):
            therapist = await accounts.get(view.therapist_id)
            name = therapist.display_name if therapist else ""
            await self.reply(EscalationAlert(escalation=view.as_dict(), therapist=name))

    async def acknowledge(self, message: Acknowledge) -> None:
        if self.user is None:
            raise Forbidden("Supervisors acknowledge escalations.")
        view = await self.request.app[ESCALATIONS].acknowledge(self.user, message.escalation)
        await self._updated(view.as_dict(), view.therapist_id)

    async def close_escalation(self, message: CloseEscalation) -> None:
        if self.user is None:
            raise Forbidden("Staff close escalations.")
        view = await self.request.app[ESCALATIONS].close(self.user, message.escalation)
        await self._updated(view.as_dict(), view.therapist_id)

    async def _updated(self, escalation: dict[str, object], therapist_id: str) -> None:
        update = EscalationUpdate(escalation=escalation)
        service = self.request.app[ESCALATIONS]
        await self.hub.tell_watchers(await service.supervisors_of(therapist_id), update)
        for room in self.hub.rooms.by_session.values():
            therapist = room.therapist
            if therapist is not None and room.session_id == escalation["appointment_id"]:
                await self.hub.send(therapist, update)
