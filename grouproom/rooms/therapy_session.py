"""A therapy session in progress: who is in, who waits, what the therapists decided.

Pure logic with an injected clock (`now`, seconds). Every command either raises
`Denied` with a code, changing nothing, or changes the state and returns the
events it caused. Each event says who may receive it (`audience`): signalling
delivers it to exactly those, so the therapists' private channel and a member's
call for help never reach a member's browser.

Forwarding is decided here too: `audio_forwarded` and `video_forwarded` say
whether the server passes a person's media on at all, and every command that
changes either emits `MediaPermission` events, so the media plane can follow.
Moderation belongs to the person, not to the connection: a member muted by a
therapist who reconnects comes back muted.

A seat outlives a broken connection: `drop` marks it away (the others see the person
reconnecting), the same person entering again takes it back as it was, and
`release` gives it up once the grace period has passed. A member's seat belongs to
the device that took it (an opaque key the browser keeps): the same invite link on
another device is refused while the seat is taken or held.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from grouproom.rooms.ground_rules import GroundRules
from grouproom.rooms.leave_cause import LeaveCause
from grouproom.rooms.permissions import Action, phase_allows, role_may
from grouproom.rooms.roles import Role
from grouproom.rooms.session_plan import Phase, PhaseKind, SessionPlan

CHAT_MAX_LENGTH = 2000
# The chat a session keeps in memory (never stored) for those who reload or reconnect.
CHAT_KEPT = 300
REMOVAL_REASON_MAX_LENGTH = 300


class DenialCode(StrEnum):
    NOT_ALLOWED = "not_allowed"  # the role does not have this right
    NOT_NOW = "not_now"  # not in this phase, or not in this state
    SESSION_ENDED = "session_ended"
    NOT_ON_ROSTER = "not_on_roster"
    RULES_NOT_ACCEPTED = "rules_not_accepted"
    LOCKED = "locked"
    REMOVED = "removed"
    NOT_PRESENT = "not_present"  # the actor or the target is not in the session
    NOT_WAITING = "not_waiting"
    TARGET_IS_THERAPIST = "target_is_therapist"
    NOT_YOUR_TURN = "not_your_turn"
    CHAT_OFF = "chat_off"
    INVALID = "invalid"  # an empty or oversized text
    IN_USE = "in_use"  # the invite link is in use on another device
    FULL = "full"  # every seat of the session is taken


class Denied(Exception):
    def __init__(self, code: DenialCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Audience(StrEnum):
    EVERYONE = "everyone"  # everyone seated
    MODERATORS = "moderators"  # the therapists seated
    CONNECTION = "connection"  # one connection: `Event.connection_id`
    RECORD = "record"  # nobody: for the attendance record and the audit log


class Channel(StrEnum):
    GROUP = "group"
    THERAPISTS = "therapists"


class SignalKind(StrEnum):
    NEED_A_MOMENT = "need_a_moment"
    NEED_HELP = "need_help"


SIGNAL_KINDS = frozenset(kind.value for kind in SignalKind)


class Entry(StrEnum):
    WAITING = "waiting"
    SEATED = "seated"


@dataclass(frozen=True, slots=True)
class Person:
    """Someone on the group's roster (therapists included). The display name is
    the one the therapist set; members cannot rename themselves."""

    id: str
    display_name: str
    role: Role


@dataclass(frozen=True, slots=True)
class SessionOptions:
    # Roster members enter without the waiting room once a therapist is present.
    auto_admit: bool = False
    # In a round everyone but the current speaker and the therapists is muted.
    round_mutes_others: bool = True
    # Seats, therapists and observers included (held seats count).
    max_seats: int = 16


# -- events --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    audience: Audience


@dataclass(frozen=True, slots=True)
class Waiting(Event):
    person_id: str


@dataclass(frozen=True, slots=True)
class LeftWaitingRoom(Event):
    person_id: str


@dataclass(frozen=True, slots=True)
class Seated(Event):
    person_id: str


@dataclass(frozen=True, slots=True)
class Departed(Event):
    person_id: str
    cause: LeaveCause


@dataclass(frozen=True, slots=True)
class Reconnecting(Event):
    """The person's connection broke; their seat is held until `until`."""

    person_id: str
    until: float


@dataclass(frozen=True, slots=True)
class Reconnected(Event):
    person_id: str


@dataclass(frozen=True, slots=True)
class Dismissed(Event):
    """To the one connection that lost its place, and why: its person was removed
    (with the therapist's reason), the session ended, or the person opened their
    link on another device (`LeaveCause.REPLACED`)."""

    connection_id: str
    person_id: str
    cause: LeaveCause
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Attendance(Event):
    person_id: str
    joined: bool
    at: float
    cause: LeaveCause | None = None


@dataclass(frozen=True, slots=True)
class MediaPermission(Event):
    person_id: str
    audio_forwarded: bool
    video_forwarded: bool


@dataclass(frozen=True, slots=True)
class Moderated(Event):
    """A moderation action, for the audit log (and the others' tiles)."""

    actor_id: str
    action: Action
    subject_id: str | None


@dataclass(frozen=True, slots=True)
class HandChanged(Event):
    person_id: str
    raised: bool


@dataclass(frozen=True, slots=True)
class LockChanged(Event):
    locked: bool


@dataclass(frozen=True, slots=True)
class PhaseChanged(Event):
    index: int
    phase: Phase
    started_at: float


@dataclass(frozen=True, slots=True)
class TurnChanged(Event):
    order: tuple[str, ...]
    current: str | None
    passed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChatPosted(Event):
    channel: Channel
    sender_id: str
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class SignalSent(Event):
    person_id: str
    kind: SignalKind
    at: float


@dataclass(frozen=True, slots=True)
class SignalAcknowledged(Event):
    """A therapist saw a member's signal: it is no longer open (for the
    therapists, and for the member, who is told)."""

    person_id: str
    actor_id: str


@dataclass(frozen=True, slots=True)
class Ended(Event):
    actor_id: str


# -- state ---------------------------------------------------------------------------


@dataclass(slots=True)
class Moderation:
    """What the therapists decided about one person; it outlives a reconnect."""

    muted: bool = False
    video_stopped: bool = False
    speak_allowed: bool = False


NO_MODERATION = Moderation()


@dataclass(slots=True)
class Seat:
    person: Person
    connection_id: str  # "" while away
    since: float
    hand_raised: bool = False
    # The member's signal to the therapists that none of them has acknowledged yet
    # (the latest, if she sent several), and when she sent it.
    signal: SignalKind | None = None
    signal_at: float = 0.0
    # A therapist acknowledged her signal while she was away: she is told once she
    # is back (`signal_seen_news`).
    signal_seen_while_away: bool = False
    device: str = ""  # the browser's key; "" when unknown (a seat kept over a restart)
    away_since: float | None = None  # the connection broke; the seat is held

    @property
    def away(self) -> bool:
        return self.away_since is not None


@dataclass(slots=True)
class Round:
    order: list[str]
    position: int = 0
    passed: set[str] = field(default_factory=set)

    @property
    def current(self) -> str | None:
        return self.order[self.position] if self.position < len(self.order) else None


class TherapySession:
    def __init__(
        self,
        session_id: str,
        roster: Iterable[Person],
        rules: GroundRules,
        plan: SessionPlan,
        options: SessionOptions = SessionOptions(),
        reconnect_grace: float = 60.0,
    ) -> None:
        self.id = session_id
        self.reconnect_grace = reconnect_grace
        self.roster: dict[str, Person] = {person.id: person for person in roster}
        self.rules = rules
        self.plan = plan
        self.options = options
        self.ended = False
        self.locked = False
        self.mute_new_members = False
        self.waiting: dict[str, Seat] = {}
        self.seats: dict[str, Seat] = {}
        self.admitted: set[str] = set()  # entered this session before: no waiting room again
        self.first_seated: dict[str, float] = {}  # person id -> when first seated
        # The last CHAT_KEPT messages, in memory only: a restart or the end forgets them.
        self.chat: deque[ChatPosted] = deque(maxlen=CHAT_KEPT)
        self.removed: dict[str, str] = {}  # person id -> the therapist's reason
        self.moderation: dict[str, Moderation] = {}
        self.phase_index: int | None = None
        self.phase_started_at = 0.0
        self.round: Round | None = None

    # -- queries -----------------------------------------------------------------------

    @property
    def phase(self) -> Phase | None:
        return None if self.phase_index is None else self.plan.phases[self.phase_index]

    @property
    def phase_kind(self) -> PhaseKind | None:
        phase = self.phase
        return None if phase is None else phase.kind

    def time_left(self, now: float) -> float | None:
        """Seconds left in the current phase; negative once it runs over."""
        phase = self.phase
        if phase is None:
            return None
        return phase.seconds - (now - self.phase_started_at)

    @property
    def moderator_present(self) -> bool:
        return any(seat.person.role.is_moderator and not seat.away for seat in self.seats.values())

    def is_away(self, person_id: str) -> bool:
        seat = self.seats.get(person_id)
        return seat is not None and seat.away

    def away_until(self, person_id: str) -> float | None:
        """When the held seat of someone reconnecting is released."""
        seat = self.seats.get(person_id)
        if seat is None or seat.away_since is None:
            return None
        return seat.away_since + self.reconnect_grace

    def audio_forwarded(self, person_id: str) -> bool:
        seat = self.seats.get(person_id)
        if seat is None or not seat.person.role.is_seen_and_heard:
            return False
        if seat.person.role.is_moderator:
            return True
        moderation = self.moderation.get(person_id, NO_MODERATION)
        if moderation.speak_allowed:
            return True
        if moderation.muted:
            return False
        return not self._silenced_by_round(person_id)

    def video_forwarded(self, person_id: str) -> bool:
        seat = self.seats.get(person_id)
        if seat is None or not seat.person.role.is_seen_and_heard:
            return False
        moderation = self.moderation.get(person_id, NO_MODERATION)
        return seat.person.role.is_moderator or not moderation.video_stopped

    def is_muted_by_moderator(self, person_id: str) -> bool:
        return self.moderation.get(person_id, NO_MODERATION).muted

    def _silenced_by_round(self, person_id: str) -> bool:
        # Once everyone has had a turn, the round no longer silences anyone.
        round_ = self.round
        return (
            round_ is not None
            and self.options.round_mutes_others
            and round_.current is not None
            and round_.current != person_id
        )

    def _moderation(self, person_id: str) -> Moderation:
        return self.moderation.setdefault(person_id, Moderation())

    # -- resuming after a restart -----------------------------------------------------

    def live_state(self) -> dict[str, object]:
        """What the therapists decided, the raised hands, the open signals and the
        round: with the phase and the lock (stored apart), what a session resumes
        from."""
        return {
            "moderation": {
                person_id: [moderation.muted, moderation.video_stopped, moderation.speak_allowed]
                for person_id, moderation in self.moderation.items()
                if moderation != NO_MODERATION
            },
            "everyone_muted": self.mute_new_members,
            "hands": sorted(p for p, seat in self.seats.items() if seat.hand_raised),
            "signals_seen": sorted(
                p for p, seat in self.seats.items() if seat.signal_seen_while_away
            ),
            "signals": {
                p: [str(seat.signal), seat.signal_at]
                for p, seat in self.seats.items()
                if seat.signal is not None
            },
            "round": None
            if self.round is None
            else {
                "order": list(self.round.order),
                "position": self.round.position,
                "passed": sorted(self.round.passed),
            },
        }

    def restore_live_state(self, data: object) -> None:
        """The opposite of `live_state`, after `hold` gave the seats back. Whatever
        does not fit (an unknown person, a wrong type) is left out."""
        if not isinstance(data, dict):
            return
        moderation = data.get("moderation")
        if isinstance(moderation, dict):
            for person_id, flags in moderation.items():
                if person_id in self.roster and _bools(flags, 3):
                    self.moderation[person_id] = Moderation(*flags)
        self.mute_new_members = data.get("everyone_muted") is True
        for person_id in _strings(data.get("hands")):
            seat = self.seats.get(person_id)
            if seat is not None:
                seat.hand_raised = True
        for person_id in _strings(data.get("signals_seen")):
            seat = self.seats.get(person_id)
            if seat is not None and not seat.person.role.is_moderator:
                seat.signal_seen_while_away = True
        signals = data.get("signals")
        if isinstance(signals, dict):
            for person_id, (kind, at) in _signals(signals):
                seat = self.seats.get(person_id)
                if seat is not None and not seat.person.role.is_moderator:
                    seat.signal, seat.signal_at = kind, at
        round_ = data.get("round")
        if isinstance(round_, dict) and self.phase_kind is PhaseKind.ROUND:
            order = round_.get("order")
            position = round_.get("position")
            passed = round_.get("passed")
            if (
                isinstance(order, list)
                and all(isinstance(p, str) and p in self.roster for p in order)
                and type(position) is int
                and 0 <= position <= len(order)
                and isinstance(passed, list)
            ):
                self.round = Round(list(order), position, {p for p in passed if p in order})

    # -- entering and leaving ----------------------------------------------------------

    def request_entry(
        self,
        person_id: str,
        connection_id: str,
        accepted_rules_version: int | None,
        now: float,
        device: str = "",
    ) -> tuple[Entry, list[Event]]:
        """A person opened their link (a member, an observer) or the room (a therapist).
        Members and observers must have accepted the current ground rules.
        Someone whose seat is held (reconnecting) gets it back as it was; a member's
        link on a second device is refused while the first holds the seat."""
        with _Changes(self) as changes:
            self._check_not_ended()
            person = self.roster.get(person_id)
            if person is None:
                raise Denied(DenialCode.NOT_ON_ROSTER, "not on this group's roster")
            if person_id in self.removed:
                raise Denied(DenialCode.REMOVED, "a therapist removed you from this session")
            if not person.role.is_moderator and accepted_rules_version != self.rules.version:
                raise Denied(
                    DenialCode.RULES_NOT_ACCEPTED,
                    f"accept version {self.rules.version} of the ground rules first",
                )
            previous = self.seats.get(person_id) or self.waiting.get(person_id)
            if (
                previous is not None
                and not person.role.is_moderator
                and previous.device
                and previous.device != device
            ):
                raise Denied(
                    DenialCode.IN_USE,
                    "this invite link is in use on another device; close the session there first",
                )
            if previous is not None and previous.away:
                previous.connection_id = connection_id
                previous.away_since = None
                previous.device = device
                changes.add(Reconnected(Audience.EVERYONE, person_id))
                return Entry.SEATED, changes.events
            seat = Seat(person, connection_id, now, device=device)
            if previous is not None:
                changes.add(
                    Dismissed(
                        Audience.CONNECTION,
                        previous.connection_id,
                        person_id,
                        LeaveCause.REPLACED,
                    )
                )
                seat.hand_raised = previous.hand_raised
                seat.signal, seat.signal_at = previous.signal, previous.signal_at
                seat.signal_seen_while_away = previous.signal_seen_while_away
                seat.since = previous.since
                if person_id in self.seats:
                    self.seats[person_id] = seat
                    return Entry.SEATED, changes.events
                self.waiting[person_id] = seat
                return Entry.WAITING, changes.events
            returning = person.role.is_moderator or person_id in self.admitted
            if self.locked and not returning:
                raise Denied(DenialCode.LOCKED, "the session is locked")
            if returning and len(self.seats) >= self.options.max_seats:
                raise Denied(DenialCode.FULL, "every seat of the session is taken")
            full = len(self.seats) >= self.options.max_seats
            if returning or (self.options.auto_admit and self.moderator_present and not full):
                self._seat(seat, now, changes)
                if person.role.is_moderator and self.options.auto_admit:
                    for waiting_id in list(self.waiting):
                        if len(self.seats) < self.options.max_seats:
                            self._admit(waiting_id, now, changes)
                return Entry.SEATED, changes.events
            self.waiting[person_id] = seat
            changes.add(Waiting(Audience.MODERATORS, person_id))
            return Entry.WAITING, changes.events

    def admit(self, actor_id: str, person_id: str, now: float) -> list[Event]:
        with _Changes(self) as changes:
            self._authorise(actor_id, Action.ADMIT)
            if person_id not in self.waiting:
                raise Denied(DenialCode.NOT_WAITING, "this person is not in the waiting room")
            if len(self.seats) >= self.options.max_seats:
                raise Denied(DenialCode.FULL, "every seat of the session is taken")
            self._admit(person_id, now, changes)
            changes.add(Moderated(Audience.RECORD, actor_id, Action.ADMIT, person_id))
            return changes.events

    def leave(
        self, person_id: str, connection_id: str, cause: LeaveCause, now: float
    ) -> list[Event]:
        """The connection left (or broke). A connection that already lost its seat to
        a newer one changes nothing."""
        with _Changes(self) as changes:
            waiting = self.waiting.get(person_id)
            if waiting is not None and waiting.connection_id == connection_id:
                del self.waiting[person_id]
                changes.add(LeftWaitingRoom(Audience.MODERATORS, person_id))
            seat = self.seats.get(person_id)
            if seat is not None and seat.connection_id == connection_id:
                self._unseat(person_id, cause, now, changes)
            return changes.events

    def drop(self, person_id: str, connection_id: str, now: float) -> list[Event]:
        """The connection broke without a goodbye: a seat is held for the grace
        period (`release` ends it); a place in the waiting room is simply left."""
        with _Changes(self) as changes:
            waiting = self.waiting.get(person_id)
            if waiting is not None and waiting.connection_id == connection_id:
                del self.waiting[person_id]
                changes.add(LeftWaitingRoom(Audience.MODERATORS, person_id))
            seat = self.seats.get(person_id)
            if seat is not None and seat.connection_id == connection_id and not seat.away:
                seat.connection_id = ""
                seat.away_since = now
                changes.add(Reconnecting(Audience.EVERYONE, person_id, now + self.reconnect_grace))
            return changes.events

    def hold(self, person_id: str, now: float) -> list[Event]:
        """Seat someone who was seated when the server stopped, as away: they get
        their seat back when they reconnect within the grace period."""
        with _Changes(self) as changes:
            person = self.roster.get(person_id)
            if self.ended or person is None or person_id in self.seats:
                return changes.events
            if person_id in self.removed:
                return changes.events
            seat = Seat(person, "", now, away_since=now)
            self.seats[person_id] = seat
            self.admitted.add(person_id)
            return changes.events

    def release(self, person_id: str, now: float) -> list[Event]:
        """The grace period is over: a seat still away is given up; the attendance
        record says when the connection broke."""
        with _Changes(self) as changes:
            seat = self.seats.get(person_id)
            if seat is None or seat.away_since is None:
                return changes.events
            if now < seat.away_since + self.reconnect_grace:
                return changes.events
            self._unseat(person_id, LeaveCause.CONNECTION_LOST, seat.away_since, changes)
            return changes.events

    def remove(self, actor_id: str, person_id: str, reason: str, now: float) -> list[Event]:
        with _Changes(self) as changes:
            self._authorise(actor_id, Action.REMOVE)
            target = self._target(person_id, allow_waiting=True)
            reason = reason.strip()
            if len(reason) > REMOVAL_REASON_MAX_LENGTH:
                raise Denied(DenialCode.INVALID, "the reason is too long")
            self.removed[person_id] = reason
            waiting = self.waiting.pop(person_id, None)
            if waiting is not None:
                changes.add(LeftWaitingRoom(Audience.MODERATORS, person_id))
                changes.add(
                    Dismissed(
                        Audience.CONNECTION,
                        waiting.connection_id,
                        person_id,
                        LeaveCause.REMOVED,
                        reason,
                    )
                )
            else:
                self._unseat(person_id, LeaveCause.REMOVED, now, changes, reason)
            changes.add(Moderated(Audience.RECORD, actor_id, Action.REMOVE, target.person.id))
            return changes.events

    def end(self, actor_id: str, now: float) -> list[Event]:
        with _Changes(self) as changes:
            self._authorise(actor_id, Action.END)
            self._end(actor_id, now, changes)
            return changes.events

    def close(self, therapist_id: str, now: float) -> list[Event]:
        """End the session from outside the room: a therapist of the group closed
        it on the group's page (the caller checked that right)."""
        with _Changes(self) as changes:
            self._check_not_ended()
            self._end(therapist_id, now, changes)
            return changes.events

    def _end(self, actor_id: str, now: float, changes: _Changes) -> None:
        self.round = None
        for person_id in list(self.seats):
            self._unseat(person_id, LeaveCause.SESSION_ENDED, now, changes)
        for person_id, waiting in self.waiting.items():
            changes.add(
                Dismissed(
                    Audience.CONNECTION,
                    waiting.connection_id,
                    person_id,
                    LeaveCause.SESSION_ENDED,
                )
            )
        self.waiting.clear()
        self.ended = True
        changes.add(Ended(Audience.RECORD, actor_id))
        changes.add(Moderated(Audience.RECORD, actor_id, Action.END, None))

    def set_locked(self, actor_id: str, locked: bool) -> list[Event]:
        with _Changes(self) as changes:
            self._authorise(actor_id, Action.LOCK)
            if self.locked != locked:
                self.locked = locked
                changes.add(LockChanged(Audience.EVERYONE, locked))
                changes.add(Moderated(Audience.RECORD, actor_id, Action.LOCK, None))
            return changes.events

    # -- audio and video ---------------------------------------------------------------

    def mute(self, actor_id: str, person_id: str) -> list[Event]:
        """Stop forwarding a member's audio until a therapist allows it again."""
        with _Changes(self) as changes:
            self._authorise(actor_id, Action.MUTE_AUDIO)
            self._target(person_id)
            moderation = self._moderation(person_id)
            moderation.muted = True
            moderation.speak_allowed = False
            changes.add(Moderated(Audience.RECORD, actor_id, Action.MUTE_AUDIO, person_id))
            return changes.events

    def mute_all(self, actor_id: str, muted: bool) -> list[Event]:
        """Mute (or unmute) everyone but the therapists, including members who come in
        later while it holds."""
        with _Changes(self) as changes:
            self._authorise(actor_id, Action.MUTE_ALL)
            self.mute_new_members = muted
            for person_id, seat in self.seats.items():
                if not seat.person.role.is_moderator:
                    moderation = self._moderation(person_id)
                    moderation.muted = muted
                    moderation.speak_allowed = False
            changes.add(Moderated(Audience.RECORD, actor_id, Action.MUTE_ALL, None))
            return changes.events

    def allow_speak(self, actor_id: str, person_id: str) -> list[Event]:
        """Lift a member's mute (and, in a round, let them speak out of turn)."""
        with _Changes(self) as changes:
            self._authorise(actor_id, Action.ALLOW_SPEAK)
            seat = self._target(person_id)
            moderation = self._moderation(person_id)
            moderation.muted = False
            moderation.speak_allowed = True
            if seat.hand_raised:
                seat.hand_raised = False
                changes.add(HandChanged(Audience.EVERYONE, person_id, False))
            changes.add(Moderated(Audience.RECORD, actor_id, Action.ALLOW_SPEAK, person_id))
            return changes.events

    def set_video_stopped(self, actor_id: str, person_id: str, stopped: bool) -> list[Event]:
        with _Changes(self) as changes:
            self._authorise(actor_id, Action.STOP_VIDEO)
            self._target(person_id)
            self._moderation(person_id).video_stopped = stopped
            changes.add(Moderated(Audience.RECORD, actor_id, Action.STOP_VIDEO, person_id))
            return changes.events

    def raise_hand(self, person_id: str, raised: bool) -> list[Event]:
        with _Changes(self) as changes:
            seat = self._actor(person_id, Action.RAISE_HAND)
            if seat.hand_raised != raised:
                seat.hand_raised = raised
                changes.add(HandChanged(Audience.EVERYONE, person_id, raised))
            return changes.events

    # -- phases and rounds -------------------------------------------------------------

    def advance_phase(self, actor_id: str, now: float) -> list[Event]:
        """Start the first phase, or move on to the next."""
        with _Changes(self) as changes:
            self._authorise(actor_id, Action.ADVANCE_PHASE)
            index = 0 if self.phase_index is None else self.phase_index + 1
            if index >= len(self.plan.phases):
                raise Denied(DenialCode.NOT_NOW, "this was the last phase: end the session")
            self.phase_index = index
            self.phase_started_at = now
            phase = self.plan.phases[index]
            for moderation in self.moderation.values():
                moderation.speak_allowed = False
            changes.add(PhaseChanged(Audience.EVERYONE, index, phase, now))
            if phase.kind is PhaseKind.ROUND:
                order = [
                    person_id
                    for person_id, person in self.roster.items()
                    if person.role is Role.MEMBER and person_id in self.seats
                ]
                self.round = Round(order)
                self._turn_changed(changes)
            else:
                self.round = None
            changes.add(Moderated(Audience.RECORD, actor_id, Action.ADVANCE_PHASE, None))
            return changes.events

    def next_speaker(self, actor_id: str) -> list[Event]:
        """A therapist moves the round on; the current speaker may too ("I'm done")."""
        with _Changes(self) as changes:
            self._check_not_ended()
            current = self.round.current if self.round is not None else None
            if actor_id != current or current is None:
                self._authorise(actor_id, Action.NEXT_SPEAKER)
            else:
                self._actor(actor_id, Action.PASS_TURN)
            self._advance_turn(changes)
            return changes.events

    def pass_turn(self, person_id: str) -> list[Event]:
        """The current speaker passes: nothing to say this round."""
        with _Changes(self) as changes:
            self._actor(person_id, Action.PASS_TURN)
            assert self.round is not None  # phase_allows checked that a round runs
            if self.round.current != person_id:
                raise Denied(DenialCode.NOT_YOUR_TURN, "it is not your turn")
            self.round.passed.add(person_id)
            self._advance_turn(changes)
            return changes.events

    def _advance_turn(self, changes: _Changes) -> None:
        round_ = self.round
        if round_ is None or round_.current is None:
            raise Denied(DenialCode.NOT_NOW, "no round is running")
        round_.position += 1
        while round_.current is not None and round_.current not in self.seats:
            round_.position += 1
        self._turn_changed(changes)

    def _turn_changed(self, changes: _Changes) -> None:
        round_ = self.round
        assert round_ is not None
        changes.add(
            TurnChanged(
                Audience.EVERYONE,
                tuple(round_.order),
                round_.current,
                tuple(p for p in round_.order if p in round_.passed),
            )
        )

    # -- messages ----------------------------------------------------------------------

    def post_chat(self, person_id: str, channel: Channel, text: str, now: float) -> list[Event]:
        action = Action.CHAT_GROUP if channel is Channel.GROUP else Action.CHAT_THERAPISTS
        with _Changes(self) as changes:
            self._actor(person_id, action)
            if channel is Channel.GROUP and not self.rules.chat_enabled:
                raise Denied(DenialCode.CHAT_OFF, "the ground rules switch the chat off")
            text = text.strip()
            if not text or len(text) > CHAT_MAX_LENGTH:
                raise Denied(DenialCode.INVALID, f"a message has 1 to {CHAT_MAX_LENGTH} characters")
            audience = Audience.EVERYONE if channel is Channel.GROUP else Audience.MODERATORS
            posted = ChatPosted(audience, channel, person_id, text, now)
            self.chat.append(posted)
            changes.add(posted)
            return changes.events

    def chat_for(self, person_id: str) -> list[ChatPosted]:
        """The kept chat a person gets back on a reload or reconnect: for a therapist,
        all of it; for anyone else, the group's messages since she was first seated in
        this session (what reached her, or would have while her connection was broken)."""
        person = self.roster.get(person_id)
        if person is None:
            return []
        if person.role.is_moderator:
            return list(self.chat)
        since = self.first_seated.get(person_id)
        if since is None:
            return []
        return [m for m in self.chat if m.channel is Channel.GROUP and m.at >= since]

    def signal(self, person_id: str, kind: SignalKind, now: float) -> list[Event]:
        """A member's silent signal, to the therapists only. It stays open (shown to
        therapists who come in later too) until one of them acknowledges it; a new
        signal takes the place of an open one."""
        with _Changes(self) as changes:
            seat = self._actor(person_id, Action.SIGNAL_THERAPISTS)
            seat.signal, seat.signal_at = kind, now
            seat.signal_seen_while_away = False
            changes.add(SignalSent(Audience.MODERATORS, person_id, kind, now))
            return changes.events

    def acknowledge_signal(self, actor_id: str, person_id: str) -> list[Event]:
        """A therapist saw the member's open signal. Acknowledging a signal that is
        no longer open (the cotherapist was quicker) changes nothing."""
        with _Changes(self) as changes:
            self._authorise(actor_id, Action.ACKNOWLEDGE_SIGNAL)
            seat = self._target(person_id)
            if seat.signal is not None:
                seat.signal = None
                seat.signal_seen_while_away = seat.away  # told now, or once she is back
                changes.add(SignalAcknowledged(Audience.MODERATORS, person_id, actor_id))
                changes.add(
                    Moderated(Audience.RECORD, actor_id, Action.ACKNOWLEDGE_SIGNAL, person_id)
                )
            return changes.events

    def signal_seen_news(self, person_id: str) -> bool:
        """Whether a therapist acknowledged the member's signal while she was away,
        which she has not been told yet; asking tells her (True only once)."""
        seat = self.seats.get(person_id)
        if seat is None or not seat.signal_seen_while_away:
            return False
        seat.signal_seen_while_away = False
        return True

    def open_signals(self) -> list[tuple[str, SignalKind, float]]:
        """(member, kind, sent at) of every signal no therapist acknowledged yet,
        oldest first."""
        found = [
            (person_id, seat.signal, seat.signal_at)
            for person_id, seat in self.seats.items()
            if seat.signal is not None
        ]
        return sorted(found, key=lambda signal: signal[2])

    # -- internals ---------------------------------------------------------------------

    def _check_not_ended(self) -> None:
        if self.ended:
            raise Denied(DenialCode.SESSION_ENDED, "the session has ended")

    def _actor(self, person_id: str, action: Action) -> Seat:
        """The seated person doing `action`, if their role and the phase allow it."""
        self._check_not_ended()
        seat = self.seats.get(person_id)
        if seat is None:
            raise Denied(DenialCode.NOT_PRESENT, "you are not in the session")
        if not role_may(seat.person.role, action):
            raise Denied(DenialCode.NOT_ALLOWED, f"{seat.person.role} may not {action}")
        if not phase_allows(self.phase_kind, action):
            raise Denied(DenialCode.NOT_NOW, f"not possible in this phase: {action}")
        return seat

    def _authorise(self, actor_id: str, action: Action) -> None:
        self._actor(actor_id, action)

    def _target(self, person_id: str, allow_waiting: bool = False) -> Seat:
        seat = self.seats.get(person_id)
        if seat is None and allow_waiting:
            seat = self.waiting.get(person_id)
        if seat is None:
            raise Denied(DenialCode.NOT_PRESENT, "this person is not in the session")
        if seat.person.role.is_moderator:
            raise Denied(DenialCode.TARGET_IS_THERAPIST, "therapists cannot be moderated")
        return seat

    def _admit(self, person_id: str, now: float, changes: _Changes) -> None:
        seat = self.waiting.pop(person_id)
        changes.add(LeftWaitingRoom(Audience.MODERATORS, person_id))
        seat.since = now
        self._seat(seat, now, changes)

    def _seat(self, seat: Seat, now: float, changes: _Changes) -> None:
        person = seat.person
        self.seats[person.id] = seat
        self.admitted.add(person.id)
        self.first_seated.setdefault(person.id, now)
        if self.mute_new_members and not person.role.is_moderator:
            moderation = self._moderation(person.id)
            moderation.muted = True
            moderation.speak_allowed = False
        if self.round is not None and person.role is Role.MEMBER:
            if person.id not in self.round.order:
                self.round.order.append(person.id)
                self._turn_changed(changes)
        changes.add(Seated(Audience.EVERYONE, person.id))
        changes.add(Attendance(Audience.RECORD, person.id, True, now))

    def _unseat(
        self,
        person_id: str,
        cause: LeaveCause,
        now: float,
        changes: _Changes,
        reason: str = "",
    ) -> None:
        seat = self.seats.pop(person_id)
        if cause is not LeaveCause.LEFT and cause is not LeaveCause.CONNECTION_LOST:
            changes.add(
                Dismissed(Audience.CONNECTION, seat.connection_id, person_id, cause, reason)
            )
        changes.add(Departed(Audience.EVERYONE, person_id, cause))
        changes.add(Attendance(Audience.RECORD, person_id, False, now, cause))
        round_ = self.round
        if round_ is not None and round_.current == person_id:
            self._advance_turn(changes)


def _strings(data: object) -> list[str]:
    """The strings of a list in live_state; nothing if it is not a list."""
    return [item for item in data if isinstance(item, str)] if isinstance(data, list) else []


def _signals(data: dict[object, object]) -> Iterator[tuple[str, tuple[SignalKind, float]]]:
    """The well-formed entries of live_state's "signals": person -> [kind, at]."""
    for person_id, entry in data.items():
        if not isinstance(person_id, str) or not isinstance(entry, list) or len(entry) != 2:
            continue
        kind, at = entry
        if kind in SIGNAL_KINDS and type(at) in (int, float):
            yield person_id, (SignalKind(kind), float(at))


def _bools(value: object, count: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == count
        and all(type(item) is bool for item in value)
    )


class _Changes:
    """Collects a command's events; when the command succeeds, appends to the same
    list a MediaPermission event for every person, seated before and after, whose
    forwarding changed.
    A command that raises leaves the session as it was: commands check everything
    before they change anything."""

    def __init__(self, session: TherapySession) -> None:
        self.session = session
        self.events: list[Event] = []
        self._before = self._forwarding()

    def _forwarding(self) -> dict[str, tuple[bool, bool]]:
        session = self.session
        return {
            person_id: (session.audio_forwarded(person_id), session.video_forwarded(person_id))
            for person_id in session.seats
        }

    def add(self, event: Event) -> None:
        self.events.append(event)

    def __enter__(self) -> _Changes:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        if exc_type is not None:
            return
        after = self._forwarding()
        for person_id, (audio, video) in after.items():
            # Someone seated by this command is announced with their forwarding
            # (Seated); only changes for people already present are events.
            if person_id in self._before and self._before[person_id] != (audio, video):
                self.events.append(MediaPermission(Audience.EVERYONE, person_id, audio, video))
