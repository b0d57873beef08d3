"""A therapy session's rules as the people in it live them."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grouproom.rooms.ground_rules import GroundRules
from grouproom.rooms.leave_cause import LeaveCause
from grouproom.rooms.permissions import Action
from grouproom.rooms.roles import Role
from grouproom.rooms.session_plan import PhaseKind, default_plan
from grouproom.rooms.therapy_session import (
    CHAT_KEPT,
    Attendance,
    Audience,
    Channel,
    ChatPosted,
    DenialCode,
    Denied,
    Departed,
    Dismissed,
    Entry,
    Event,
    HandChanged,
    MediaPermission,
    Moderated,
    Person,
    Reconnected,
    Reconnecting,
    Seated,
    SessionOptions,
    SignalAcknowledged,
    SignalKind,
    SignalSent,
    TherapySession,
    TurnChanged,
    Waiting,
)

RULES = GroundRules(3, "What is said here stays here.", chat_enabled=True)
ROSTER = [
    Person("lead", "Lea", Role.LEAD_THERAPIST),
    Person("co", "Cor", Role.COTHERAPIST),
    Person("ann", "Ann", Role.MEMBER),
    Person("bob", "Bob", Role.MEMBER),
    Person("cas", "Cas", Role.MEMBER),
    Person("obs", "Olga", Role.OBSERVER),
]


DEFAULT_OPTIONS = SessionOptions()


def new_session(options: SessionOptions = DEFAULT_OPTIONS) -> TherapySession:
    return TherapySession("s1", ROSTER, RULES, default_plan("en"), options)


def seated(*member_ids: str, options: SessionOptions = DEFAULT_OPTIONS) -> TherapySession:
    """Both therapists and the given members in the session."""
    session = new_session(options)
    session.request_entry("lead", "c-lead", None, 0)
    session.request_entry("co", "c-co", None, 0)
    for member_id in member_ids:
        session.request_entry(member_id, f"c-{member_id}", RULES.version, 0)
        if member_id in session.waiting:
            session.admit("lead", member_id, 0)
    return session


EventType = TypeVar("EventType", bound=Event)


def of_type(events: list[Event], kind: type[EventType]) -> list[EventType]:
    return [event for event in events if isinstance(event, kind)]


@contextmanager
def denial(code: DenialCode) -> Iterator[None]:
    with pytest.raises(Denied) as denied:
        yield
    assert denied.value.code is code, denied.value.message


# -- entering ------------------------------------------------------------------------


def test_a_stranger_and_a_member_without_accepted_rules_are_refused() -> None:
    session = seated()
    with denial(DenialCode.NOT_ON_ROSTER):
        session.request_entry("eve", "c-eve", RULES.version, 1)
    with denial(DenialCode.RULES_NOT_ACCEPTED):
        session.request_entry("ann", "c-ann", None, 1)
    with denial(DenialCode.RULES_NOT_ACCEPTED):
        session.request_entry("ann", "c-ann", RULES.version - 1, 1)  # an older version
    assert not session.waiting


def test_a_member_waits_until_a_therapist_admits_them() -> None:
    session = seated()
    entry, events = session.request_entry("ann", "c-ann", RULES.version, 10)
    assert entry is Entry.WAITING
    assert events == [Waiting(Audience.MODERATORS, "ann")]
    assert not session.audio_forwarded("ann")
    events = session.admit("co", "ann", 20)
    assert Seated(Audience.EVERYONE, "ann") in events
    assert Attendance(Audience.RECORD, "ann", True, 20) in events
    # Announced with her forwarding by Seated, not by a separate change.
    assert not of_type(events, MediaPermission)
    assert Moderated(Audience.RECORD, "co", Action.ADMIT, "ann") in events
    with denial(DenialCode.NOT_WAITING):
        session.admit("co", "ann", 21)


def test_auto_admission_needs_a_therapist_present() -> None:
    session = new_session(SessionOptions(auto_admit=True))
    assert session.request_entry("ann", "c-ann", RULES.version, 0)[0] is Entry.WAITING
    _, events = session.request_entry("co", "c-co", None, 1)
    assert "ann" in session.seats and not session.waiting
    assert Seated(Audience.EVERYONE, "ann") in events
    assert session.request_entry("bob", "c-bob", RULES.version, 2)[0] is Entry.SEATED


def test_a_locked_session_keeps_newcomers_out_but_not_returning_people() -> None:
    session = seated("ann")
    session.set_locked("lead", True)
    with denial(DenialCode.LOCKED):
        session.request_entry("bob", "c-bob", RULES.version, 1)
    session.leave("ann", "c-ann", LeaveCause.CONNECTION_LOST, 2)
    assert session.request_entry("ann", "c-ann-2", RULES.version, 3)[0] is Entry.SEATED
    session.leave("co", "c-co", LeaveCause.LEFT, 4)
    assert session.request_entry("co", "c-co-2", None, 5)[0] is Entry.SEATED


def test_a_second_device_takes_the_seat_and_the_first_is_told_why() -> None:
    session = seated("ann")
    session.raise_hand("ann", True)
    entry, events = session.request_entry("ann", "c-tablet", RULES.version, 5)
    assert entry is Entry.SEATED
    assert events == [Dismissed(Audience.CONNECTION, "c-ann", "ann", LeaveCause.REPLACED)]
    assert session.seats["ann"].connection_id == "c-tablet"
    assert session.seats["ann"].hand_raised
    # The old connection closing afterwards does not cost the new one its seat.
    assert session.leave("ann", "c-ann", LeaveCause.CONNECTION_LOST, 6) == []
    assert "ann" in session.seats


def test_moderation_survives_a_reconnect() -> None:
    session = seated("ann")
    session.mute("lead", "ann")
    session.set_video_stopped("lead", "ann", True)
    events = session.leave("ann", "c-ann", LeaveCause.CONNECTION_LOST, 1)
    assert Departed(Audience.EVERYONE, "ann", LeaveCause.CONNECTION_LOST) in events
    assert not of_type(events, Dismissed)  # nobody to tell: the connection is gone
    entry, _ = session.request_entry("ann", "c-ann-2", RULES.version, 2)
    assert entry is Entry.SEATED  # no second wait in the waiting room
    assert not session.audio_forwarded("ann")
    assert not session.video_forwarded("ann")


# -- moderation ----------------------------------------------------------------------


def test_a_muted_member_is_not_forwarded_until_allowed_to_speak() -> None:
    session = seated("ann", "bob")
    events = session.mute("co", "ann")
    assert events[-1] == MediaPermission(Audience.EVERYONE, "ann", False, True)
    assert session.audio_forwarded("bob")
    session.raise_hand("ann", True)
    events = session.allow_speak("lead", "ann")
    assert HandChanged(Audience.EVERYONE, "ann", False) in events
    assert MediaPermission(Audience.EVERYONE, "ann", True, True) in events
    assert not session.seats["ann"].hand_raised


def test_mute_all_spares_the_therapists_and_holds_for_late_members() -> None:
    session = seated("ann", "obs")
    events = session.mute_all("lead", True)
    assert {e.person_id for e in of_type(events, MediaPermission)} == {"ann"}
    assert session.audio_forwarded("lead") and session.audio_forwarded("co")
    session.request_entry("bob", "c-bob", RULES.version, 1)
    session.admit("lead", "bob", 1)
    assert not session.audio_forwarded("bob")
    session.mute_all("lead", False)
    assert session.audio_forwarded("ann") and session.audio_forwarded("bob")


def test_therapists_cannot_be_moderated_and_observers_are_never_forwarded() -> None:
    session = seated("obs")
    with denial(DenialCode.TARGET_IS_THERAPIST):
        session.mute("lead", "co")
    with denial(DenialCode.NOT_PRESENT):
        session.mute("lead", "bob")
    assert not session.audio_forwarded("obs") and not session.video_forwarded("obs")
    session.allow_speak("lead", "obs")
    assert not session.audio_forwarded("obs")


def test_a_removed_member_sees_the_reason_and_cannot_come_back() -> None:
    session = seated("ann", "bob")
    events = session.remove("lead", "ann", "  Please call me after the session.  ", 7)
    assert (
        Dismissed(
            Audience.CONNECTION,
            "c-ann",
            "ann",
            LeaveCause.REMOVED,
            "Please call me after the session.",
        )
        in events
    )
    assert Departed(Audience.EVERYONE, "ann", LeaveCause.REMOVED) in events
    assert Attendance(Audience.RECORD, "ann", False, 7, LeaveCause.REMOVED) in events
    with denial(DenialCode.REMOVED):
        session.request_entry("ann", "c-ann-2", RULES.version, 8)
    with denial(DenialCode.INVALID):
        session.remove("lead", "bob", "x" * 301, 9)


def test_removing_someone_from_the_waiting_room() -> None:
    session = seated()
    session.request_entry("ann", "c-ann", RULES.version, 0)
    events = session.remove("co", "ann", "", 1)
    assert Dismissed(Audience.CONNECTION, "c-ann", "ann", LeaveCause.REMOVED) in events
    assert not session.waiting and not of_type(events, Departed)


def test_ending_dismisses_everyone_and_refuses_everything_after() -> None:
    session = seated("ann")
    session.request_entry("bob", "c-bob", RULES.version, 0)
    events = session.end("lead", 50)
    dismissed = {(e.connection_id, e.cause) for e in of_type(events, Dismissed)}
    assert dismissed == {
        ("c-lead", LeaveCause.SESSION_ENDED),
        ("c-co", LeaveCause.SESSION_ENDED),
        ("c-ann", LeaveCause.SESSION_ENDED),
        ("c-bob", LeaveCause.SESSION_ENDED),
    }
    left = {e.person_id for e in of_type(events, Attendance) if not e.joined}
    assert left == {"lead", "co", "ann"}
    assert not session.seats and not session.waiting
    with denial(DenialCode.SESSION_ENDED):
        session.request_entry("ann", "c-ann", RULES.version, 51)
    with denial(DenialCode.SESSION_ENDED):
        session.advance_phase("lead", 51)


# -- phases and rounds ---------------------------------------------------------------


def test_phases_follow_the_plan_with_a_timer() -> None:
    session = seated("ann")
    assert session.phase is None and session.time_left(0) is None
    session.advance_phase("lead", 100)
    assert session.phase is not None and session.phase.kind is PhaseKind.ARRIVAL
    assert session.time_left(160) == 240
    assert session.time_left(500) == -100  # running over
    for now in (400, 1300, 4300, 5200):
        session.advance_phase("co", now)
    assert session.phase is not None and session.phase.kind is PhaseKind.CLOSE
    with denial(DenialCode.NOT_NOW):
        session.advance_phase("lead", 5600)


def test_a_round_goes_in_roster_order_and_mutes_the_others() -> None:
    session = seated("cas", "ann", "obs")
    session.advance_phase("lead", 0)
    events = session.advance_phase("lead", 300)
    turn = of_type(events, TurnChanged)[-1]
    assert turn.order == ("ann", "cas") and turn.current == "ann"  # roster order
    assert session.audio_forwarded("ann") and not session.audio_forwarded("cas")
    assert session.audio_forwarded("lead") and session.audio_forwarded("co")
    # Bob arrives during the round: he goes last.
    session.request_entry("bob", "c-bob", RULES.version, 310)
    events = session.admit("lead", "bob", 311)
    assert of_type(events, TurnChanged)[-1].order == ("ann", "cas", "bob")
    assert not session.audio_forwarded("bob")
    # Ann is done; Cas passes; Bob leaves before his turn would start.
    with denial(DenialCode.NOT_YOUR_TURN):
        session.pass_turn("cas")
    session.next_speaker("ann")
    assert session.audio_forwarded("cas") and not session.audio_forwarded("ann")
    session.leave("bob", "c-bob", LeaveCause.LEFT, 320)
    events = session.pass_turn("cas")
    turn = of_type(events, TurnChanged)[-1]
    assert turn.current is None and turn.passed == ("cas",)
    # Everyone has had a turn: the round silences nobody any more.
    assert {e.person_id for e in of_type(events, MediaPermission)} == {"ann"}
    assert session.audio_forwarded("ann") and session.audio_forwarded("cas")
    with denial(DenialCode.NOT_NOW):
        session.next_speaker("lead")
    events = session.advance_phase("lead", 1200)
    assert session.round is None and not of_type(events, MediaPermission)


def test_the_speaker_leaving_moves_the_round_on() -> None:
    session = seated("ann", "bob")
    session.advance_phase("lead", 0)
    session.advance_phase("lead", 1)
    events = session.leave("ann", "c-ann", LeaveCause.CONNECTION_LOST, 2)
    assert of_type(events, TurnChanged)[-1].current == "bob"
    assert session.audio_forwarded("bob")


def test_a_round_can_leave_everyone_unmuted() -> None:
    session = seated("ann", "bob", options=SessionOptions(round_mutes_others=False))
    session.advance_phase("lead", 0)
    session.advance_phase("lead", 1)
    assert session.audio_forwarded("ann") and session.audio_forwarded("bob")


def test_allowed_to_speak_out_of_turn_until_the_next_phase() -> None:
    session = seated("ann", "bob")
    session.advance_phase("lead", 0)
    session.advance_phase("lead", 1)
    session.allow_speak("co", "bob")
    assert session.audio_forwarded("bob")
    session.advance_phase("lead", 2)
    session.mute("lead", "bob")
    session.advance_phase("lead", 3)  # check-out round: the permission has lapsed
    assert not session.audio_forwarded("bob")


# -- messages ------------------------------------------------------------------------


def test_the_therapists_channel_and_signals_reach_only_therapists() -> None:
    session = seated("ann")
    events = session.post_chat("co", Channel.THERAPISTS, " Ann looks tired ", 5)
    assert events == [
        ChatPosted(Audience.MODERATORS, Channel.THERAPISTS, "co", "Ann looks tired", 5)
    ]
    with denial(DenialCode.NOT_ALLOWED):
        session.post_chat("ann", Channel.THERAPISTS, "hello?", 6)
    events = session.signal("ann", SignalKind.NEED_HELP, 7)
    assert events == [SignalSent(Audience.MODERATORS, "ann", SignalKind.NEED_HELP, 7)]
    events = session.post_chat("ann", Channel.GROUP, "Hi all", 8)
    assert events[0].audience is Audience.EVERYONE
    with denial(DenialCode.INVALID):
        session.post_chat("ann", Channel.GROUP, "   ", 9)
    with denial(DenialCode.INVALID):
        session.post_chat("ann", Channel.GROUP, "x" * 2001, 9)


def test_the_chat_is_kept_for_a_reload_each_seeing_what_reached_them() -> None:
    session = seated("ann")
    session.post_chat("lead", Channel.GROUP, "Welcome", 10)
    session.post_chat("co", Channel.THERAPISTS, "Bob is late", 11)
    # Bob comes in later: what was said before he came is not his to read back.
    session.request_entry("bob", "c-bob", RULES.version, 20)
    session.admit("lead", "bob", 21)
    session.post_chat("ann", Channel.GROUP, "Hi Bob", 22)
    # Ann's connection breaks; what is said meanwhile is hers when she is back.
    session.drop("ann", "c-ann", 30)
    session.post_chat("bob", Channel.GROUP, "Where is Ann?", 31)
    texts = {who: [m.text for m in session.chat_for(who)] for who in ("ann", "bob", "co", "obs")}
    assert texts["ann"] == ["Welcome", "Hi Bob", "Where is Ann?"]
    assert texts["bob"] == ["Hi Bob", "Where is Ann?"]
    assert texts["co"] == ["Welcome", "Bob is late", "Hi Bob", "Where is Ann?"]
    assert texts["obs"] == []  # never seated
    assert session.chat_for("nobody") == []
    # Leaving and coming back does not move the start of what she reads.
    session.leave("bob", "c-bob", LeaveCause.LEFT, 40)
    session.request_entry("bob", "c-bob-2", RULES.version, 41)
    assert [m.text for m in session.chat_for("bob")] == ["Hi Bob", "Where is Ann?"]


def test_only_the_last_messages_are_kept() -> None:
    session = seated("ann")
    for n in range(CHAT_KEPT + 5):
        session.post_chat("ann", Channel.GROUP, f"message {n}", 10 + n)
    kept = session.chat_for("lead")
    assert len(kept) == CHAT_KEPT and kept[0].text == "message 5"


def test_a_signal_stays_open_until_a_therapist_acknowledges_it() -> None:
    session = seated("ann", "bob")
    session.signal("ann", SignalKind.NEED_A_MOMENT, 7)
    session.signal("bob", SignalKind.NEED_HELP, 8)
    session.signal("ann", SignalKind.NEED_HELP, 9)  # takes the place of her first one
    assert session.open_signals() == [
        ("bob", SignalKind.NEED_HELP, 8),
        ("ann", SignalKind.NEED_HELP, 9),
    ]
    with denial(DenialCode.NOT_ALLOWED):
        session.acknowledge_signal("bob", "ann")  # a member cannot
    with denial(DenialCode.NOT_ALLOWED):
        session.signal("co", SignalKind.NEED_HELP, 10)  # therapists send none
    events = session.acknowledge_signal("co", "ann")
    assert events == [
        SignalAcknowledged(Audience.MODERATORS, "ann", "co"),
        Moderated(Audience.RECORD, "co", Action.ACKNOWLEDGE_SIGNAL, "ann"),
    ]
    assert session.acknowledge_signal("lead", "ann") == []  # Cor was quicker
    assert session.open_signals() == [("bob", SignalKind.NEED_HELP, 8)]
    # Away and back, on a second device, the signal is still open; gone, it is gone.
    session.drop("bob", "c-bob", 11)
    session.request_entry("bob", "c-bob-2", RULES.version, 12)
    session.request_entry("bob", "c-bob-3", RULES.version, 13)  # replaces c-bob-2
    assert session.open_signals() == [("bob", SignalKind.NEED_HELP, 8)]
    session.leave("bob", "c-bob-3", LeaveCause.LEFT, 14)
    assert session.open_signals() == []
    with denial(DenialCode.NOT_PRESENT):
        session.acknowledge_signal("lead", "bob")


def test_a_member_whose_signal_was_seen_while_she_was_away_is_told_when_back() -> None:
    session = seated("ann", "bob")
    session.signal("ann", SignalKind.NEED_HELP, 7)
    session.signal("bob", SignalKind.NEED_A_MOMENT, 8)
    session.acknowledge_signal("lead", "bob")  # Bob is there: the event tells him
    assert not session.signal_seen_news("bob")
    session.drop("ann", "c-ann", 9)
    session.acknowledge_signal("co", "ann")
    assert session.live_state()["signals_seen"] == ["ann"]  # kept over a restart
    restored = seated("ann", "bob")
    restored.drop("ann", "c-ann", 9)
    restored.restore_live_state(session.live_state())
    assert restored.live_state() == session.live_state()
    session.request_entry("ann", "c-ann-2", RULES.version, 10)
    assert session.signal_seen_news("ann")
    assert not session.signal_seen_news("ann")  # told once
    # A new signal while away... and seen again: only the latest counts.
    session.drop("ann", "c-ann-2", 11)
    session.acknowledge_signal("co", "ann")  # nothing open: no news
    session.request_entry("ann", "c-ann-3", RULES.version, 12)
    assert not session.signal_seen_news("ann")
    session.signal("ann", SignalKind.NEED_A_MOMENT, 13)
    session.drop("ann", "c-ann-3", 14)
    session.acknowledge_signal("co", "ann")
    session.request_entry("ann", "c-ann-4", RULES.version, 15, device="tablet")
    session.request_entry("ann", "c-ann-5", RULES.version, 16, device="tablet")  # a reload
    assert session.signal_seen_news("ann")
    # Gone for good, she is a new seat with nothing to be told.
    session.signal("bob", SignalKind.NEED_HELP, 17)
    session.drop("bob", "c-bob", 18)
    session.acknowledge_signal("lead", "bob")
    session.release("bob", 18 + session.reconnect_grace)
    session.request_entry("bob", "c-bob-2", RULES.version, 200)
    assert not session.signal_seen_news("bob")


def test_the_ground_rules_can_switch_the_group_chat_off() -> None:
    session = TherapySession(
        "s2", ROSTER, RULES.revised(RULES.text, chat_enabled=False), default_plan("nl")
    )
    session.request_entry("lead", "c-lead", None, 0)
    with denial(DenialCode.CHAT_OFF):
        session.post_chat("lead", Channel.GROUP, "hello", 1)
    session.post_chat("lead", Channel.THERAPISTS, "still here", 1)


# -- broken connections and restarts -------------------------------------------------


def test_a_broken_connection_holds_the_seat_until_the_grace_period_ends() -> None:
    session = seated("ann", "bob")
    session.raise_hand("ann", True)
    events = session.drop("ann", "c-ann", 100)
    assert events == [Reconnecting(Audience.EVERYONE, "ann", 160)]
    assert session.is_away("ann") and session.away_until("ann") == 160
    assert session.drop("ann", "c-ann", 101) == []  # once
    assert session.release("ann", 159) == []  # not yet
    events = session.release("ann", 160)
    assert of_type(events, Departed) == [
        Departed(Audience.EVERYONE, "ann", LeaveCause.CONNECTION_LOST)
    ]
    # The attendance says when the connection broke.
    assert of_type(events, Attendance) == [
        Attendance(Audience.RECORD, "ann", False, 100, LeaveCause.CONNECTION_LOST)
    ]
    assert "ann" not in session.seats and session.release("ann", 200) == []


def test_the_same_device_takes_its_seat_back_as_it_was() -> None:
    session = new_session()
    session.request_entry("lead", "c-lead", None, 0)
    session.request_entry("ann", "c-ann", RULES.version, 0, device="tablet")
    session.admit("lead", "ann", 0)
    session.raise_hand("ann", True)
    session.mute("lead", "ann")
    session.set_locked("lead", True)
    session.drop("ann", "c-ann", 10)
    with denial(DenialCode.IN_USE):
        session.request_entry("ann", "c-phone", RULES.version, 11, device="phone")
    entry, events = session.request_entry("ann", "c-ann-2", RULES.version, 12, device="tablet")
    assert entry is Entry.SEATED
    assert events == [Reconnected(Audience.EVERYONE, "ann")]  # no Seated, no Attendance
    seat = session.seats["ann"]
    assert seat.connection_id == "c-ann-2" and not seat.away and seat.hand_raised
    assert not session.audio_forwarded("ann")  # still muted by the therapist
    # The old connection's late goodbye changes nothing.
    assert session.leave("ann", "c-ann", LeaveCause.CONNECTION_LOST, 13) == []
    assert session.release("ann", 100) == []
    # While the seat is taken, another device is refused too; the same device
    # (another tab) takes it over.
    with denial(DenialCode.IN_USE):
        session.request_entry("ann", "c-phone", RULES.version, 14, device="phone")
    _, events = session.request_entry("ann", "c-ann-3", RULES.version, 15, device="tablet")
    assert of_type(events, Dismissed)[0].connection_id == "c-ann-2"


def test_therapists_may_change_device_and_away_therapists_admit_nobody() -> None:
    session = new_session(SessionOptions(auto_admit=True))
    session.request_entry("lead", "c-lead", None, 0, device="laptop")
    session.drop("lead", "c-lead", 1)
    assert not session.moderator_present
    entry, _ = session.request_entry("ann", "c-ann", RULES.version, 2)
    assert entry is Entry.WAITING  # nobody there to let her in
    entry, events = session.request_entry("lead", "c-lead-2", None, 3, device="desktop")
    assert entry is Entry.SEATED and of_type(events, Reconnected)


def test_a_restart_holds_the_seats_and_restores_what_the_therapists_decided() -> None:
    before = seated("ann", "bob")
    before.advance_phase("lead", 0)
    before.advance_phase("lead", 0)  # the check-in round
    assert before.round is not None
    before.pass_turn(before.round.current or "")
    before.set_video_stopped("lead", "bob", True)
    before.raise_hand("bob", True)
    before.signal("ann", SignalKind.NEED_A_MOMENT, 40)
    before.mute_all("lead", True)
    saved = before.live_state()

    after = new_session()
    after.phase_index, after.phase_started_at = before.phase_index, before.phase_started_at
    for person_id in before.seats:
        assert after.hold(person_id, 50) == []
    after.restore_live_state(saved)
    assert all(after.is_away(p) for p in before.seats)
    assert after.moderation == before.moderation
    assert after.mute_new_members and after.seats["bob"].hand_raised
    assert after.open_signals() == [("ann", SignalKind.NEED_A_MOMENT, 40)]
    assert after.round is not None and after.round.order == before.round.order
    assert after.round.current == before.round.current
    assert after.live_state() == saved
    entry, _ = after.request_entry("bob", "c-bob", RULES.version, 51, device="any")
    assert entry is Entry.SEATED and not after.video_forwarded("bob")


@pytest.mark.parametrize(
    "garbage",
    [
        None,
        [],
        {"moderation": {"ann": [True]}},
        {"moderation": {"stranger": [True, True, True]}},
        {"moderation": {"ann": ["yes", False, False]}},
        {"hands": "ann"},
        {"signals": {"ann": ["need_sleep", 3]}},
        {"signals": {"ann": ["need_help", "3"]}},
        {"signals": {"ann": ["need_help", True]}},
        {"signals": {"ann": ["need_help"]}},
        {"signals": {"lead": ["need_help", 3]}},
        {"signals": ["ann"]},
        {"signals_seen": "ann"},
        {"signals_seen": [3]},
        {"signals_seen": ["lead"]},
        {"round": {"order": ["stranger"], "position": 0, "passed": []}},
        {"round": {"order": ["ann"], "position": 5, "passed": []}},
    ],
)
def test_a_saved_state_that_does_not_fit_is_left_out(garbage: object) -> None:
    session = seated("ann")
    session.restore_live_state(garbage)
    assert session.moderation == {} and session.round is None
    assert not session.seats["ann"].hand_raised
    assert session.open_signals() == []
    assert not session.signal_seen_news("ann") and not session.signal_seen_news("lead")


def test_a_full_session_seats_nobody_more() -> None:
    session = seated("ann", options=SessionOptions(max_seats=3))
    session.request_entry("bob", "c-bob", RULES.version, 0)
    with denial(DenialCode.FULL):
        session.admit("lead", "bob", 0)
    assert "bob" in session.waiting  # still waiting, nothing changed
    session.leave("ann", "c-ann", LeaveCause.LEFT, 1)
    session.admit("lead", "bob", 1)
    with denial(DenialCode.FULL):
        session.request_entry("ann", "c-ann-2", RULES.version, 2)  # admitted before
    # With auto-admission, a newcomer to a full session waits instead.
    auto = seated("ann", options=SessionOptions(auto_admit=True, max_seats=3))
    entry, _ = auto.request_entry("bob", "c-bob", RULES.version, 0)
    assert entry is Entry.WAITING


# -- any sequence of commands --------------------------------------------------------

PEOPLE = [person.id for person in ROSTER]
COMMANDS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "enter",
                "leave",
                "admit",
                "mute",
                "mute_all",
                "unmute_all",
                "allow",
                "stop_video",
                "remove",
                "lock",
                "unlock",
                "advance",
                "next",
                "pass",
                "hand",
                "end",
                "drop",
                "release",
                "signal",
                "acknowledge",
            ]
        ),
        st.sampled_from(PEOPLE),
        st.sampled_from(PEOPLE),
        st.integers(min_value=0, max_value=1),
    ),
    max_size=40,
)


def run(session: TherapySession, command: str, actor: str, target: str, device: int) -> None:
    connection = f"c-{actor}-{device}"
    version = RULES.version
    actions: dict[str, Callable[[], object]] = {
        "enter": lambda: session.request_entry(actor, connection, version, 1, f"dev{device}"),
        "drop": lambda: session.drop(actor, connection, 1),
        "release": lambda: session.release(target, 1 + session.reconnect_grace),
        "leave": lambda: session.leave(actor, connection, LeaveCause.LEFT, 1),
        "admit": lambda: session.admit(actor, target, 1),
        "mute": lambda: session.mute(actor, target),
        "mute_all": lambda: session.mute_all(actor, True),
        "unmute_all": lambda: session.mute_all(actor, False),
        "allow": lambda: session.allow_speak(actor, target),
        "stop_video": lambda: session.set_video_stopped(actor, target, True),
        "remove": lambda: session.remove(actor, target, "", 1),
        "lock": lambda: session.set_locked(actor, True),
        "unlock": lambda: session.set_locked(actor, False),
        "advance": lambda: session.advance_phase(actor, 1),
        "next": lambda: session.next_speaker(actor),
        "pass": lambda: session.pass_turn(actor),
        "hand": lambda: session.raise_hand(actor, True),
        "end": lambda: session.end(actor, 1),
        "signal": lambda: session.signal(actor, SignalKind.NEED_HELP, 1),
        "acknowledge": lambda: session.acknowledge_signal(actor, target),
    }
    actions[command]()


@settings(max_examples=300, deadline=None)
@given(COMMANDS)
def test_invariants_hold_whatever_happens(commands: list[tuple[str, str, str, int]]) -> None:
    session = new_session()
    for command, actor, target, device in commands:
        before = copy.deepcopy(session.__dict__)
        try:
            run(session, command, actor, target, device)
        except Denied:
            assert session.__dict__ == before, f"{command} was refused but changed the session"
        assert not set(session.seats) & set(session.waiting)
        for person_id, seat in session.seats.items():
            role = seat.person.role
            if role is Role.OBSERVER:
                assert not session.audio_forwarded(person_id)
                assert not session.video_forwarded(person_id)
            if role.is_moderator:
                assert session.audio_forwarded(person_id)
            elif session.is_muted_by_moderator(person_id):
                assert not session.audio_forwarded(person_id)
        for person_id in session.removed:
            assert person_id not in session.seats and person_id not in session.waiting
        if session.round is not None and session.round.current is not None:
            assert session.round.current in session.seats
        for seat in session.seats.values():
            assert (seat.connection_id == "") == seat.away
            assert seat.signal is None or seat.person.role is Role.MEMBER
            if seat.signal_seen_while_away:
                assert seat.signal is None and seat.person.role is Role.MEMBER
    # What a restart resumes from comes back the same.
    restored = new_session()
    restored.phase_index = session.phase_index
    for person_id in session.seats:
        restored.hold(person_id, 2)
    restored.restore_live_state(session.live_state())
    if not session.ended:
        assert restored.live_state() == session.live_state()
