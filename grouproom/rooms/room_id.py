"""Room ids: the last part of a room link (/r/<room id>)."""

from __future__ import annotations

import re

ROOM_ID_MAX_LENGTH = 64
ROOM_ID_PATTERN = re.compile(rf"[a-z0-9-]{{1,{ROOM_ID_MAX_LENGTH}}}")


def is_valid_room_id(value: str) -> bool:
    """1 to 64 characters of a-z, 0-9 and '-'."""
    return ROOM_ID_PATTERN.fullmatch(value) is not None
