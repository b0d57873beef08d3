"""Why a participant is no longer in a room."""

from __future__ import annotations

from enum import StrEnum


class LeaveCause(StrEnum):
    LEFT = "left"  # the participant left (the leave request)
    CONNECTION_LOST = "connection_lost"  # the socket or the media connection broke
    REMOVED = "removed"  # a moderator removed the participant
    SESSION_ENDED = "session_ended"  # the session ended for everyone (e.g. shutdown)
    REPLACED = "replaced"  # the same participant connected again elsewhere
