"""The envelope every frame travels in: {"v", "type", "id", "data"}."""

from __future__ import annotations

PROTOCOL_VERSION = 1
# A frame (its UTF-8 encoding) is at most 64 KiB.
MAX_FRAME_BYTES = 64 * 1024
REQUEST_ID_MAX_LENGTH = 64


def is_valid_request_id(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= REQUEST_ID_MAX_LENGTH


def envelope(
    message_type: str, request_id: str | None, data: dict[str, object]
) -> dict[str, object]:
    return {"v": PROTOCOL_VERSION, "type": message_type, "id": request_id, "data": data}
