"""Invitations, change notices and reminders to a family, by e-mail (with a calendar file)
and text message: what goes in the outbox when, and how each is made when it is sent.

- a consent link to the parent or carer, and a session's join link to whoever the therapist
  chose for the client (the young person or the parent), when the therapist presses send;
- for a session scheduled, moved or cancelled (``appointment_changed``, the callback the
  scheduling code calls): an invitation (when the client's e-mail is set to go
  automatically), a new invitation with a new link, or a cancellation with a cancelled
  calendar event (the same UID);
- reminders ``reminder_hours`` before each session, by e-mail and by text message.

Nothing is sent from a request: each message waits in the outbox (``outbox.py``), sent by
the periodic job on whichever node claims it first. The words are made when it is sent
(``letters.py``), from the session and the addresses as they are then, in the family's
language as the therapist has set it then (else the one it was queued in, English)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from server import i18n
from server.access.links import token_of
from server.audit.sessionlog import client_stream, session_stream
from server.care.addresses import ClientContacts, Contacts
from server.care.delivery import DeliveryFailed, Mailer, TextMessages
from server.care.letters import About, Kind, Letters
from server.care.outbox import SENT, Claimed, Outbox, Skip, Wait
from server.care.schedule import Schedule
from server.care.series import Change
from server.crypto.keys import KeyRing
from server.crypto.sealed import unseal
from server.exceptions import PlayroomError
from server.settings import Settings
from server.storage.db import Database, utcnow
from server.storage.mail_models import ClientContact, OutboxMessage
from server.storage.models import OVER, Appointment, Link, LinkKind, User

log = logging.getLogger(__name__)
SERVER = "server"  # the actor in a log of what the server did by itself
PHONES = {"young_person": "plan.young_person_phone", "parent": "plan.parent_phone"}


def reminder_kind(hours: float) -> str:
    return f"reminder_{hours:g}h"


@dataclass(frozen=True)
class SessionMail:
    """What a session's page shows of its messages."""

    configured: bool  # a mail server is set: the page offers "Send invitation"
    contacts: Contacts
    messages: list[OutboxMessage]


INVITE_AHEAD = timedelta(days=7)  # a session's invitation goes this long before it, or now


class Invitations:
    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        settings: Settings,
        contacts: ClientContacts,
        outbox: Outbox,
        schedule: Schedule,
        letters: Letters | None = None,
    ) -> None:
        self.db = db
        self.ring = ring
        self.settings = settings
        self.contacts = contacts
        self.outbox = outbox
        self.schedule = schedule
        self.letters = letters or Letters(settings)
        self.mailer = Mailer(settings)
        self.texts = TextMessages(settings)

    @property
    def public_base(self) -> str | None:
        """What links start with when no request says (a message the server sends by
        itself): the public address."""
        return self.settings.public_url.rstrip("/") if self.settings.public_url else None

    def _channels(self) -> list[str]:
        return ["email", *(["sms"] if self.texts.configured else [])]

    # -- what goes in the outbox

    async def send_consent(self, client_id: str, link_id: str, base: str) -> None:
        """A consent link to the parent or carer (the therapist pressed send)."""
        await self.outbox.queue(client_id, None, "consent", "email", base=base, link_id=link_id)

    async def invite(
        self,
        appointment: Appointment,
        base: str | None,
        lang: str = "en",
        due_at: datetime | None = None,
    ) -> None:
        """The session's join link to whoever the therapist chose, sent again if sent before:
        now (the therapist pressed send), or at ``due_at``. A group's session goes by
        e-mail to nobody: each member's link is copied from the session's page."""
        await self.outbox.queue(
            _client_of(appointment),
            appointment.id,
            "invitation",
            "email",
            base=base,
            lang=lang,
            due_at=due_at,
        )

    async def appointment_changed(
        self, appointment_id: str, kind: Change, *, base: str | None = None
    ) -> None:
        """A session was scheduled, moved or cancelled: the family is told (the scheduling
        code calls this after its change is stored). ``base``: what links start with, where
        a request says (else the public address, or the family's last links')."""
        async with self.db.read() as session:
            appointment = await session.get(Appointment, appointment_id)
            if appointment is None or appointment.client_id is None:
                return  # gone, or a group's session (not sent by e-mail)
            contacts = await self.contacts.get(appointment.client_id, session)
            bases = list(
                await session.scalars(
                    sa.select(OutboxMessage.base).where(
                        OutboxMessage.appointment_id == appointment_id,
                        OutboxMessage.kind.in_(("invitation", "moved")),
                    )
                )
            )
        invited = bool(bases)
        if kind != "scheduled":  # reminders of the old time (or of none) must not go
            await self.outbox.drop(appointment_id, ("reminder_",), unsent=kind == "cancelled")
        if kind != "cancelled":
            await self.outbox.drop(appointment_id, ("cancelled",))
        reachable = contacts.join_address or (kind != "scheduled" and self.texts.configured)
        if not reachable or not (contacts.automatic or invited):
            return
        # links start as the family's last ones did (a development server has no public
        # address: the therapist's request gave one)
        client = appointment.client_id
        base = base or self.public_base or next((b for b in bases if b), None)
        # by e-mail, the family hears of a session first from its invitation: until that
        # has gone, a move or a cancellation has nothing to correct
        told_nothing = bool(contacts.join_address) and not await self._invitation_sent(
            appointment_id
        )
        if kind == "scheduled":
            # a week ahead at the most: a series of 52 is 52 invitations, one a week before
            # each session, not 52 at once (each is made when it goes, at the session's time
            # then, so a session moved before its invitation went needs no notice of it)
            due = max(utcnow(), appointment.starts_at - INVITE_AHEAD)
            await self.invite(appointment, base, due_at=due)
        elif kind == "moved":
            if told_nothing:  # the invitation still to go carries the new time, when it says
                due = max(utcnow(), appointment.starts_at - INVITE_AHEAD)
                await self.invite(appointment, base, due_at=due)
                return
            await self.outbox.drop(appointment_id, ("invitation",), unsent=True)
            for channel in self._channels():
                await self.outbox.queue(client, appointment_id, "moved", channel, base=base)
        else:
            await self.outbox.drop(appointment_id, ("invitation", "moved"), unsent=True)
            if told_nothing:
                return  # nothing went about it: nothing to take back
            for channel in self._channels():
                await self.outbox.queue(client, appointment_id, "cancelled", channel, base=base)

    async def _invitation_sent(self, appointment_id: str) -> bool:
        async with self.db.read() as session:
            sent = await session.scalar(
                sa.select(OutboxMessage.id).where(
                    OutboxMessage.appointment_id == appointment_id,
                    OutboxMessage.kind.in_(("invitation", "moved")),
                    OutboxMessage.status == SENT,
                )
            )
        return sent is not None

    async def plan_reminders(self, now: datetime | None = None) -> None:
        """Put each reminder due now in the outbox, once (a row that is there already is
        left as it is). Of the reminders due for a session, only the nearest its start
        goes (a server that was down a day sends one, not two), and none that falls
        before the session was scheduled (its invitation said it all)."""
        now = now or utcnow()
        hours = self.settings.reminder_hours
        if not hours:
            return
        async with self.db.read() as session:
            rows = await session.execute(
                sa.select(Appointment.id, Appointment.client_id, Appointment.starts_at,
                          Appointment.created_at)
                .join(ClientContact, ClientContact.client_id == Appointment.client_id)
                .where(
                    Appointment.status == "scheduled",
                    Appointment.starts_at > now,
                    Appointment.starts_at <= now + timedelta(hours=max(hours)),
                    ClientContact.automatic.is_(True),
                )
            )  # fmt: skip
            found = list(rows)
        for appointment_id, client_id, starts_at, created_at in found:
            due = [
                h
                for h in hours
                if starts_at - timedelta(hours=h) <= now
                and created_at <= starts_at - timedelta(hours=h)
            ]
            if not due:
                continue
            kind = reminder_kind(min(due))
            for channel in self._channels():
                if client_id is None:  # a group's session (the join excludes them)
                    continue
                await self.outbox.queue(
                    client_id, appointment_id, kind, channel, base=self.public_base, again=False
                )

    async def tick(self) -> int:
        """One round of the periodic job: reminders due, then whatever is due to send."""
        await self.plan_reminders()
        return await self.outbox.run(self.deliver)

    async def for_page(self, appointment: Appointment) -> SessionMail:
        return SessionMail(
            self.mailer.configured,
            await self.contacts.get(_client_of(appointment)),
            await self.outbox.for_appointment(appointment.id),
        )

    # -- sending one

    async def deliver(self, claimed: Claimed) -> None:
        """Make the message from things as they are now and send it; raises ``Skip`` when
        there is nothing to send, ``DeliveryFailed`` when it did not go."""
        contacts = await self.contacts.get(claimed.client_id)
        lang = await self._language(claimed)
        if claimed.kind == "consent":
            await self._consent(claimed, contacts, lang)
            return
        async with self.db.read() as session:
            appointment = await session.get(Appointment, claimed.appointment_id or "")
            therapist = await session.get(User, appointment.therapist_id) if appointment else None
        if appointment is None or appointment.client_id is None:
            raise Skip("no_session")
        kind = _letter_kind(claimed.kind)
        who = contacts.join_to
        url = None
        if kind in ("invitation", "moved"):
            if appointment.status in OVER:
                raise Skip("session_over")
            if not (await self.schedule.joining_gate(appointment.client_id)).is_open:
                raise Wait("gate_closed")  # sent once consent and the gate allow it
            if claimed.base is None:
                raise DeliveryFailed("no_public_address")
            url = await self._join_url(appointment, who, claimed.base)
        elif kind == "reminder":
            if appointment.status in OVER or appointment.starts_at <= utcnow():
                raise Skip("too_late")
            url = await self._live_url(appointment, who, claimed.base)
        about = About(
            recipient=who,
            appointment_id=appointment.id,
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            url=url,
            therapist=_name(self.ring, therapist),
            hours=_hours(claimed.kind),
        )
        if claimed.channel == "sms":
            phone = await self._phone(appointment.client_id, who)
            await self.texts.send(phone, self.letters.text_message(kind, about, lang))
        else:
            address = contacts.address(who)
            if not address:
                raise Skip("no_address")
            await self.mailer.send(self.letters.letter(kind, address, about, lang))
        await self.schedule.log.append(
            client_stream(appointment.client_id),
            "message.sent",
            SERVER,
            {"session": appointment.id, "kind": claimed.kind, "channel": claimed.channel,
             "to": who},
        )  # fmt: skip

    async def _language(self, claimed: Claimed) -> str:
        """The family's language now: the one the therapist set for the client, else the one
        the message was queued in, else English."""
        chosen = await self.schedule.clients.language(claimed.client_id)
        return i18n.supported(chosen) or i18n.supported(claimed.lang) or i18n.DEFAULT

    async def _consent(self, claimed: Claimed, contacts: Contacts, lang: str) -> None:
        if not contacts.parent_email:
            raise Skip("no_address")
        async with self.db.read() as session:
            link = await session.get(Link, claimed.link_id or "")
        if link is None or link.revoked_at is not None or link.expires_at <= utcnow():
            raise Skip("link_withdrawn")
        if claimed.base is None:
            raise DeliveryFailed("no_public_address")
        url = f"{claimed.base}/consent/{token_of(self.ring, link)}"
        about = About(recipient="parent", url=url)
        await self.mailer.send(self.letters.letter("consent", contacts.parent_email, about, lang))
        await self.schedule.log.append(
            client_stream(claimed.client_id),
            "message.sent",
            SERVER,
            {"kind": "consent", "channel": "email", "to": "parent", "link": link.id},
        )

    async def _phone(self, client_id: str, who: str) -> str:
        answers = await self.schedule.gatekeeper.plan_answers(client_id)
        phone = answers.get(PHONES.get(who, ""), {}).get("answer", "").strip()
        if not phone:
            raise Skip("no_phone")
        return phone

    async def _links(self, appointment: Appointment, role: str) -> list[Link]:
        async with self.db.read() as session:
            rows = await session.scalars(
                sa.select(Link).where(
                    Link.appointment_id == appointment.id,
                    Link.role == role,
                    Link.revoked_at.is_(None),
                )
            )
            return list(rows)

    def _fits(self, link: Link, appointment: Appointment) -> bool:
        """Whether a link opens and closes with the session as it is now (not a moved
        session's old times)."""
        return (
            link.expires_at == appointment.ends_at
            and link.not_before == appointment.starts_at - self.schedule.join_early
        )

    async def _live_url(self, appointment: Appointment, role: str, base: str | None) -> str | None:
        """The session's live link for ``role``, if there is one that fits and the gate
        lets it in; a reminder without one says to use the link already sent."""
        if base is None or not (await self.schedule.joining_gate(_client_of(appointment))).is_open:
            return None
        for link in await self._links(appointment, role):
            if self._fits(link, appointment):
                return f"{base}/join/{token_of(self.ring, link)}"
        return None

    async def _join_url(self, appointment: Appointment, role: str, base: str) -> str:
        """The link to send: the live one, or a new one when the session moved (the old
        ones withdrawn), logged as the therapist's own links are."""
        links = await self._links(appointment, role)
        for link in links:
            if self._fits(link, appointment):
                return f"{base}/join/{token_of(self.ring, link)}"
        stream = session_stream(appointment.id)
        for old in links:
            await self.schedule.links.revoke(old.id)
            await self.schedule.log.append(
                stream, "link.revoked", SERVER, {"link": old.id, "role": role}
            )
        issued = await self.schedule.links.issue(
            LinkKind.JOIN,
            _client_of(appointment),
            role,
            appointment.starts_at - self.schedule.join_early,
            appointment.ends_at,
            appointment.therapist_id,
            appointment_id=appointment.id,
        )
        await self.schedule.log.append(
            stream,
            "link.issued",
            SERVER,
            {"link": issued.link.id, "role": role, "expires_at": appointment.ends_at.isoformat()},
        )
        return f"{base}/join/{issued.token}"


def _letter_kind(kind: str) -> Kind:
    if kind.startswith("reminder_"):
        return "reminder"
    if kind in ("invitation", "moved", "cancelled", "consent"):
        return kind  # type: ignore[return-value]
    raise Skip("unknown_kind")


def _hours(kind: str) -> float:
    if not kind.startswith("reminder_"):
        return 0
    return float(kind.removeprefix("reminder_").removesuffix("h"))


def _name(ring: KeyRing, user: User | None) -> str:
    if user is None or user.disabled:
        return ""
    return unseal(ring, user, "display_name_enc") or ""


def _client_of(appointment: Appointment) -> str:
    """The client a session's messages are for: none for a group's session, which is not
    sent by e-mail (each member's link is copied from its page)."""
    if appointment.client_id is None:
        raise PlayroomError("A group's session is not sent by e-mail: copy each member's link.")
    return appointment.client_id
