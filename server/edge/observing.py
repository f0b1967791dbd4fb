"""A supervisor observing a session: announced to everyone in the room by name and role,
camera and microphone off, and only where the client's plan records that the young person
(and, under 16, a parent or carer) agreed. Joining and leaving are logged."""

from __future__ import annotations

from server import i18n
from server.appkeys import CLIENTS, GATEKEEPER, RECORDS, SCHEDULE
from server.care.gate import CONSENT_AGE
from server.edge import modes, sharing
from server.edge.connection import Connection, Handlers
from server.exceptions import Forbidden, PlayroomError, ProtocolError
from server.i18n import N_
from server.live.hub import about, person
from server.live.protocol import Observe, ObserverMedia
from server.live.replies import Admitted, Done, Notice, PeerJoined
from server.live.rooms import Participant, Role
from server.storage.models import Role as StaffRole


async def observe(conn: Connection, message: Observe) -> None:
    user = conn.user
    if user is None or user.role is not StaffRole.SUPERVISOR:
        raise Forbidden("Only a supervisor of the therapist can observe.")
    if conn.me is not None:
        raise ProtocolError("already_joined", "This connection is already in a room.")
    appointment = await conn.app[RECORDS].appointment_for(user, message.session)
    room = conn.hub.rooms.get(appointment.id)
    if room is None or room.ended or room.therapist is None:
        raise PlayroomError("The session is not running now.")
    for client_id in await conn.app[SCHEDULE].members_of(appointment):  # each member's plan
        await _check_agreement(conn, client_id)
    me = room.add_observer(user.display_name, user.id)
    conn.room, conn.me = room, me
    conn.hub.bind(me, conn.ws, conn.let_go)
    others = [p for p in room.present() if p.id != me.id]
    await conn.welcome(room, me, appointment)
    await conn.reply(Admitted(present=[person(p) for p in others]))
    await sharing.tell(conn, room, me)
    await modes.tell(conn, room, me)
    await conn.hub.send_many(others, PeerJoined(participant=person(me)))
    await _announce(conn, others, me, _JOINED)
    await conn.record("observer.joined", about(me))
    await conn.hub.lobby(room)


async def observer_media(conn: Connection, message: ObserverMedia) -> None:
    """Turning a microphone or camera on is announced like joining was."""
    room, me = conn.in_room()
    if me.role is not Role.OBSERVER:
        raise Forbidden("Only an observer announces this.")
    others = [p for p in room.present() if p.id != me.id]
    await _announce(conn, others, me, _MEDIA[(message.audio, message.video)])
    # once announced, a kind may stay in the connection's descriptions when turned off
    # again (the page disables the track, which then sends nothing)
    wanted = {"audio": message.audio, "video": message.video}
    me.announced |= {kind for kind, on in wanted.items() if on}
    await conn.record("observer.media", {"audio": message.audio, "video": message.video})
    await conn.reply(Done())


# what everyone in the room is told of an observer, each in the language of their page
_JOINED = N_("{name} (supervisor) is observing this session. Their camera and microphone are off.")
_MEDIA = {  # (microphone, camera) on
    (True, True): N_("{name} (supervisor) turned their microphone and camera on."),
    (True, False): N_("{name} (supervisor) turned their microphone on."),
    (False, True): N_("{name} (supervisor) turned their camera on."),
    (False, False): N_("{name} (supervisor) is observing with camera and microphone off."),
}


async def _announce(
    conn: Connection, others: list[Participant], me: Participant, words: str
) -> None:
    for other in others:
        with i18n.using(other.lang):
            text = i18n.gettext(words).format(name=me.name)
        await conn.hub.send(other, Notice(code="observer", message=text, participant=me.id))


async def _check_agreement(conn: Connection, client_id: str) -> None:
    """The plan must record the young person's agreement, and a parent's or carer's
    when the young person is under 16."""
    gatekeeper = conn.app[GATEKEEPER]
    answers = await gatekeeper.plan_answers(client_id)

    def agreed(item: str) -> bool:
        return answers.get(item, {}).get("answer") == "yes"

    assert conn.user is not None
    client = await conn.app[CLIENTS].get(conn.user, client_id)
    age = client.age(gatekeeper.today())
    if not agreed("plan.observation_young_person") or (
        (age is None or age < CONSENT_AGE) and not agreed("plan.observation_parent")
    ):
        raise Forbidden(
            "The plan does not record that the young person (and, under 16, a parent "
            "or carer) agreed to an observer."
        )


HANDLERS: Handlers = {Observe: observe, ObserverMedia: observer_media}
