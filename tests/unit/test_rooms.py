"""Rooms, participants, admission and the registry: the domain without I/O."""

from __future__ import annotations

import secrets

import pytest

from grouproom.rooms.admission import Admitted, JoinRequest, Refusal, Refused, decide_join
from grouproom.rooms.leave_cause import LeaveCause
from grouproom.rooms.participant import Participant, new_participant_id
from grouproom.rooms.registry import RoomRegistry
from grouproom.rooms.room import Room, RoomFullError
from grouproom.rooms.room_id import is_valid_room_id
from grouproom.store import store as store_module


def admit(room: Room, name: str, **state: bool) -> Participant:
    admission = decide_join(room, JoinRequest(display_name=name, **state))
    assert isinstance(admission, Admitted)
    room.add(admission.participant)
    return admission.participant


# -- room ids ------------------------------------------------------------------------


@pytest.mark.parametrize("room_id", ["demo", "a", "group-7", "0", "x" * 64, "-"])
def test_valid_room_ids(room_id: str) -> None:
    assert is_valid_room_id(room_id)


@pytest.mark.parametrize(
    "room_id", ["", "x" * 65, "Demo", "a_b", "a b", "a/b", "demo\n", "caf\u00e9", "..", "\u217eemo"]
)
def test_invalid_room_ids(room_id: str) -> None:
    assert not is_valid_room_id(room_id)


def test_a_room_refuses_an_invalid_id() -> None:
    with pytest.raises(ValueError, match="invalid room id"):
        Room("Not Valid", capacity=3)


# -- participants ----------------------------------------------------------------------


def test_participant_ids_are_random_and_url_safe() -> None:
    ids = {new_participant_id() for _ in range(1000)}
    assert len(ids) == 1000
    for participant_id in ids:
        assert len(participant_id) >= 22  # 128 bits in base64
        assert all(c.isalnum() or c in "-_" for c in participant_id)


def test_admitted_participants_carry_the_requested_state() -> None:
    room = Room("demo", capacity=3)
    anna = admit(room, "Anna", audio_muted=True)
    assert (anna.display_name, anna.audio_muted, anna.video_muted) == ("Anna", True, False)
    anna.set_media_state(audio_muted=False, video_muted=True)
    assert (anna.audio_muted, anna.video_muted) == (False, True)


# -- room --------------------------------------------------------------------------------


def test_participants_are_kept_in_join_order() -> None:
    room = Room("demo", capacity=4)
    names = ["Anna", "Bram", "Cor", "Dirk"]
    people = [admit(room, name) for name in names]
    assert [p.display_name for p in room.participants] == names
    room.leave(people[1].id, LeaveCause.LEFT)
    later = admit(room, "Eva")
    assert [p.display_name for p in room.participants] == ["Anna", "Cor", "Dirk", "Eva"]
    assert room.others(later.id) == (people[0], people[2], people[3])


def test_a_full_room_refuses_more_participants() -> None:
    room = Room("demo", capacity=2)
    admit(room, "Anna")
    admit(room, "Bram")
    assert room.is_full
    assert decide_join(room, JoinRequest("Cor")) == Refused(Refusal.ROOM_FULL)
    with pytest.raises(RoomFullError):
        room.add(Participant(new_participant_id(), "Cor"))
    assert len(room.participants) == 2


def test_a_place_freed_by_leaving_can_be_taken() -> None:
    room = Room("demo", capacity=2)
    anna = admit(room, "Anna")
    admit(room, "Bram")
    room.leave(anna.id, LeaveCause.CONNECTION_LOST)
    assert not room.is_full
    assert isinstance(decide_join(room, JoinRequest("Cor")), Admitted)


def test_the_same_participant_cannot_be_added_twice() -> None:
    room = Room("demo", capacity=3)
    anna = admit(room, "Anna")
    with pytest.raises(ValueError, match="already"):
        room.add(anna)


@pytest.mark.parametrize("cause", list(LeaveCause))
def test_leaving_reports_the_cause(cause: LeaveCause) -> None:
    room = Room("demo", capacity=3)
    anna = admit(room, "Anna")
    departure = room.leave(anna.id, cause)
    assert departure is not None
    assert departure.participant is anna
    assert departure.cause is cause
    assert room.get(anna.id) is None
    assert room.is_empty


def test_leaving_twice_reports_nothing_the_second_time() -> None:
    room = Room("demo", capacity=3)
    anna = admit(room, "Anna")
    assert room.leave(anna.id, LeaveCause.LEFT) is not None
    assert room.leave(anna.id, LeaveCause.CONNECTION_LOST) is None
    assert room.leave("nobody", LeaveCause.LEFT) is None


def test_leave_causes_are_the_documented_strings() -> None:
    assert {str(c) for c in LeaveCause} == {
        "left",
        "connection_lost",
        "removed",
        "session_ended",
        "replaced",
    }


def test_admission_does_not_seat_the_participant() -> None:
    room = Room("demo", capacity=2)
    admission = decide_join(room, JoinRequest("Anna"))
    assert isinstance(admission, Admitted)
    assert room.is_empty


def test_each_admission_gets_a_new_id() -> None:
    room = Room("demo", capacity=3)
    assert admit(room, "Anna").id != admit(room, "Anna").id


# -- registry ------------------------------------------------------------------------


def test_registry_creates_rooms_on_demand_with_its_capacity() -> None:
    registry = RoomRegistry(capacity=5)
    assert registry.get("demo") is None
    room = registry.get_or_create("demo")
    assert room.capacity == 5
    assert registry.get_or_create("demo") is room
    assert registry.get("demo") is room
    assert len(registry) == 1


def test_registry_refuses_invalid_room_ids() -> None:
    registry = RoomRegistry(capacity=5)
    with pytest.raises(ValueError):
        registry.get_or_create("../etc")
    assert len(registry) == 0


def test_registry_drops_a_room_only_when_it_is_empty() -> None:
    registry = RoomRegistry(capacity=5)
    room = registry.get_or_create("demo")
    anna = admit(room, "Anna")
    assert not registry.drop_if_empty(room)
    assert registry.get("demo") is room
    room.leave(anna.id, LeaveCause.LEFT)
    assert registry.drop_if_empty(room)
    assert registry.get("demo") is None
    assert list(registry) == []


def test_a_dropped_room_is_replaced_by_a_fresh_one() -> None:
    registry = RoomRegistry(capacity=5)
    old = registry.get_or_create("demo")
    registry.drop_if_empty(old)
    new = registry.get_or_create("demo")
    assert new is not old
    # Dropping the stale room object again must not remove the new room.
    assert not registry.drop_if_empty(old)
    assert registry.get("demo") is new


def test_a_stored_id_never_begins_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    """A command line would take such an id for an option (`grouproom member
    export -AbC...`); token_urlsafe gives one in 64 ids."""
    drawn = iter(["-dashed", "--twice", "plain_id"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: next(drawn))
    assert store_module.new_id() == "plain_id"
