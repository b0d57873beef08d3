"""A participant: one person present in one room."""

from __future__ import annotations

import secrets
from dataclasses import dataclass


def new_participant_id() -> str:
    """A random, unguessable participant id (128 bits, URL-safe)."""
    return secrets.token_urlsafe(16)


@dataclass(slots=True)
class Participant:
    id: str
    display_name: str
    audio_muted: bool = False
    video_muted: bool = False
    # How well their line carries the room, as the media plane judged it last, and
    # the way it is weak in ("up", "down", "both"; "" when good).
    connection: str = "good"
    connection_direction: str = ""

    def set_media_state(self, audio_muted: bool, video_muted: bool) -> None:
        self.audio_muted = audio_muted
        self.video_muted = video_muted
