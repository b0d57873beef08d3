"""Client frames to typed requests, checked against docs/protocol.md."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping

from grouproom.protocol.client_messages import (
    REJOIN_TOKEN_LENGTH,
    ClientMessage,
    IceCandidate,
    Join,
    Leave,
    Offer,
    Ping,
    SetMediaState,
    SetVisibleVideo,
)
from grouproom.protocol.display_name import DisplayNameError, normalize_display_name
from grouproom.protocol.envelope import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    REQUEST_ID_MAX_LENGTH,
    is_valid_request_id,
)
from grouproom.protocol.errors import ErrorCode, ProtocolError
from grouproom.protocol.fields import Fields
from grouproom.protocol.session_requests import (
    TARGETED_ACTIONS,
    Chat,
    Credentials,
    Enter,
    Moderate,
    ModerationAction,
    RaiseHand,
    SessionInfo,
    Signal,
    Turn,
)
from grouproom.rooms.room_id import ROOM_ID_MAX_LENGTH, is_valid_room_id

MAX_SDP_LENGTH = 60_000
MAX_CANDIDATE_LENGTH = 1_024
MAX_MID_LENGTH = 64
MAX_MLINE_INDEX = 1_023
# Participant ids in set_visible_video: rooms and sessions hold at most 32 people;
# the limit leaves room for a list sent while someone leaves and another joins.
MAX_VISIBLE_PARTICIPANTS = 64


def _frame_size(raw: str) -> int:
    if len(raw) * 4 <= MAX_FRAME_BYTES:  # no UTF-8 encoding can exceed the limit
        return len(raw)
    return len(raw.encode("utf-8", "surrogatepass"))


def _decode(raw: str | bytes) -> dict[str, object]:
    if isinstance(raw, bytes):
        if len(raw) > MAX_FRAME_BYTES:
            raise ProtocolError(ErrorCode.TOO_LARGE, f"a frame is at most {MAX_FRAME_BYTES} bytes")
        raise ProtocolError(ErrorCode.BAD_JSON, "binary frames are not accepted; send JSON text")
    if _frame_size(raw) > MAX_FRAME_BYTES:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"a frame is at most {MAX_FRAME_BYTES} bytes")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise ProtocolError(ErrorCode.BAD_JSON, "the frame is not valid JSON") from None
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.BAD_JSON, "the frame must be a JSON object")
    return value


def _join(fields: Fields) -> Join:
    room = fields.string("room", min_length=1, max_length=ROOM_ID_MAX_LENGTH)
    if not is_valid_room_id(room):
        raise fields.error("room", "may contain only a-z, 0-9 and '-'")
    raw_name = fields.string("name", min_length=1, max_length=MAX_FRAME_BYTES)
    try:
        name = normalize_display_name(raw_name)
    except DisplayNameError as exc:
        raise fields.error("name", str(exc)) from None
    return Join(
        request_id=fields.request_id,
        room=room,
        name=name,
        audio_muted=fields.optional_boolean("audio_muted", False),
        video_muted=fields.optional_boolean("video_muted", False),
        replaces=fields.optional_string(
            "replaces", min_length=REJOIN_TOKEN_LENGTH, max_length=REJOIN_TOKEN_LENGTH
        ),
    )


def _offer(fields: Fields) -> Offer:
    return Offer(
        request_id=fields.request_id,
        sdp=fields.string("sdp", min_length=1, max_length=MAX_SDP_LENGTH),
    )


def _ice_candidate(fields: Fields) -> IceCandidate:
    if "candidate" not in fields.data:
        raise fields.error("candidate", "is missing (null means the end of candidates)")
    return IceCandidate(
        request_id=fields.request_id,
        candidate=fields.optional_string(
            "candidate", min_length=0, max_length=MAX_CANDIDATE_LENGTH
        ),
        sdp_mid=fields.optional_string("sdp_mid", min_length=0, max_length=MAX_MID_LENGTH),
        sdp_mline_index=fields.optional_integer(
            "sdp_mline_index", minimum=0, maximum=MAX_MLINE_INDEX
        ),
    )


def _set_media_state(fields: Fields) -> SetMediaState:
    return SetMediaState(
        request_id=fields.request_id,
        audio_muted=fields.boolean("audio_muted"),
        video_muted=fields.boolean("video_muted"),
    )


def _set_visible_video(fields: Fields) -> SetVisibleVideo:
    participants = fields.string_list(
        "participants",
        max_items=MAX_VISIBLE_PARTICIPANTS,
        min_length=1,
        max_length=PERSON_ID_MAX_LENGTH,
    )
    return SetVisibleVideo(request_id=fields.request_id, participants=frozenset(participants))


def _leave(fields: Fields) -> Leave:
    return Leave(request_id=fields.request_id)


def _ping(fields: Fields) -> Ping:
    return Ping(request_id=fields.request_id)


INVITE_MAX_LENGTH = 512
GROUP_ID_MAX_LENGTH = 64
PERSON_ID_MAX_LENGTH = 64
REASON_MAX_LENGTH = 300
CHAT_MAX_LENGTH = 2000
RULES_VERSION_MAX = 1_000_000


def _credentials(fields: Fields) -> Credentials:
    invite = fields.optional_string("invite", min_length=1, max_length=INVITE_MAX_LENGTH)
    group = fields.optional_string("group", min_length=1, max_length=GROUP_ID_MAX_LENGTH)
    if (invite is None) == (group is None):
        raise fields.error("invite", "or group must be given (one of them)")
    return Credentials(invite=invite, group=group)


def _session_info(fields: Fields) -> SessionInfo:
    return SessionInfo(request_id=fields.request_id, credentials=_credentials(fields))


def _enter(fields: Fields) -> Enter:
    return Enter(
        request_id=fields.request_id,
        credentials=_credentials(fields),
        accept_rules=fields.optional_integer("accept_rules", minimum=1, maximum=RULES_VERSION_MAX),
        audio_muted=fields.optional_boolean("audio_muted", False),
        video_muted=fields.optional_boolean("video_muted", False),
        device=_device(fields),
    )


DEVICE_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _device(fields: Fields) -> str:
    value = fields.optional_string("device", min_length=16, max_length=64)
    if value is None:
        return ""
    if DEVICE_KEY.fullmatch(value) is None:
        raise fields.error("device", "must be 16 to 64 letters, digits, '-' or '_'")
    return value


def _choice(fields: Fields, name: str, choices: Iterable[str]) -> str:
    value = fields.string(name, min_length=1, max_length=40)
    allowed = sorted(choices)
    if value not in allowed:
        raise fields.error(name, f"must be one of {', '.join(allowed)}")
    return value


def _moderate(fields: Fields) -> Moderate:
    action = ModerationAction(_choice(fields, "action", (str(a) for a in ModerationAction)))
    target = fields.optional_string("target", min_length=1, max_length=PERSON_ID_MAX_LENGTH)
    if action in TARGETED_ACTIONS and target is None:
        raise fields.error("target", f"is needed for {action}")
    reason = fields.optional_string("reason", min_length=0, max_length=REASON_MAX_LENGTH)
    return Moderate(request_id=fields.request_id, action=action, target=target, reason=reason or "")


def _raise_hand(fields: Fields) -> RaiseHand:
    return RaiseHand(request_id=fields.request_id, raised=fields.boolean("raised"))


def _turn(fields: Fields) -> Turn:
    return Turn(request_id=fields.request_id, passed=fields.boolean("passed"))


def _chat(fields: Fields) -> Chat:
    return Chat(
        request_id=fields.request_id,
        channel=_choice(fields, "channel", ("group", "therapists")),
        text=fields.string("text", min_length=1, max_length=CHAT_MAX_LENGTH),
    )


def _signal(fields: Fields) -> Signal:
    return Signal(
        request_id=fields.request_id,
        kind=_choice(fields, "kind", ("need_a_moment", "need_help")),
    )


PARSERS: Mapping[str, Callable[[Fields], ClientMessage]] = {
    Join.TYPE: _join,
    Offer.TYPE: _offer,
    IceCandidate.TYPE: _ice_candidate,
    SetMediaState.TYPE: _set_media_state,
    SetVisibleVideo.TYPE: _set_visible_video,
    Leave.TYPE: _leave,
    Ping.TYPE: _ping,
    SessionInfo.TYPE: _session_info,
    Enter.TYPE: _enter,
    Moderate.TYPE: _moderate,
    RaiseHand.TYPE: _raise_hand,
    Turn.TYPE: _turn,
    Chat.TYPE: _chat,
    Signal.TYPE: _signal,
}


def _request_id(frame: Mapping[str, object]) -> str | None:
    raw_id = frame.get("id")
    return raw_id if isinstance(raw_id, str) and is_valid_request_id(raw_id) else None


def request_id_of(raw: str | bytes) -> str | None:
    """The usable id of a frame, or None: for the error reply to a frame that is not
    handled (e.g. over the socket's message rate)."""
    try:
        return _request_id(_decode(raw))
    except ProtocolError:
        return None


def parse_client_message(raw: str | bytes) -> ClientMessage:
    """One client frame (text, or bytes for a binary frame) as a typed request.

    Raises ProtocolError with the documented code; its request_id is the frame's
    id whenever the frame has a usable one.
    """
    frame = _decode(raw)
    request_id = _request_id(frame)

    version = frame.get("v")
    if type(version) is not int:
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, "v must be an integer", request_id)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"this server speaks protocol version {PROTOCOL_VERSION}",
            request_id,
        )
    if request_id is None:
        raise ProtocolError(
            ErrorCode.BAD_ENVELOPE,
            f"id must be a string of 1 to {REQUEST_ID_MAX_LENGTH} characters",
        )
    message_type = frame.get("type")
    if type(message_type) is not str:
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, "type must be a string", request_id)
    data = frame.get("data")
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.BAD_ENVELOPE, "data must be an object", request_id)
    parser = PARSERS.get(message_type)
    if parser is None:
        shown = message_type[:40].encode("ascii", "replace").decode()
        raise ProtocolError(
            ErrorCode.UNKNOWN_TYPE, f"there is no request of type {shown!r}", request_id
        )
    return parser(Fields(data, request_id))
