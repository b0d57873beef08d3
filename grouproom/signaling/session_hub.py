"""SessionHub: therapy sessions in progress, between the sockets, the domain
(rooms.therapy_session), the media plane and the store.

A session comes alive when the first person enters it (a therapist opened it on
the group's page before). The hub turns requests into TherapySession commands,
and the events those return into protocol messages for exactly their audience,
forwarding decisions for the media plane, and rows in the store (attendance,
audit log, the phase and lock a restart resumes from).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from aiohttp import WSCloseCode

from grouproom.media.connection_quality import Quality
from grouproom.media.contract import Kind, MediaRoom, MediaSettings
from grouproom.media.room_worker import open_media_room
from grouproom.protocol import (
    AnyServerMessage,
    Closing,
    ClosingCause,
    ConnectionQuality,
    ErrorCode,
    IceServer,
    MediaState,
    ParticipantLeft,
    ProtocolError,
    TrackPublished,
    TrackRemoved,
    VideoCaps,
)
from grouproom.protocol.session_messages import (
    Admitted,
    ChatMessage,
    Dismissed,
    Hand,
    ParticipantReconnected,
    ParticipantReconnecting,
    Permissions,
    PersonInfo,
    PhaseInfo,
    RoundInfo,
    SeatInfo,
    SessionInfoReply,
    SessionParticipantInfo,
    SessionParticipantJoined,
    SessionState,
    SessionStateInfo,
    SignalAcknowledged,
    SignalReceived,
    WaitingRoom,
)
from grouproom.protocol.session_requests import Credentials, ModerationAction
from grouproom.pseudonym import pseudonym
from grouproom.rooms.invites import InviteError, InviteProblem, read_invite
from grouproom.rooms.leave_cause import LeaveCause
from grouproom.rooms.permissions import Action
from grouproom.rooms.roles import Role
from grouproom.rooms.therapy_session import (
    Attendance,
    Audience,
    Channel,
    ChatPosted,
    DenialCode,
    Denied,
    Departed,
    Ended,
    Event,
    HandChanged,
    LeftWaitingRoom,
    LockChanged,
    MediaPermission,
    Moderated,
    Person,
    PhaseChanged,
    Reconnected,
    Reconnecting,
    Seated,
    SessionOptions,
    SignalKind,
    SignalSent,
    TherapySession,
    TurnChanged,
    Waiting,
)
from grouproom.rooms.therapy_session import (
    Dismissed as DismissedEvent,
)
from grouproom.rooms.therapy_session import (
    SignalAcknowledged as SignalAcknowledgedEvent,
)
from grouproom.settings import Settings
from grouproom.signaling.ice_servers import ice_servers_for
from grouproom.signaling.outbox import Outbox
from grouproom.store.records import AttendanceEntry, AuditEntry, Group, SessionRecord
from grouproom.store.store import Store

logger = logging.getLogger(__name__)

MAX_RECEIVE_SLOTS = 31
GOOD = Quality.GOOD.label  # a connection's quality until the media plane says otherwise
GOOD_LINE = (GOOD, "")  # that quality, with no way it is weak in
SHUTDOWN_GRACE = 5.0
DENIAL_CODES: dict[DenialCode, ErrorCode] = {
    DenialCode.NOT_ALLOWED: ErrorCode.NOT_ALLOWED,
    DenialCode.NOT_NOW: ErrorCode.NOT_NOW,
    DenialCode.SESSION_ENDED: ErrorCode.SESSION_ENDED,
    DenialCode.NOT_ON_ROSTER: ErrorCode.INVITE_INVALID,
    DenialCode.RULES_NOT_ACCEPTED: ErrorCode.RULES_NOT_ACCEPTED,
    DenialCode.LOCKED: ErrorCode.LOCKED,
    DenialCode.REMOVED: ErrorCode.REMOVED,
    DenialCode.NOT_PRESENT: ErrorCode.NOT_PRESENT,
    DenialCode.NOT_WAITING: ErrorCode.NOT_WAITING,
    DenialCode.TARGET_IS_THERAPIST: ErrorCode.TARGET_IS_THERAPIST,
    DenialCode.NOT_YOUR_TURN: ErrorCode.NOT_YOUR_TURN,
    DenialCode.CHAT_OFF: ErrorCode.CHAT_OFF,
    DenialCode.INVALID: ErrorCode.INVALID_DATA,
    DenialCode.IN_USE: ErrorCode.IN_USE,
    DenialCode.FULL: ErrorCode.ROOM_FULL,
}


Acknowledge = Callable[[], None]


def refused(denied: Denied) -> ProtocolError:
    return ProtocolError(DENIAL_CODES[denied.code], denied.message)


# An early member's page tries to enter every 10 s or so: one that has not tried for
# this long has gone (closed, or asleep).
EARLY_FRESH = 30.0
# A group's session closed this recently counts as today's, ended: a page opened then
# says so, instead of waiting for the session to start.
RECENTLY_ENDED = timedelta(hours=3)


def millis(seconds: float) -> int:
    return int(seconds * 1000)


@dataclass(frozen=True, slots=True)
class Identity:
    group: Group
    person: Person


@dataclass
class Live:
    """One session in progress."""

    record: SessionRecord
    group: Group
    session: TherapySession
    forwarder: MediaRoom
    outboxes: dict[str, Outbox] = field(default_factory=dict)  # by connection id
    self_muted: dict[str, tuple[bool, bool]] = field(default_factory=dict)  # person: a, v
    connected: set[str] = field(default_factory=set)  # persons whose media is connected
    # How well each connected person's line carries the room and the way it is weak
    # in, where not "good".
    connection: dict[str, tuple[str, str]] = field(default_factory=dict)
    # Seats held for someone reconnecting: released when the timer fires.
    release_timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)

    def name(self, person_id: str) -> str:
        person = self.session.roster.get(person_id)
        return person.display_name if person else person_id

    def chat_message(self, posted: ChatPosted) -> ChatMessage:
        """A chat message as it is sent (now, or again in a seat)."""
        return ChatMessage(
            str(posted.channel),
            posted.sender_id,
            self.name(posted.sender_id),
            posted.text,
            millis(posted.at),
        )

    def signal_message(self, person_id: str, kind: SignalKind, at: float) -> SignalReceived:
        """A member's signal as therapists get it (sent now, or still open in a seat)."""
        return SignalReceived(person_id, self.name(person_id), str(kind), millis(at))

    def seat_connection(self, person_id: str) -> Outbox | None:
        seat = self.session.seats.get(person_id)
        return None if seat is None else self.outboxes.get(seat.connection_id)


class SessionEvents:
    """The ForwarderEvents of one live session."""

    def __init__(self, hub: SessionHub, session_id: str) -> None:
        self.hub = hub
        self.session_id = session_id

    def _send(self, subscriber_id: str, message: TrackPublished | TrackRemoved) -> None:
        live = self.hub.live.get(self.session_id)
        outbox = live.seat_connection(subscriber_id) if live else None
        if outbox is not None:
            outbox.send(message)

    def track_published(self, subscriber_id: str, publisher_id: str, kind: Kind, mid: str) -> None:
        self._send(subscriber_id, TrackPublished(publisher_id, kind, mid))

    def track_removed(self, subscriber_id: str, publisher_id: str, kind: Kind, mid: str) -> None:
        self._send(subscriber_id, TrackRemoved(publisher_id, kind, mid))

    def connection_lost(self, participant_id: str) -> None:
        self.hub.spawn(self.hub.media_lost(self.session_id, participant_id))

    def connection_quality(self, participant_id: str, quality: str, direction: str) -> None:
        live = self.hub.live.get(self.session_id)
        if live is not None and participant_id in live.connected:
            live.connection[participant_id] = (quality, direction)
            self.hub.tell_everyone(live, ConnectionQuality(participant_id, quality, direction))


class SessionHub:
    def __init__(
        self,
        settings: Settings,
        media_settings: MediaSettings,
        store: Store,
        secret: bytes,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.media_settings = media_settings
        self.store = store
        self.secret = secret
        self.clock = clock
        self.live: dict[str, Live] = {}  # by session id
        self._lock = asyncio.Lock()
        # Who tried to enter before the session was opened (their pages try again now
        # and then), for the therapists' group page: group id -> person id -> (name,
        # first try, last try). In memory only; a group's entries go when it opens.
        self.early: dict[str, dict[str, tuple[str, float, float]]] = {}
        self.early_fresh = EARLY_FRESH
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- who is asking -------------------------------------------------------------

    async def identify(self, credentials: Credentials, therapist_id: str | None) -> Identity:
        if credentials.invite is not None:
            return await self._member(credentials.invite)
        if therapist_id is None:
            raise ProtocolError(ErrorCode.LOGIN_REQUIRED, "log in as a therapist first")
        group = await self.store.group(credentials.group or "")
        role = group.therapist_role(therapist_id) if group else None
        if group is None or role is None:
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "you are not a therapist of this group")
        therapist = await self.store.therapist(therapist_id)
        assert therapist is not None
        return Identity(group, Person(therapist.id, therapist.display_name, role))

    async def _member(self, token: str) -> Identity:
        try:
            claims = read_invite(self.secret, token, self.clock())
        except InviteError as error:
            if error.problem is InviteProblem.EXPIRED:
                raise ProtocolError(
                    ErrorCode.INVITE_EXPIRED, "this invite link has expired"
                ) from None
            raise ProtocolError(ErrorCode.INVITE_INVALID, "this invite link is not valid") from None
        entry = await self.store.roster_entry(claims.member_id)
        if entry is None or entry.group_id != claims.group_id:
            raise ProtocolError(ErrorCode.INVITE_INVALID, "this invite link is no longer valid")
        if entry.invite_serial != claims.serial:
            raise ProtocolError(ErrorCode.INVITE_INVALID, "this invite link was revoked")
        group = await self.store.group(entry.group_id)
        assert group is not None
        return Identity(group, Person(entry.id, entry.display_name, entry.role))

    # -- the way in ----------------------------------------------------------------

    async def info(
        self, request_id: str, credentials: Credentials, therapist_id: str | None
    ) -> SessionInfoReply:
        identity = await self.identify(credentials, therapist_id)
        group, person = identity.group, identity.person
        record = await self.store.open_session_of(group.id)
        live = self.live.get(record.id) if record else None
        rules = live.session.rules if live else await self.store.current_rules(group.id)
        accepted = person.role.is_moderator or await self.store.has_accepted(
            person.id, group.id, rules.version
        )
        recently_ended = False
        if record is None:
            ends = [s.closed_at for s in await self.store.sessions_of(group.id) if s.closed_at]
            recently_ended = bool(ends) and _when(self.clock()) - max(ends) < RECENTLY_ENDED
        return SessionInfoReply(
            request_id=request_id,
            you=PersonInfo(person.id, person.display_name, str(person.role)),
            group_name=group.name,
            language=group.language,
            rules_version=rules.version,
            rules_text=rules.text,
            chat_enabled=rules.chat_enabled,
            accepted_before=accepted,
            session_open=record is not None,
            recently_ended=recently_ended,
            schedule=group.schedule,
        )

    async def _live(self, group: Group) -> Live:
        async with self._lock:
            record = await self.store.open_session_of(group.id)
            if record is None:
                raise ProtocolError(
                    ErrorCode.SESSION_NOT_OPEN, "the session has not been opened yet"
                )
            live = self.live.get(record.id)
            if live is None:
                live = await self._revive(record, group)
                self.live[record.id] = live
                self.early.pop(group.id, None)
            return live

    def _note_early(self, identity: Identity) -> None:
        person = identity.person
        if person.role.is_moderator:
            return
        now = self.clock()
        waiting = self.early.setdefault(identity.group.id, {})
        _, first, _ = waiting.get(person.id, (person.display_name, now, now))
        waiting[person.id] = (person.display_name, first, now)

    def early_arrivals(self, group_id: str) -> list[tuple[str, datetime]]:
        """Who waits for the group's session to open (their page tried to enter within
        the last `early_fresh` seconds), and since when; the first to come first."""
        waiting = self.early.get(group_id, {})
        now = self.clock()
        for person_id, (_, _, last) in list(waiting.items()):
            if now - last > self.early_fresh:
                del waiting[person_id]
        return [
            (name, _when(first)) for name, first, _ in sorted(waiting.values(), key=lambda w: w[1])
        ]

    async def _revive(self, record: SessionRecord, group: Group) -> Live:
        """Make a session live: its roster, rules and plan from the store, and the
        phase, lock, admissions and removals it had before a restart."""
        people: list[Person] = []
        for therapist_id, role in (
            (group.lead_therapist_id, Role.LEAD_THERAPIST),
            (group.cotherapist_id, Role.COTHERAPIST),
        ):
            therapist = await self.store.therapist(therapist_id) if therapist_id else None
            if therapist is not None:
                people.append(Person(therapist.id, therapist.display_name, role))
        for entry in await self.store.roster_of(group.id):
            people.append(Person(entry.id, entry.display_name, entry.role))
        session = TherapySession(
            record.id,
            people,
            await self.store.current_rules(group.id),
            await self.store.plan_of(group.id),
            SessionOptions(
                auto_admit=group.auto_admit,
                round_mutes_others=group.round_mutes_others,
                max_seats=self.settings.session_max_participants,
            ),
            reconnect_grace=self.settings.reconnect_grace,
        )
        session.locked = record.locked
        if record.phase_index is not None and record.phase_started_at is not None:
            session.phase_index = min(record.phase_index, len(session.plan.phases) - 1)
            session.phase_started_at = record.phase_started_at.timestamp()
        entries = await self.store.attendance_of_session(record.id)
        for record_entry in entries:
            if record_entry.joined:
                session.admitted.add(record_entry.person_id)
            elif record_entry.cause == LeaveCause.REMOVED:
                session.removed[record_entry.person_id] = ""
        seated = seated_when_stopped(entries)
        # Seated when the server stopped: their seats wait for them, as after any
        # broken connection.
        now = self.clock()
        for person_id in seated:
            session.hold(person_id, now)
        if record.live_state:
            try:
                session.restore_live_state(json.loads(record.live_state))
            except ValueError:
                logger.warning("session %s: unreadable saved state", pseudonym(record.id))
        seats = min(len(people), self.settings.session_max_participants)
        slots = min(MAX_RECEIVE_SLOTS, max(1, seats - 1))
        media = replace(self.media_settings, receive_slots=slots)
        forwarder = open_media_room(
            media, SessionEvents(self, record.id), self.settings.room_workers
        )
        logger.info("session %s is live", pseudonym(record.id))
        live = Live(record, group, session, forwarder)
        for person_id in seated:
            if session.is_away(person_id):
                self._release_later(live, person_id)
        return live

    async def resume(self) -> None:
        """At start-up: bring back the sessions that had people in them when the
        server stopped, so that their held seats count down from now."""
        for record in await self.store.open_sessions():
            entries = await self.store.attendance_of_session(record.id)
            group = await self.store.group(record.group_id)
            if seated_when_stopped(entries) and group is not None:
                await self._live(group)

    async def enter(
        self,
        connection_id: str,
        outbox: Outbox,
        credentials: Credentials,
        therapist_id: str | None,
        accept_rules: int | None,
        self_muted: tuple[bool, bool],
        device: str = "",
    ) -> tuple[Live, str, SeatInfo | None]:
        """Enter the waiting room or a seat. Returns the live session, the person's
        id and their seat (None while waiting)."""
        identity = await self.identify(credentials, therapist_id)
        try:
            live = await self._live(identity.group)
        except ProtocolError as error:
            if error.code is ErrorCode.SESSION_NOT_OPEN:
                self._note_early(identity)
            raise
        person = identity.person
        session = live.session
        if session.roster.get(person.id) != person and person.id not in session.seats:
            # Added to the roster during the session, or another role since it began (a
            # group handed over: its new lead comes in as the lead). Someone seated keeps
            # what the others were told until she comes in again.
            session.roster[person.id] = person
        now = self.clock()
        if not person.role.is_moderator and accept_rules == session.rules.version:
            await self.store.record_acceptance(
                person.id, live.group.id, accept_rules, live.record.id, _when(now)
            )
        try:
            _, events = session.request_entry(person.id, connection_id, accept_rules, now, device)
        except Denied as denied:
            raise refused(denied) from None
        live.outboxes[connection_id] = outbox
        live.self_muted[person.id] = self_muted
        await self._dispatch(live, events, person.id)
        seat = self.seat_info(live, person.id) if person.id in session.seats else None
        return live, person.id, seat

    def seat_info(self, live: Live, person_id: str) -> SeatInfo:
        session = live.session
        person = session.seats[person_id].person
        waiting = None
        if person.role.is_moderator:
            waiting = self._waiting_people(live)
        signals = tuple(
            live.signal_message(member, kind, at)
            for member, kind, at in session.open_signals()
            if person.role.is_moderator or member == person_id
        )
        return SeatInfo(
            participant_id=person_id,
            you=self._participant(live, person_id),
            participants=tuple(
                self._participant(live, other) for other in session.seats if other != person_id
            ),
            receive_slots=live.forwarder.settings.receive_slots,
            ice_servers=self._ice_servers(person_id),
            video=VideoCaps(
                max_width=self.settings.video_max_width,
                max_height=self.settings.video_max_height,
                max_framerate=self.settings.video_max_framerate,
                max_bitrate=self.settings.video_max_bitrate,
            ),
            state=self._state(live),
            waiting=waiting,
            signals=signals,
            signal_seen=session.signal_seen_news(person_id),
            chat=tuple(live.chat_message(posted) for posted in session.chat_for(person_id)),
            reconnect_grace=self.settings.reconnect_grace,
        )

    def _ice_servers(self, person_id: str) -> tuple[IceServer, ...]:
        return ice_servers_for(self.settings, person_id)

    def _participant(self, live: Live, person_id: str) -> SessionParticipantInfo:
        session = live.session
        seat = session.seats[person_id]
        audio_muted, video_muted = live.self_muted.get(person_id, (False, False))
        quality, direction = (
            live.connection.get(person_id, GOOD_LINE) if person_id in live.connected else GOOD_LINE
        )
        return SessionParticipantInfo(
            id=person_id,
            name=seat.person.display_name,
            role=str(seat.person.role),
            audio_muted=audio_muted,
            video_muted=video_muted,
            audio_forwarded=session.audio_forwarded(person_id),
            video_forwarded=session.video_forwarded(person_id),
            hand_raised=seat.hand_raised,
            reconnecting=seat.away,
            connection=quality,
            connection_direction=direction,
        )

    @staticmethod
    def _waiting_people(live: Live) -> tuple[PersonInfo, ...]:
        return tuple(
            PersonInfo(seat.person.id, seat.person.display_name, str(seat.person.role))
            for seat in live.session.waiting.values()
        )

    def _state(self, live: Live) -> SessionStateInfo:
        session = live.session
        phase = session.phase
        round_ = session.round
        return SessionStateInfo(
            plan=tuple((p.name, str(p.kind), p.minutes) for p in session.plan.phases),
            phase=None
            if phase is None or session.phase_index is None
            else PhaseInfo(
                session.phase_index,
                phase.name,
                str(phase.kind),
                phase.minutes,
                millis(session.phase_started_at),
            ),
            round=None
            if round_ is None
            else RoundInfo(
                tuple(round_.order),
                round_.current,
                tuple(p for p in round_.order if p in round_.passed),
            ),
            locked=session.locked,
            everyone_muted=session.mute_new_members,
            chat_enabled=session.rules.chat_enabled,
            server_time=millis(self.clock()),
        )

    # -- in the session ------------------------------------------------------------

    async def moderate(
        self,
        live: Live,
        actor: str,
        action: ModerationAction,
        target: str | None,
        reason: str,
        acknowledge: Acknowledge,
    ) -> None:
        session = live.session
        now = self.clock()
        subject = target or ""
        commands: dict[ModerationAction, Callable[[], list[Event]]] = {
            ModerationAction.ADMIT: lambda: session.admit(actor, subject, now),
            ModerationAction.MUTE: lambda: session.mute(actor, subject),
            ModerationAction.ALLOW_SPEAK: lambda: session.allow_speak(actor, subject),
            ModerationAction.STOP_VIDEO: lambda: session.set_video_stopped(actor, subject, True),
            ModerationAction.ALLOW_VIDEO: lambda: session.set_video_stopped(actor, subject, False),
            ModerationAction.REMOVE: lambda: session.remove(actor, subject, reason, now),
            ModerationAction.MUTE_ALL: lambda: session.mute_all(actor, True),
            ModerationAction.UNMUTE_ALL: lambda: session.mute_all(actor, False),
            ModerationAction.LOCK: lambda: session.set_locked(actor, True),
            ModerationAction.UNLOCK: lambda: session.set_locked(actor, False),
            ModerationAction.END: lambda: session.end(actor, now),
            ModerationAction.ADVANCE_PHASE: lambda: session.advance_phase(actor, now),
            ModerationAction.NEXT_SPEAKER: lambda: session.next_speaker(actor),
            ModerationAction.ACKNOWLEDGE_SIGNAL: lambda: session.acknowledge_signal(actor, subject),
        }
        await self._command(live, actor, commands[action], acknowledge)

    async def raise_hand(
        self, live: Live, person_id: str, raised: bool, acknowledge: Acknowledge
    ) -> None:
        session = live.session
        await self._command(
            live, person_id, lambda: session.raise_hand(person_id, raised), acknowledge
        )

    async def turn(
        self, live: Live, person_id: str, passed: bool, acknowledge: Acknowledge
    ) -> None:
        session = live.session
        if passed:
            command = lambda: session.pass_turn(person_id)  # noqa: E731
        else:
            command = lambda: session.next_speaker(person_id)  # noqa: E731
        await self._command(live, person_id, command, acknowledge)

    async def chat(
        self, live: Live, person_id: str, channel: str, text: str, acknowledge: Acknowledge
    ) -> None:
        now = self.clock()
        session = live.session
        await self._command(
            live,
            person_id,
            lambda: session.post_chat(person_id, Channel(channel), text, now),
            acknowledge,
        )

    async def signal(self, live: Live, person_id: str, kind: str, acknowledge: Acknowledge) -> None:
        now = self.clock()
        session = live.session
        await self._command(
            live, person_id, lambda: session.signal(person_id, SignalKind(kind), now), acknowledge
        )

    async def leave(
        self, live: Live, person_id: str, connection_id: str, cause: LeaveCause
    ) -> None:
        events = live.session.leave(person_id, connection_id, cause, self.clock())
        live.outboxes.pop(connection_id, None)
        await self._dispatch(live, events, person_id)

    async def drop(self, live: Live, person_id: str, connection_id: str) -> None:
        """The connection broke without `leave`: the seat is held for the grace
        period."""
        events = live.session.drop(person_id, connection_id, self.clock())
        live.outboxes.pop(connection_id, None)
        await self._dispatch(live, events, person_id)

    async def media_lost(self, session_id: str, person_id: str) -> None:
        """The person's peer connection failed: their socket is closed with cause
        `connection_lost`, and their seat is held while the browser reconnects."""
        live = self.live.get(session_id)
        seat = live.session.seats.get(person_id) if live else None
        if live is None or seat is None or seat.away:
            return
        outbox = live.outboxes.get(seat.connection_id)
        await self.drop(live, person_id, seat.connection_id)
        if outbox is not None:
            outbox.close(WSCloseCode.OK, Closing(ClosingCause.CONNECTION_LOST))

    def _release_later(self, live: Live, person_id: str) -> None:
        until = live.session.away_until(person_id)
        if until is None:
            return
        self._cancel_release(live, person_id)
        delay = max(0.0, until - self.clock())
        live.release_timers[person_id] = asyncio.get_running_loop().call_later(
            delay, lambda: self.spawn(self._release(live, person_id))
        )

    @staticmethod
    def _cancel_release(live: Live, person_id: str) -> None:
        timer = live.release_timers.pop(person_id, None)
        if timer is not None:
            timer.cancel()

    async def _release(self, live: Live, person_id: str) -> None:
        live.release_timers.pop(person_id, None)
        if self.live.get(live.record.id) is not live:
            return
        events = live.session.release(person_id, self.clock())
        if not events and live.session.is_away(person_id):
            # Not due yet by the session's clock: the event loop's timer ran on a
            # clock of its own and fired early (uvloop rounds to whole milliseconds
            # and fired up to 1.2 ms early in about a quarter of tries), or the wall
            # clock was set back. Without another timer the seat stayed held for good.
            self._release_later(live, person_id)
            return
        await self._dispatch(live, events, person_id)

    def set_self_muted(self, live: Live, person_id: str, audio: bool, video: bool) -> None:
        if person_id not in live.session.seats:
            raise ProtocolError(ErrorCode.NOT_PRESENT, "you are not in the session")
        live.self_muted[person_id] = (audio, video)
        self._apply_forwarding(live, person_id)
        self._send(live, Audience.EVERYONE, MediaState(person_id, audio, video), exclude=person_id)

    def set_visible_video(self, live: Live, person_id: str, publisher_ids: frozenset[str]) -> None:
        if person_id not in live.session.seats:
            raise ProtocolError(ErrorCode.NOT_PRESENT, "you are not in the session")
        live.forwarder.set_visible_video(person_id, publisher_ids)

    async def connect_media(self, live: Live, person_id: str, offer_sdp: str) -> str:
        seat = live.session.seats.get(person_id)
        if seat is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "wait until a therapist lets you in")
        answer = await live.forwarder.connect(
            person_id, offer_sdp, publishes=seat.person.role.is_seen_and_heard
        )
        live.connected.add(person_id)
        if live.connection.pop(person_id, GOOD_LINE) != GOOD_LINE:  # a new one starts good
            self.tell_everyone(live, ConnectionQuality(person_id, GOOD))
        self._apply_forwarding(live, person_id)
        return answer

    async def end_from_page(self, session_id: str, therapist_id: str) -> None:
        """The session was closed on the group's page: end it for everyone here."""
        live = self.live.get(session_id)
        if live is None:
            return
        try:
            events = live.session.close(therapist_id, self.clock())
        except Denied:
            events = []
        await self._dispatch(live, events, therapist_id, closed_by_page=True)
        await self._retire(live)

    async def shutdown(self) -> None:
        """Let running handlers (a lost connection being cleaned up) finish, then
        close every live session's sockets and forwarder."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=SHUTDOWN_GRACE)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for live in list(self.live.values()):
            await self._retire(live)

    # -- events to messages, media and records ---------------------------------------

    async def _command(
        self,
        live: Live,
        actor: str,
        command: Callable[[], list[Event]],
        acknowledge: Acknowledge,
    ) -> None:
        """Run a session command; the requester's reply goes out before the events
        (which may close the requester's own socket, as `end` does)."""
        try:
            events = command()
        except Denied as denied:
            raise refused(denied) from None
        # Stored before the reply: what a therapist saw acknowledged survives a
        # restart that follows at once.
        saved = _resumable_change(events)
        if saved:
            await self._save_progress(live)
        acknowledge()
        await self._dispatch(live, events, actor, saved=saved)

    async def _dispatch(
        self,
        live: Live,
        events: list[Event],
        actor: str,
        closed_by_page: bool = False,
        saved: bool = False,
    ) -> None:
        state_changed = waiting_changed = False
        closing: list[Outbox] = []
        now = self.clock()
        for event in events:
            if isinstance(event, Waiting | LeftWaitingRoom):
                waiting_changed = True
            elif isinstance(event, Seated):
                await self._seated(live, event.person_id, actor)
            elif isinstance(event, Reconnecting):
                live.connected.discard(event.person_id)
                await live.forwarder.disconnect(event.person_id)
                reconnecting = ParticipantReconnecting(event.person_id, millis(event.until))
                self._send(live, Audience.EVERYONE, reconnecting, exclude=event.person_id)
                self._release_later(live, event.person_id)
            elif isinstance(event, Reconnected):
                self._cancel_release(live, event.person_id)
                reconnected = ParticipantReconnected(event.person_id)
                self._send(live, Audience.EVERYONE, reconnected, exclude=event.person_id)
            elif isinstance(event, Departed):
                self._cancel_release(live, event.person_id)
                live.connected.discard(event.person_id)
                await live.forwarder.disconnect(event.person_id)
                self._send(live, Audience.EVERYONE, ParticipantLeft(event.person_id, event.cause))
            elif isinstance(event, DismissedEvent):
                outbox = live.outboxes.pop(event.connection_id, None)
                if event.cause is LeaveCause.REPLACED and event.person_id in live.connected:
                    live.connected.discard(event.person_id)
                    await live.forwarder.disconnect(event.person_id)
                if outbox is not None:
                    outbox.send(Dismissed(str(event.cause), event.reason))
                    closing.append(outbox)
            elif isinstance(event, MediaPermission):
                self._apply_forwarding(live, event.person_id)
                permissions = Permissions(
                    event.person_id, event.audio_forwarded, event.video_forwarded
                )
                self._send(live, event.audience, permissions)
            elif isinstance(event, HandChanged):
                self._send(live, event.audience, Hand(event.person_id, event.raised))
            elif isinstance(event, LockChanged | PhaseChanged | TurnChanged):
                state_changed = True
            elif isinstance(event, ChatPosted):
                self._send(live, event.audience, live.chat_message(event))
            elif isinstance(event, SignalSent):
                signal = live.signal_message(event.person_id, event.kind, event.at)
                self._send(live, event.audience, signal)
            elif isinstance(event, SignalAcknowledgedEvent):
                acknowledged = SignalAcknowledged(event.person_id, event.actor_id)
                self._send(live, event.audience, acknowledged)
                member = live.seat_connection(event.person_id)
                if member is not None:  # she is told that she was seen
                    member.send(acknowledged)
            elif isinstance(event, Attendance):
                await self._record_attendance(live, event)
            elif isinstance(event, Moderated):
                await self._record_moderation(live, event, now)
                state_changed = state_changed or event.action is Action.MUTE_ALL
            elif isinstance(event, Ended):
                if not closed_by_page:
                    await self.store.close_session(live.record.id, event.actor_id, _when(now))
        if state_changed:
            self._send(live, Audience.EVERYONE, SessionState(self._state(live)))
        if not saved and _resumable_change(events):
            await self._save_progress(live)
        if waiting_changed:
            waiting = WaitingRoom(self._waiting_people(live))
            self._send(live, Audience.MODERATORS, waiting)
        for outbox in closing:
            outbox.close(WSCloseCode.OK)
        # Only the dispatch of the end itself retires the session: a socket closing
        # while the end is being dispatched must not cut it short.
        if any(isinstance(event, Ended) for event in events) and not closed_by_page:
            await self._retire(live)

    async def _seated(self, live: Live, person_id: str, actor: str) -> None:
        participant = self._participant(live, person_id)
        self._send(
            live, Audience.EVERYONE, SessionParticipantJoined(participant), exclude=person_id
        )
        if person_id != actor:  # admitted by a therapist (or by auto-admission)
            outbox = live.seat_connection(person_id)
            if outbox is not None:
                outbox.send(Admitted(self.seat_info(live, person_id)))

    def _apply_forwarding(self, live: Live, person_id: str) -> None:
        if person_id not in live.connected:
            return
        audio_muted, video_muted = live.self_muted.get(person_id, (False, False))
        session = live.session
        live.forwarder.set_forwarding(
            person_id, "audio", session.audio_forwarded(person_id) and not audio_muted
        )
        live.forwarder.set_forwarding(
            person_id, "video", session.video_forwarded(person_id) and not video_muted
        )

    def tell_everyone(self, live: Live, message: AnyServerMessage) -> None:
        self._send(live, Audience.EVERYONE, message)

    def _send(
        self,
        live: Live,
        audience: Audience,
        message: AnyServerMessage,
        exclude: str | None = None,
    ) -> None:
        for person_id in self._recipients(live, audience):
            if person_id == exclude:
                continue
            outbox = live.seat_connection(person_id)
            if outbox is not None:
                outbox.send(message)

    @staticmethod
    def _recipients(live: Live, audience: Audience) -> Iterable[str]:
        seats = live.session.seats
        if audience is Audience.EVERYONE:
            return list(seats)
        if audience is Audience.MODERATORS:
            return [p for p, seat in seats.items() if seat.person.role.is_moderator]
        return []

    async def _record_attendance(self, live: Live, event: Attendance) -> None:
        person = live.session.roster.get(event.person_id)
        await self.store.record_attendance(
            AttendanceEntry(
                live.record.id,
                event.person_id,
                person.display_name if person else event.person_id,
                person.role if person else Role.MEMBER,
                event.joined,
                _when(event.at),
                None if event.cause is None else str(event.cause),
            )
        )

    async def _record_moderation(self, live: Live, event: Moderated, now: float) -> None:
        # The person's id, never their name: the audit page resolves names.
        subject = event.subject_id or None
        await self.store.append_audit(
            AuditEntry(
                _when(now),
                event.actor_id,
                "therapist",
                f"session:{event.action}",
                subject,
                live.group.id,
                f"session {live.record.id}",
            )
        )

    async def _save_progress(self, live: Live) -> None:
        session = live.session
        if session.ended:
            return
        started = _when(session.phase_started_at) if session.phase_index is not None else None
        await self.store.save_session_progress(
            live.record.id,
            phase_index=session.phase_index,
            phase_started_at=started,
            locked=session.locked,
            live_state=json.dumps(session.live_state(), separators=(",", ":")),
        )

    async def _retire(self, live: Live) -> None:
        if self.live.get(live.record.id) is live:
            del self.live[live.record.id]
        for person_id in list(live.release_timers):
            self._cancel_release(live, person_id)
        for outbox in list(live.outboxes.values()):
            outbox.close(WSCloseCode.OK)
        live.outboxes.clear()
        await live.forwarder.close()
        logger.info("session %s is no longer live", pseudonym(live.record.id))


def seated_when_stopped(entries: Iterable[AttendanceEntry]) -> list[str]:
    """Who was in a seat when the attendance ends (the server stopped), in the order
    they took their seats."""
    seated: dict[str, None] = {}
    for entry in entries:
        if entry.joined:
            seated[entry.person_id] = None
        else:
            seated.pop(entry.person_id, None)
    return list(seated)


def _resumable_change(events: Iterable[Event]) -> bool:
    """Whether what a restart resumes from changed: the phase, the lock, the round,
    moderation, hands, open signals."""
    return any(
        isinstance(
            event,
            LockChanged
            | PhaseChanged
            | TurnChanged
            | Moderated
            | HandChanged
            | MediaPermission
            | SignalSent,
        )
        for event in events
    )


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)
