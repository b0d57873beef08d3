"""Admission: the single place where "may this person enter the room" is decided.

Today anyone who has the room link may join while the room has a free place.
The therapy-groups milestone adds invite tokens and roles here (JoinRequest
grows an invite token; decide_join checks it and gives the participant a role).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from grouproom.rooms.participant import Participant, new_participant_id
from grouproom.rooms.room import Room


class Refusal(StrEnum):
    ROOM_FULL = "room_full"


@dataclass(frozen=True, slots=True)
class JoinRequest:
    display_name: str
    audio_muted: bool = False
    video_muted: bool = False


@dataclass(frozen=True, slots=True)
class Admitted:
    participant: Participant


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Refusal


Admission = Admitted | Refused


def decide_join(room: Room, request: JoinRequest) -> Admission:
    """Decide whether the requester may enter `room`. Admitting does not seat
    the participant: the caller adds `Admitted.participant` to the room."""
    if room.is_full:
        return Refused(Refusal.ROOM_FULL)
    return Admitted(
        Participant(
            id=new_participant_id(),
            display_name=request.display_name,
            audio_muted=request.audio_muted,
            video_muted=request.video_muted,
        )
    )
