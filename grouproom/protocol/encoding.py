"""Server messages to JSON text frames."""

from __future__ import annotations

import json

from grouproom.protocol.envelope import envelope
from grouproom.protocol.server_messages import ServerMessage
from grouproom.protocol.session_messages import SessionServerMessage

# Everything the server sends: the open rooms' messages and the sessions'.
AnyServerMessage = ServerMessage | SessionServerMessage


def encode(message: AnyServerMessage) -> str:
    """The JSON text frame for `message` (ASCII only: every character escaped)."""
    return json.dumps(
        envelope(message.TYPE, message.request_id, message.data()),
        separators=(",", ":"),
    )
