"""The messages the server sends: replies (echoing a request id) and events (id null)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Literal

from grouproom.protocol.errors import ErrorCode
from grouproom.rooms.leave_cause import LeaveCause

MediaKind = Literal["audio", "video"]


class ClosingCause(StrEnum):
    REPLACED = "replaced"  # the participant connected again on another socket
    SHUTDOWN = "shutdown"  # the server is stopping
    IDLE = "idle"  # the socket was silent for too long
    CONNECTION_LOST = "connection_lost"  # the participant's media connection failed
    LOGGED_OUT = "logged_out"  # the therapist's login ended (elsewhere, or its time is over)


@dataclass(frozen=True, slots=True)
class ParticipantInfo:
    id: str
    name: str
    audio_muted: bool
    video_muted: bool
    connection: str = "good"  # how well their line carries the room (ConnectionQuality)
    connection_direction: str = ""  # the way it is weak in; "" when good

    def data(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "audio_muted": self.audio_muted,
            "video_muted": self.video_muted,
            "connection": self.connection,
            "connection_direction": self.connection_direction or None,
        }


@dataclass(frozen=True, slots=True)
class IceServer:
    """An RTCIceServer for the browser's peer connection."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def data(self) -> dict[str, object]:
        result: dict[str, object] = {"urls": list(self.urls)}
        if self.username is not None:
            result["username"] = self.username
        if self.credential is not None:
            result["credential"] = self.credential
        return result


@dataclass(frozen=True, slots=True)
class VideoCaps:
    max_width: int
    max_height: int
    max_framerate: int
    max_bitrate: int

    def data(self) -> dict[str, object]:
        return {
            "max_width": self.max_width,
            "max_height": self.max_height,
            "max_framerate": self.max_framerate,
            "max_bitrate": self.max_bitrate,
        }


# -- replies ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Joined:
    TYPE: ClassVar[str] = "joined"
    request_id: str
    participant_id: str
    room_id: str
    participants: tuple[ParticipantInfo, ...]
    receive_slots: int
    ice_servers: tuple[IceServer, ...]
    video: VideoCaps
    # Sent back as `replaces` when this browser joins again after its connection
    # broke (open rooms have no seat to hold: the old participant is removed).
    rejoin_token: str

    def data(self) -> dict[str, object]:
        return {
            "participant_id": self.participant_id,
            "room": {"id": self.room_id},
            "participants": [p.data() for p in self.participants],
            "receive_slots": self.receive_slots,
            "ice_servers": [s.data() for s in self.ice_servers],
            "video": self.video.data(),
            "rejoin_token": self.rejoin_token,
        }


@dataclass(frozen=True, slots=True)
class Answer:
    TYPE: ClassVar[str] = "answer"
    request_id: str
    sdp: str

    def data(self) -> dict[str, object]:
        return {"sdp": self.sdp}


@dataclass(frozen=True, slots=True)
class Ack:
    TYPE: ClassVar[str] = "ack"
    request_id: str

    def data(self) -> dict[str, object]:
        return {}


@dataclass(frozen=True, slots=True)
class Pong:
    TYPE: ClassVar[str] = "pong"
    request_id: str

    def data(self) -> dict[str, object]:
        return {}


@dataclass(frozen=True, slots=True)
class ErrorMessage:
    """The reply to a request that failed, or (id None) to a frame without a
    usable id."""

    TYPE: ClassVar[str] = "error"
    request_id: str | None
    code: ErrorCode
    message: str

    def data(self) -> dict[str, object]:
        return {"code": str(self.code), "message": self.message}


# -- events (id null) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParticipantJoined:
    TYPE: ClassVar[str] = "participant_joined"
    participant: ParticipantInfo
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {"participant": self.participant.data()}


@dataclass(frozen=True, slots=True)
class ParticipantLeft:
    TYPE: ClassVar[str] = "participant_left"
    participant_id: str
    cause: LeaveCause
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {"participant_id": self.participant_id, "cause": str(self.cause)}


@dataclass(frozen=True, slots=True)
class MediaState:
    TYPE: ClassVar[str] = "media_state"
    participant_id: str
    audio_muted: bool
    video_muted: bool
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {
            "participant_id": self.participant_id,
            "audio_muted": self.audio_muted,
            "video_muted": self.video_muted,
        }


@dataclass(frozen=True, slots=True)
class ConnectionQuality:
    """How well a participant's line carries the room: "good", "weak" or "bad"
    (grouproom/media/connection_quality.py), and the way it is weak in: "up" (what
    she sends), "down" (what she receives) or "both"; null when good. To everyone,
    the participant too."""

    TYPE: ClassVar[str] = "connection_quality"
    participant_id: str
    quality: str
    direction: str = ""
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {
            "participant_id": self.participant_id,
            "quality": self.quality,
            "direction": self.direction or None,
        }


@dataclass(frozen=True, slots=True)
class _TrackEvent:
    """A participant's track and the receive slot (mid) that carries it."""

    participant_id: str
    kind: MediaKind
    mid: str
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {"participant_id": self.participant_id, "kind": self.kind, "mid": self.mid}


@dataclass(frozen=True, slots=True)
class TrackPublished(_TrackEvent):
    TYPE: ClassVar[str] = "track_published"


@dataclass(frozen=True, slots=True)
class TrackRemoved(_TrackEvent):
    TYPE: ClassVar[str] = "track_removed"


@dataclass(frozen=True, slots=True)
class Closing:
    TYPE: ClassVar[str] = "closing"
    cause: ClosingCause
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {"cause": str(self.cause)}


ServerMessage = (
    Joined
    | Answer
    | Ack
    | Pong
    | ErrorMessage
    | ParticipantJoined
    | ParticipantLeft
    | MediaState
    | ConnectionQuality
    | TrackPublished
    | TrackRemoved
    | Closing
)
