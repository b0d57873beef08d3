"""Every role x phase x action, through the real TherapySession.

The expectation is written out here on its own, from the issue's wording, not
derived from grouproom.rooms.permissions.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from grouproom.rooms.ground_rules import GroundRules
from grouproom.rooms.permissions import Action, phase_allows, role_may
from grouproom.rooms.roles import Role
from grouproom.rooms.session_plan import Phase, PhaseKind, SessionPlan
from grouproom.rooms.therapy_session import (
    Channel,
    DenialCode,
    Denied,
    Person,
    SignalKind,
    TherapySession,
)

THERAPIST_RIGHTS = {
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
    Action.CHAT_GROUP,
    Action.PUBLISH_AUDIO,
    Action.PUBLISH_VIDEO,
}
EXPECTED: dict[Role, set[Action]] = {
    Role.LEAD_THERAPIST: THERAPIST_RIGHTS,
    Role.COTHERAPIST: THERAPIST_RIGHTS,
    Role.MEMBER: {
        Action.RAISE_HAND,
        Action.PASS_TURN,
        Action.SIGNAL_THERAPISTS,
        Action.CHAT_GROUP,
        Action.PUBLISH_AUDIO,
        Action.PUBLISH_VIDEO,
    },
    Role.OBSERVER: set(),  # sees and hears, nothing more
}
ONLY_IN_A_ROUND = {Action.NEXT_SPEAKER, Action.PASS_TURN}
PHASES: list[PhaseKind | None] = [None, *PhaseKind]


def expected(role: Role, phase: PhaseKind | None, action: Action) -> bool:
    if action not in EXPECTED[role]:
        return False
    return action not in ONLY_IN_A_ROUND or phase is PhaseKind.ROUND


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("action", list(Action))
def test_static_rules(role: Role, phase: PhaseKind | None, action: Action) -> None:
    assert (role_may(role, action) and phase_allows(phase, action)) == expected(role, phase, action)


# -- the same matrix, acted out in a session ------------------------------------------

ACTORS = {
    Role.LEAD_THERAPIST: "lead",
    Role.COTHERAPIST: "co",
    Role.MEMBER: "m1",  # first in every round's order, so passing is theirs to do
    Role.OBSERVER: "obs",
}
# One phase of every kind, then one more so that advancing never runs off the end.
PLAN = SessionPlan(
    (
        Phase("Arrival", PhaseKind.ARRIVAL, 5),
        Phase("Round", PhaseKind.ROUND, 15),
        Phase("Theme", PhaseKind.THEME, 50),
        Phase("Close", PhaseKind.CLOSE, 5),
        Phase("Extra", PhaseKind.THEME, 5),
    )
)
RULES = GroundRules(1, "We keep what is said here to ourselves.", chat_enabled=True)


def session_in(phase: PhaseKind | None) -> TherapySession:
    roster = [
        Person("lead", "Lea", Role.LEAD_THERAPIST),
        Person("co", "Cor", Role.COTHERAPIST),
        Person("m1", "Mia", Role.MEMBER),
        Person("m2", "Max", Role.MEMBER),
        Person("m3", "Mo", Role.MEMBER),
        Person("obs", "Olga", Role.OBSERVER),
    ]
    session = TherapySession("s1", roster, RULES, PLAN)
    session.request_entry("lead", "c-lead", None, 0)
    session.request_entry("co", "c-co", None, 0)
    for person_id in ("m1", "m2", "obs", "m3"):
        session.request_entry(person_id, f"c-{person_id}", 1, 0)
        session.admit("lead", person_id, 0)
    session.roster["late"] = Person("late", "Lars", Role.MEMBER)
    session.request_entry("late", "c-late", 1, 0)  # stays in the waiting room
    if phase is not None:
        for index, planned in enumerate(PLAN.phases):
            session.advance_phase("lead", index)
            if planned.kind is phase:
                break
    assert session.phase_kind is phase
    return session


Attempt = Callable[[TherapySession, str], object]
ATTEMPTS: dict[Action, Attempt] = {
    Action.ADMIT: lambda s, actor: s.admit(actor, "late", 1),
    Action.MUTE_AUDIO: lambda s, actor: s.mute(actor, "m2"),
    Action.MUTE_ALL: lambda s, actor: s.mute_all(actor, True),
    Action.ALLOW_SPEAK: lambda s, actor: s.allow_speak(actor, "m2"),
    Action.STOP_VIDEO: lambda s, actor: s.set_video_stopped(actor, "m2", True),
    Action.REMOVE: lambda s, actor: s.remove(actor, "m2", "", 1),
    Action.LOCK: lambda s, actor: s.set_locked(actor, True),
    Action.END: lambda s, actor: s.end(actor, 1),
    Action.ADVANCE_PHASE: lambda s, actor: s.advance_phase(actor, 1),
    Action.CHAT_THERAPISTS: lambda s, actor: s.post_chat(actor, Channel.THERAPISTS, "hi", 1),
    Action.CHAT_GROUP: lambda s, actor: s.post_chat(actor, Channel.GROUP, "hi", 1),
    Action.RAISE_HAND: lambda s, actor: s.raise_hand(actor, True),
    Action.PASS_TURN: lambda s, actor: s.pass_turn(actor),
    Action.SIGNAL_THERAPISTS: lambda s, actor: s.signal(actor, SignalKind.NEED_A_MOMENT, 1),
    Action.ACKNOWLEDGE_SIGNAL: lambda s, actor: s.acknowledge_signal(actor, "m2"),
}


def next_speaker_expected(role: Role, phase: PhaseKind | None) -> bool:
    # The current speaker may end their own turn ("I'm done"); m1 speaks first.
    if phase is not PhaseKind.ROUND:
        return False
    return role.is_moderator or role is Role.MEMBER


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("action", [*ATTEMPTS, Action.NEXT_SPEAKER])
def test_every_role_phase_and_action_in_a_session(
    role: Role, phase: PhaseKind | None, action: Action
) -> None:
    session = session_in(phase)
    actor = ACTORS[role]
    if action is Action.NEXT_SPEAKER:
        allowed = next_speaker_expected(role, phase)
        attempt: Attempt = lambda s, a: s.next_speaker(a)  # noqa: E731
    else:
        allowed = expected(role, phase, action)
        attempt = ATTEMPTS[action]
    if allowed:
        attempt(session, actor)
    else:
        with pytest.raises(Denied) as denied:
            attempt(session, actor)
        # A member ends a turn only as its speaker: outside a round there is none.
        role_has_it = action in EXPECTED[role]
        code = DenialCode.NOT_NOW if role_has_it else DenialCode.NOT_ALLOWED
        assert denied.value.code is code


@pytest.mark.parametrize("role", list(Role))
def test_publishing_follows_the_role(role: Role) -> None:
    session = session_in(PhaseKind.THEME)
    actor = ACTORS[role]
    assert session.audio_forwarded(actor) == (Action.PUBLISH_AUDIO in EXPECTED[role])
    assert session.video_forwarded(actor) == (Action.PUBLISH_VIDEO in EXPECTED[role])
