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


class ProtocolError(Exception):
    """A request that gets an `error` reply instead of its own reply."""

    def __init__(self, code: ErrorCode, message: str, request_id: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.request_id = request_id

    def with_request_id(self, request_id: str | None) -> ProtocolError:
        return ProtocolError(self.code, self.message, request_id)
