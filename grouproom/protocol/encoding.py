"""Server messages to JSON text frames."""

from __future__ import annotations

import json

from grouproom.protocol.envelope import envelope
from grouproom.protocol.server_messages import ServerMessage


def encode(message: ServerMessage) -> str:
    """The JSON text frame for `message` (ASCII only: every character escaped)."""
    return json.dumps(
        envelope(message.TYPE, message.request_id, message.data()),
        separators=(",", ":"),
    )
