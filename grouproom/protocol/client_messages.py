"""The requests a client sends. Each carries the id its reply echoes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from grouproom.protocol.session_requests import SessionRequest

# Characters of a rejoin token (`joined`'s rejoin_token, `join`'s replaces).
REJOIN_TOKEN_LENGTH = 32


@dataclass(frozen=True, slots=True)
class Join:
    TYPE: ClassVar[str] = "join"
    request_id: str
    room: str
    name: str
    audio_muted: bool = False
    video_muted: bool = False
    # The rejoin token of this browser's earlier participation (from `joined`):
    # that participant, whose connection broke, is removed before this one joins.
    replaces: str | None = None


@dataclass(frozen=True, slots=True)
class Offer:
    TYPE: ClassVar[str] = "offer"
    request_id: str
    sdp: str


@dataclass(frozen=True, slots=True)
class IceCandidate:
    TYPE: ClassVar[str] = "ice_candidate"
    request_id: str
    # An "candidate:..." line; None means the end of candidates.
    candidate: str | None
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None


@dataclass(frozen=True, slots=True)
class SetMediaState:
    TYPE: ClassVar[str] = "set_media_state"
    request_id: str
    audio_muted: bool
    video_muted: bool


@dataclass(frozen=True, slots=True)
class SetVisibleVideo:
    """The participants whose video this client shows now (a tile in view on a page
    that is not hidden); the server forwards no one else's video to it."""

    TYPE: ClassVar[str] = "set_visible_video"
    request_id: str
    participants: frozenset[str]


@dataclass(frozen=True, slots=True)
class Leave:
    TYPE: ClassVar[str] = "leave"
    request_id: str


@dataclass(frozen=True, slots=True)
class Ping:
    TYPE: ClassVar[str] = "ping"
    request_id: str


RoomRequest = Join | Offer | IceCandidate | SetMediaState | SetVisibleVideo | Leave | Ping


# Every request: the open rooms' and the therapy sessions'.
ClientMessage = RoomRequest | SessionRequest
