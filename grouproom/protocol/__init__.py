"""The signalling protocol (docs/protocol.md): typed messages, parsing of client
requests, encoding of server messages. No I/O."""

from grouproom.protocol.client_messages import (
    ClientMessage,
    IceCandidate,
    Join,
    Leave,
    Offer,
    Ping,
    SetMediaState,
    SetVisibleVideo,
)
from grouproom.protocol.encoding import AnyServerMessage, encode
from grouproom.protocol.envelope import MAX_FRAME_BYTES, PROTOCOL_VERSION
from grouproom.protocol.errors import ErrorCode, ProtocolError
from grouproom.protocol.parsing import parse_client_message
from grouproom.protocol.server_messages import (
    Ack,
    Answer,
    Closing,
    ClosingCause,
    ConnectionQuality,
    ErrorMessage,
    IceServer,
    Joined,
    MediaState,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    Pong,
    ServerMessage,
    TrackPublished,
    TrackRemoved,
    VideoCaps,
)

__all__ = [
    "MAX_FRAME_BYTES",
    "PROTOCOL_VERSION",
    "Ack",
    "Answer",
    "AnyServerMessage",
    "ClientMessage",
    "Closing",
    "ClosingCause",
    "ConnectionQuality",
    "ErrorCode",
    "ErrorMessage",
    "IceCandidate",
    "IceServer",
    "Join",
    "Joined",
    "Leave",
    "MediaState",
    "Offer",
    "ParticipantInfo",
    "ParticipantJoined",
    "ParticipantLeft",
    "Ping",
    "Pong",
    "ProtocolError",
    "ServerMessage",
    "SetMediaState",
    "SetVisibleVideo",
    "TrackPublished",
    "TrackRemoved",
    "VideoCaps",
    "encode",
    "parse_client_message",
]
