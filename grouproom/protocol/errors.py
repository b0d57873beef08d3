"""Error codes and the exception that carries one back to the client."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    BAD_ENVELOPE = "bad_envelope"
    UNSUPPORTED_VERSION = "unsupported_version"
    TOO_LARGE = "too_large"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_DATA = "invalid_data"
    NOT_JOINED = "not_joined"
    ALREADY_JOINED = "already_joined"
    ROOM_FULL = "room_full"
    INVALID_STATE = "invalid_state"
    BAD_SDP = "bad_sdp"
    BAD_CANDIDATE = "bad_candidate"
    INTERNAL_ERROR = "internal_error"
    # Therapy sessions.
    LOGIN_REQUIRED = "login_required"  # a therapist's request without a valid login
    INVITE_INVALID = "invite_invalid"  # malformed, forged, revoked, or not on the roster
    INVITE_EXPIRED = "invite_expired"
    SESSION_NOT_OPEN = "session_not_open"  # no therapist has opened a session yet
    SESSION_ENDED = "session_ended"
    RULES_NOT_ACCEPTED = "rules_not_accepted"
    LOCKED = "locked"
    REMOVED = "removed"
    NOT_ALLOWED = "not_allowed"  # the role does not have this right
    NOT_NOW = "not_now"  # not in this phase or state
    NOT_PRESENT = "not_present"
    NOT_WAITING = "not_waiting"
    TARGET_IS_THERAPIST = "target_is_therapist"
    NOT_YOUR_TURN = "not_your_turn"
    CHAT_OFF = "chat_off"
    IN_USE = "in_use"  # the invite link is in use on another device
    # Limits.
    RATE_LIMITED = "rate_limited"  # too many messages per second on this socket
    TOO_MANY_CONNECTIONS = "too_many_connections"  # from this address


class ProtocolError(Exception):
    """A request that gets an `error` reply instead of its own reply."""

    def __init__(self, code: ErrorCode, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id

    def with_request_id(self, request_id: str | None) -> ProtocolError:
        return ProtocolError(self.code, self.message, request_id)
