"""A room: a fixed number of places and the participants holding them."""

from __future__ import annotations

from dataclasses import dataclass, field

from grouproom.rooms.leave_cause import LeaveCause
from grouproom.rooms.participant import Participant
from grouproom.rooms.room_id import is_valid_room_id


class RoomFullError(RuntimeError):
    """A participant was added to a room that has no free place."""


@dataclass(frozen=True, slots=True)
class Departure:
    """A participant who left, and why."""

    participant: Participant
    cause: LeaveCause


@dataclass(eq=False)
class Room:
    id: str
    capacity: int
    _participants: dict[str, Participant] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if not is_valid_room_id(self.id):
            raise ValueError(f"invalid room id {self.id!r}")
        if self.capacity < 1:
            raise ValueError("a room needs room for at least one participant")

    @property
    def participants(self) -> tuple[Participant, ...]:
        """Everyone present, in the order they joined."""
        return tuple(self._participants.values())

    @property
    def is_full(self) -> bool:
        return len(self._participants) >= self.capacity

    @property
    def is_empty(self) -> bool:
        return not self._participants

    def get(self, participant_id: str) -> Participant | None:
        return self._participants.get(participant_id)

    def others(self, participant_id: str) -> tuple[Participant, ...]:
        """Everyone present except `participant_id`, in join order."""
        return tuple(p for p in self._participants.values() if p.id != participant_id)

    def add(self, participant: Participant) -> None:
        """Seat an admitted participant (see admission.decide_join)."""
        if participant.id in self._participants:
            raise ValueError("this participant is already in the room")
        if self.is_full:
            raise RoomFullError(f"room holds its maximum of {self.capacity} participants")
        self._participants[participant.id] = participant

    def leave(self, participant_id: str, cause: LeaveCause) -> Departure | None:
        """Remove a participant; None if they were not (or no longer) present."""
        participant = self._participants.pop(participant_id, None)
        if participant is None:
            return None
        return Departure(participant, cause)
