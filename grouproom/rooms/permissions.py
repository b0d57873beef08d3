"""Who may do what, by role and by the phase the session is in.

This is the static half of every decision; TherapySession adds what depends on
the moment (is the target present, is it this member's turn, is the chat on).
"""

from __future__ import annotations

from enum import StrEnum

from grouproom.rooms.roles import Role
from grouproom.rooms.session_plan import PhaseKind


class Action(StrEnum):
    # Moderation (lead therapist and cotherapist).
    ADMIT = "admit"
    MUTE_AUDIO = "mute_audio"  # one member's audio, until a therapist allows it again
    MUTE_ALL = "mute_all"  # everyone except the therapists
    ALLOW_SPEAK = "allow_speak"
    STOP_VIDEO = "stop_video"
    REMOVE = "remove"
    LOCK = "lock"
    END = "end"
    ADVANCE_PHASE = "advance_phase"
    NEXT_SPEAKER = "next_speaker"
    CHAT_THERAPISTS = "chat_therapists"  # the therapists' private channel
    ACKNOWLEDGE_SIGNAL = "acknowledge_signal"  # a member's signal was seen
    # Members.
    RAISE_HAND = "raise_hand"
    PASS_TURN = "pass_turn"
    SIGNAL_THERAPISTS = "signal_therapists"  # "I need a moment" / "I need help"
    # Members and therapists.
    CHAT_GROUP = "chat_group"
    PUBLISH_AUDIO = "publish_audio"
    PUBLISH_VIDEO = "publish_video"


MODERATOR_ACTIONS = frozenset(
    {
        Action.ADMIT,
        Action.MUTE_AUDIO,
        Action.MUTE_ALL,
        Action.ALLOW_SPEAK,
        Action.STOP_VIDEO,
        Action.REMOVE,
        Action.LOCK,
        Action.END,
        Action.ADVANCE_PHASE,
        Action.NEXT_SPEAKER,
        Action.CHAT_THERAPISTS,
        Action.ACKNOWLEDGE_SIGNAL,
    }
)
MEMBER_ACTIONS = frozenset({Action.RAISE_HAND, Action.PASS_TURN, Action.SIGNAL_THERAPISTS})
SEEN_AND_HEARD_ACTIONS = frozenset({Action.CHAT_GROUP, Action.PUBLISH_AUDIO, Action.PUBLISH_VIDEO})
# Actions that only make sense while a round is running.
ROUND_ACTIONS = frozenset({Action.NEXT_SPEAKER, Action.PASS_TURN})


def role_may(role: Role, action: Action) -> bool:
    """Whether the role has the right at all."""
    if action in MODERATOR_ACTIONS:
        return role.is_moderator
    if action in MEMBER_ACTIONS:
        return role is Role.MEMBER
    return role.is_seen_and_heard


def phase_allows(phase: PhaseKind | None, action: Action) -> bool:
    """Whether the action makes sense in the phase (None: before the first phase)."""
    if action in ROUND_ACTIONS:
        return phase is PhaseKind.ROUND
    return True
