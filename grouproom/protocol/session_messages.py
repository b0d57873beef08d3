"""What the server sends in a therapy session (docs/protocol.md, "Therapy sessions").

Times are Unix milliseconds; `session_state` carries the server's clock so that a
browser with a wrong clock still shows the right time left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from grouproom.protocol.server_messages import IceServer, VideoCaps


@dataclass(frozen=True, slots=True)
class PersonInfo:
    id: str
    name: str
    role: str

    def data(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "role": self.role}


@dataclass(frozen=True, slots=True)
class SessionParticipantInfo:
    """A participant as the grid of a session shows them."""

    id: str
    name: str
    role: str
    audio_muted: bool  # by themselves
    video_muted: bool
    audio_forwarded: bool  # what the therapists and the round allow
    video_forwarded: bool
    hand_raised: bool
    reconnecting: bool = False  # the connection broke; the seat is held
    connection: str = "good"  # how well their line carries the room (ConnectionQuality)
    connection_direction: str = ""  # the way it is weak in; "" when good

    def data(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "audio_muted": self.audio_muted,
            "video_muted": self.video_muted,
            "audio_forwarded": self.audio_forwarded,
            "video_forwarded": self.video_forwarded,
            "hand_raised": self.hand_raised,
            "reconnecting": self.reconnecting,
            "connection": self.connection,
            "connection_direction": self.connection_direction or None,
        }


@dataclass(frozen=True, slots=True)
class PhaseInfo:
    index: int
    name: str
    kind: str
    minutes: int
    started_at: int

    def data(self) -> dict[str, object]:
        return {
            "index": self.index,
            "name": self.name,
            "kind": self.kind,
            "minutes": self.minutes,
            "started_at": self.started_at,
        }


@dataclass(frozen=True, slots=True)
class RoundInfo:
    order: tuple[str, ...]
    current: str | None
    passed: tuple[str, ...]

    def data(self) -> dict[str, object]:
        return {"order": list(self.order), "current": self.current, "passed": list(self.passed)}


@dataclass(frozen=True, slots=True)
class SessionStateInfo:
    plan: tuple[tuple[str, str, int], ...]  # (name, kind, minutes)
    phase: PhaseInfo | None
    round: RoundInfo | None
    locked: bool
    everyone_muted: bool
    chat_enabled: bool
    server_time: int

    def data(self) -> dict[str, object]:
        return {
            "plan": [{"name": n, "kind": k, "minutes": m} for n, k, m in self.plan],
            "phase": None if self.phase is None else self.phase.data(),
            "round": None if self.round is None else self.round.data(),
            "locked": self.locked,
            "everyone_muted": self.everyone_muted,
            "chat_enabled": self.chat_enabled,
            "server_time": self.server_time,
        }


@dataclass(frozen=True, slots=True)
class SeatInfo:
    """Everything a browser needs once it has a seat: the person themself (what the
    therapists and the round allow them, their hand), the others, the media set-up
    and the session's state (and, for therapists, the waiting room)."""

    participant_id: str
    you: SessionParticipantInfo
    participants: tuple[SessionParticipantInfo, ...]
    receive_slots: int
    ice_servers: tuple[IceServer, ...]
    video: VideoCaps
    state: SessionStateInfo
    waiting: tuple[PersonInfo, ...] | None
    # The open signals: every one for a therapist, her own for a member.
    signals: tuple[SignalReceived, ...] = ()
    # A member back after a broken connection: a therapist saw her signal meanwhile.
    signal_seen: bool = False
    reconnect_grace: int = 60  # seconds a broken connection keeps its seat
    # The chat kept in memory that this person may see (TherapySession.chat_for).
    chat: tuple[ChatMessage, ...] = ()

    def data(self) -> dict[str, object]:
        result: dict[str, object] = {
            "participant_id": self.participant_id,
            "you": self.you.data(),
            "reconnect_grace": self.reconnect_grace,
            "participants": [p.data() for p in self.participants],
            "receive_slots": self.receive_slots,
            "ice_servers": [s.data() for s in self.ice_servers],
            "video": self.video.data(),
            "state": self.state.data(),
            "signals": [s.data() for s in self.signals],
            "signal_seen": self.signal_seen,
            "chat": [m.data() for m in self.chat],
        }
        if self.waiting is not None:
            result["waiting"] = [p.data() for p in self.waiting]
        return result


# -- replies -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionInfoReply:
    TYPE: ClassVar[str] = "session_details"
    request_id: str
    you: PersonInfo
    group_name: str
    language: str
    rules_version: int
    rules_text: str
    chat_enabled: bool
    accepted_before: bool
    session_open: bool
    # No session is open, and the group's latest one closed within the last 3 hours:
    # the page says it has ended rather than waiting for it to start.
    recently_ended: bool = False
    # When the group meets, as its lead wrote it; "" when not given.
    schedule: str = ""

    def data(self) -> dict[str, object]:
        return {
            "you": self.you.data(),
            "group": {
                "name": self.group_name,
                "language": self.language,
                "schedule": self.schedule,
            },
            "rules": {
                "version": self.rules_version,
                "text": self.rules_text,
                "chat_enabled": self.chat_enabled,
            },
            "accepted_before": self.accepted_before,
            "session_open": self.session_open,
            "recently_ended": self.recently_ended,
        }


@dataclass(frozen=True, slots=True)
class Entered:
    TYPE: ClassVar[str] = "entered"
    request_id: str
    seat: SeatInfo | None  # None: in the waiting room

    def data(self) -> dict[str, object]:
        if self.seat is None:
            return {"state": "waiting"}
        return {"state": "seated", "seat": self.seat.data()}


# -- events --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Admitted:
    TYPE: ClassVar[str] = "admitted"
    seat: SeatInfo
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {"seat": self.seat.data()}


@dataclass(frozen=True, slots=True)
class SessionParticipantJoined:
    TYPE: ClassVar[str] = "participant_joined"
    participant: SessionParticipantInfo
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {"participant": self.participant.data()}


@dataclass(frozen=True, slots=True)
class SessionState:
    TYPE: ClassVar[str] = "session_state"
    state: SessionStateInfo
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return self.state.data()


@dataclass(frozen=True, slots=True)
class WaitingRoom:
    TYPE: ClassVar[str] = "waiting_room"
    people: tuple[PersonInfo, ...]
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {"people": [p.data() for p in self.people]}


@dataclass(frozen=True, slots=True)
class Permissions:
    TYPE: ClassVar[str] = "permissions"
    participant_id: str
    audio_forwarded: bool
    video_forwarded: bool
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {
            "participant_id": self.participant_id,
            "audio_forwarded": self.audio_forwarded,
            "video_forwarded": self.video_forwarded,
        }


@dataclass(frozen=True, slots=True)
class Hand:
    TYPE: ClassVar[str] = "hand"
    participant_id: str
    raised: bool
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {"participant_id": self.participant_id, "raised": self.raised}


@dataclass(frozen=True, slots=True)
class ChatMessage:
    TYPE: ClassVar[str] = "chat_message"
    channel: str
    sender_id: str
    sender_name: str
    text: str
    at: int
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {
            "channel": self.channel,
            "sender_id": self.sender_id,
            "sender_name": self.sender_name,
            "text": self.text,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class SignalReceived:
    """A member's signal (also, in a seat, one that is still open)."""

    TYPE: ClassVar[str] = "signal_received"
    participant_id: str
    name: str
    kind: str
    at: int
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {
            "participant_id": self.participant_id,
            "name": self.name,
            "kind": self.kind,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class SignalAcknowledged:
    """A therapist (`by`) saw the member's open signal: to the therapists and to
    the member."""

    TYPE: ClassVar[str] = "signal_acknowledged"
    participant_id: str
    by: str
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {"participant_id": self.participant_id, "by": self.by}


@dataclass(frozen=True, slots=True)
class Dismissed:
    """Sent to a connection that lost its place, just before the socket closes."""

    TYPE: ClassVar[str] = "dismissed"
    cause: str
    reason: str
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {"cause": self.cause, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ParticipantReconnecting:
    """Someone's connection broke; their seat is held until `until` (Unix ms)."""

    TYPE: ClassVar[str] = "participant_reconnecting"
    participant_id: str
    until: int
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {"participant_id": self.participant_id, "until": self.until}


@dataclass(frozen=True, slots=True)
class ParticipantReconnected:
    TYPE: ClassVar[str] = "participant_reconnected"
    participant_id: str
    request_id: ClassVar[None] = None

    def data(self) -> dict[str, object]:
        return {"participant_id": self.participant_id}


SessionServerMessage = (
    SessionInfoReply
    | Entered
    | Admitted
    | SessionParticipantJoined
    | SessionState
    | WaitingRoom
    | Permissions
    | Hand
    | ChatMessage
    | SignalReceived
    | SignalAcknowledged
    | Dismissed
    | ParticipantReconnecting
    | ParticipantReconnected
)
