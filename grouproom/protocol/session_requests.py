"""Requests of a therapy session (docs/protocol.md, "Therapy sessions").

A member or observer identifies with their invite token; a therapist with the
login cookie of the WebSocket and the group's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Credentials:
    invite: str | None  # a member's or observer's invite token
    group: str | None  # a therapist's group (with the login cookie)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What the way in shows: who you are here, the group, its ground rules."""

    TYPE: ClassVar[str] = "session_info"
    request_id: str
    credentials: Credentials


@dataclass(frozen=True, slots=True)
class Enter:
    """Go in: to the waiting room, or straight to a seat."""

    TYPE: ClassVar[str] = "enter"
    request_id: str
    credentials: Credentials
    accept_rules: int | None  # the version of the ground rules the member agreed to
    audio_muted: bool = False
    video_muted: bool = False
    # A random key the browser keeps for this link: the same device may take its
    # seat back; another device is refused while the seat is taken or held.
    device: str = ""


class ModerationAction(StrEnum):
    ADMIT = "admit"
    MUTE = "mute"
    ALLOW_SPEAK = "allow_speak"
    STOP_VIDEO = "stop_video"
    ALLOW_VIDEO = "allow_video"
    REMOVE = "remove"
    MUTE_ALL = "mute_all"
    UNMUTE_ALL = "unmute_all"
    LOCK = "lock"
    UNLOCK = "unlock"
    END = "end"
    ADVANCE_PHASE = "advance_phase"
    NEXT_SPEAKER = "next_speaker"
    ACKNOWLEDGE_SIGNAL = "acknowledge_signal"


# The actions that name the person they act on.
TARGETED_ACTIONS = frozenset(
    {
        ModerationAction.ADMIT,
        ModerationAction.MUTE,
        ModerationAction.ALLOW_SPEAK,
        ModerationAction.STOP_VIDEO,
        ModerationAction.ALLOW_VIDEO,
        ModerationAction.REMOVE,
        ModerationAction.ACKNOWLEDGE_SIGNAL,
    }
)


@dataclass(frozen=True, slots=True)
class Moderate:
    TYPE: ClassVar[str] = "moderate"
    request_id: str
    action: ModerationAction
    target: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RaiseHand:
    TYPE: ClassVar[str] = "raise_hand"
    request_id: str
    raised: bool


@dataclass(frozen=True, slots=True)
class Turn:
    """The current speaker of a round: done speaking, or passing."""

    TYPE: ClassVar[str] = "turn"
    request_id: str
    passed: bool


@dataclass(frozen=True, slots=True)
class Chat:
    TYPE: ClassVar[str] = "chat"
    request_id: str
    channel: str  # "group" or "therapists"
    text: str


@dataclass(frozen=True, slots=True)
class Signal:
    TYPE: ClassVar[str] = "signal"
    request_id: str
    kind: str  # "need_a_moment" or "need_help"


SessionRequest = SessionInfo | Enter | Moderate | RaiseHand | Turn | Chat | Signal
