"""Room and participant state, without any socket."""

from __future__ import annotations

import pytest

from server.exceptions import Forbidden, IllegalTransition, LinkInUse, NotLetBack, PlayroomError
from server.live.rooms import MAX_PARTICIPANTS, Participant, Role, Room, State


def _room() -> tuple[Room, Participant]:
    room = Room("ab" * 16)
    return room, room.add(Role.THERAPIST, "Therapist")


@pytest.mark.hazard("HZ-02", "HZ-09")
def test_joiners_wait_until_the_therapist_admits_them() -> None:
    room, therapist = _room()
    young = room.add(Role.YOUNG_PERSON, "Young person", link_id="l1")
    assert young.state is State.WAITING and room.waiting() == [young]
    with pytest.raises(Forbidden):
        room.admit(young, young.id)
    room.admit(therapist, young.id)
    assert young.in_room and room.waiting() == []
    assert [(old.value, new.value) for old, new, _ in young.history] == [
        ("joining", "waiting"),
        ("waiting", "admitted"),
    ]


def test_a_parent_steps_out_and_back() -> None:
    room, therapist = _room()
    parent = room.add(Role.PARENT, "Parent", link_id="l2")
    room.admit(therapist, parent.id)
    room.send_to_waiting(therapist, parent.id)
    assert parent.state is State.WAITING
    room.admit(therapist, parent.id)
    assert parent.in_room


def test_illegal_moves_raise() -> None:
    room, therapist = _room()
    young = room.add(Role.YOUNG_PERSON, "Young person")
    young.set_state(State.LEFT, "gone")
    with pytest.raises(IllegalTransition):
        young.set_state(State.ADMITTED, "back from nowhere")
    with pytest.raises(PlayroomError, match="not here"):
        room.admit(therapist, young.id)


@pytest.mark.hazard("HZ-02", "HZ-09")
def test_one_device_per_link() -> None:
    room, _ = _room()
    first = room.add(Role.YOUNG_PERSON, "Young person", link_id="same")
    with pytest.raises(LinkInUse):
        room.add(Role.YOUNG_PERSON, "Young person", link_id="same")
    room.leave(first, "closed the page")
    room.add(Role.YOUNG_PERSON, "Young person", link_id="same")  # free again once left


def test_a_locked_or_full_room_admits_nobody() -> None:
    room, therapist = _room()
    room.set_locked(therapist, True)
    waiting = room.add(Role.PARENT, "Parent")
    with pytest.raises(PlayroomError, match="locked"):
        room.admit(therapist, waiting.id)
    room.set_locked(therapist, False)
    room.admit(therapist, waiting.id)
    for n in range(MAX_PARTICIPANTS - 2):
        room.admit(therapist, room.add(Role.PARENT, f"P{n}").id)
    assert len(room.present()) == MAX_PARTICIPANTS
    extra = room.add(Role.PARENT, "One too many")
    with pytest.raises(PlayroomError, match="at most 6"):
        room.admit(therapist, extra.id)


def test_only_the_therapist_ends_and_ending_leaves_everyone() -> None:
    room, therapist = _room()
    young = room.add(Role.YOUNG_PERSON, "Young person")
    with pytest.raises(Forbidden):
        room.end(young)
    gone = room.end(therapist)
    assert {p.id for p in gone} == {therapist.id, young.id}
    assert all(p.state is State.LEFT for p in gone)
    with pytest.raises(PlayroomError, match="ended"):
        room.add(Role.YOUNG_PERSON, "Late")


def test_three_signals_feed_one_state() -> None:
    room = Room("s1")
    therapist = room.add(Role.THERAPIST, "Ren")
    young = room.add(Role.YOUNG_PERSON, "Young person", "link-1")
    room.admit(therapist, young.id)
    assert room.media_connected(young, "media connected")
    assert young.state is State.CONNECTED
    # the control channel goes quiet, then the browser says the server link failed
    assert room.interrupt(young, "control", "no heartbeat")
    assert young.state is State.INTERRUPTED
    assert room.interrupt(young, "link", "server link failed")  # news, but no second move
    assert not room.interrupt(young, "link", "server link failed")
    assert not room.lose(young, "grace over")  # only a dropped socket can lose someone
    assert not room.recover(young, "control", "heard again")  # the link is still down
    young.links["server"] = "connected"
    assert room.recover(young, "link", "server link connected")
    assert young.state is State.CONNECTED
    causes = [cause for _, _, cause in young.history]
    assert causes[-3:] == [
        "server link failed",
        "server link connected",
        "their connections are up",
    ]
    # a dropped socket while interrupted still starts the grace window, and can lose them
    assert room.interrupt(young, "control", "no heartbeat")
    assert room.interrupt(young, "socket", "connection dropped")
    assert room.lose(young, "not back in time")
    assert young.state is State.LOST


def test_someone_waiting_is_only_interrupted_by_their_socket() -> None:
    room = Room("s1")
    room.add(Role.THERAPIST, "Ren")
    young = room.add(Role.YOUNG_PERSON, "Young person", "link-1")
    assert not room.interrupt(young, "control", "no heartbeat")
    assert room.interrupt(young, "socket", "connection dropped")
    room.resume(young)
    assert young.state is State.WAITING and not young.interruptions


@pytest.mark.hazard("HZ-02")
def test_removed_or_declined_links_stay_out_until_let_back() -> None:
    room, therapist = _room()
    young = room.add(Role.YOUNG_PERSON, "Young person", link_id="young")
    room.admit(therapist, young.id)
    parent = room.add(Role.PARENT, "Parent or carer", link_id="parent")
    with pytest.raises(Forbidden):
        room.remove(young, parent.id, "a young person removing")
    with pytest.raises(Forbidden):
        room.decline(young, parent.id)
    room.remove(therapist, young.id, "removed by the therapist")
    with pytest.raises(PlayroomError, match="not waiting"):
        room.decline(therapist, therapist.id)
    room.decline(therapist, parent.id)
    assert young.state is State.LEFT and parent.state is State.LEFT
    assert {(o.link, o.role, o.how) for o in room.out.values()} == {
        ("young", Role.YOUNG_PERSON, "removed"),
        ("parent", Role.PARENT, "declined"),
    }
    for link in ("young", "parent"):  # gone is not enough: the same link stays out
        with pytest.raises(NotLetBack) as refused:
            room.add(Role.YOUNG_PERSON, "Young person", link_id=link)
        assert refused.value.code == "not_let_back"
        assert str(refused.value) == (
            "Your therapist has asked you to leave this session. They will be in touch."
        )

    with pytest.raises(Forbidden):
        room.let_back(parent, "young")
    assert room.let_back(therapist, "young").how == "removed"
    with pytest.raises(PlayroomError, match="not out"):
        room.let_back(therapist, "young")  # once
    again = room.add(Role.YOUNG_PERSON, "Young person", link_id="young")
    assert again.state is State.WAITING  # back through the waiting room, as anyone
    assert list(room.out) == ["parent"]
    observer = room.add_observer("Supervisor", "s1")
    room.remove(therapist, observer.id, "removed by the therapist")
    assert list(room.out) == ["parent"]  # an observer has no link to put out
