"""Switchboard: the rooms of this server with their forwarders and sockets.

It admits participants (rooms.admission), keeps one media Forwarder per room
(created with the room, closed when the room empties), and tells the people in a
room what changed. Request handling for one socket lives in connection.py.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine

from aiohttp import WSCloseCode

from grouproom.constant_time import same_secret
from grouproom.media.contract import Kind, MediaRoom, MediaSettings
from grouproom.media.room_worker import open_media_room
from grouproom.protocol import (
    Closing,
    ClosingCause,
    ConnectionQuality,
    ErrorCode,
    MediaState,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ProtocolError,
    ServerMessage,
    TrackPublished,
    TrackRemoved,
)
from grouproom.protocol.client_messages import REJOIN_TOKEN_LENGTH
from grouproom.pseudonym import pseudonym
from grouproom.rooms.admission import Admitted, JoinRequest, Refusal, decide_join
from grouproom.rooms.leave_cause import LeaveCause
from grouproom.rooms.participant import Participant
from grouproom.rooms.registry import RoomRegistry
from grouproom.rooms.room import Room
from grouproom.settings import Settings
from grouproom.signaling.outbox import Outbox

logger = logging.getLogger(__name__)

REFUSAL_CODES: dict[Refusal, tuple[ErrorCode, str]] = {
    Refusal.ROOM_FULL: (ErrorCode.ROOM_FULL, "the room holds its maximum number of participants"),
}


def participant_info(participant: Participant) -> ParticipantInfo:
    return ParticipantInfo(
        id=participant.id,
        name=participant.display_name,
        audio_muted=participant.audio_muted,
        video_muted=participant.video_muted,
        connection=participant.connection,
        connection_direction=participant.connection_direction,
    )


def media_settings_for(settings: Settings) -> MediaSettings:
    return MediaSettings(
        ice_addresses=settings.effective_ice_addresses,
        media_port=settings.media_port,
        media_bind_address=settings.media_bind_address,
        stun_urls=settings.stun_urls,
        receive_slots=settings.max_participants - 1,
        video_max_bitrate=settings.video_max_bitrate,
        event_loop=settings.event_loop,
        copy_step=settings.copy_step,
    )


class RoomEvents:
    """The ForwarderEvents of one room's forwarder."""

    def __init__(self, switchboard: Switchboard, room_id: str) -> None:
        self.switchboard = switchboard
        self.room_id = room_id

    def track_published(self, subscriber_id: str, publisher_id: str, kind: Kind, mid: str) -> None:
        self.switchboard.send_to(subscriber_id, TrackPublished(publisher_id, kind, mid))

    def track_removed(self, subscriber_id: str, publisher_id: str, kind: Kind, mid: str) -> None:
        self.switchboard.send_to(subscriber_id, TrackRemoved(publisher_id, kind, mid))

    def connection_lost(self, participant_id: str) -> None:
        self.switchboard.spawn(self.switchboard.lose_connection(self.room_id, participant_id))

    def connection_quality(self, participant_id: str, quality: str, direction: str) -> None:
        self.switchboard.connection_quality(self.room_id, participant_id, quality, direction)


class Switchboard:
    def __init__(self, settings: Settings, registry: RoomRegistry) -> None:
        self.settings = settings
        self.registry = registry
        self.media_settings = media_settings_for(settings)
        self.forwarders: dict[str, MediaRoom] = {}  # by room id
        self._outboxes: dict[str, Outbox] = {}  # by participant id
        self._sockets: set[Outbox] = set()  # every open socket, joined or not
        # Rejoin tokens: a browser whose connection broke joins again as a new
        # participant and names its old one by this token, which is removed.
        self._rejoin_tokens: dict[str, str] = {}  # participant id -> token
        self._tasks: set[asyncio.Task[None]] = set()
        self.shut_down = False

    # -- sockets ------------------------------------------------------------------

    def attach(self, outbox: Outbox) -> None:
        self._sockets.add(outbox)
        if self.shut_down:
            outbox.close(WSCloseCode.GOING_AWAY, Closing(ClosingCause.SHUTDOWN))

    def detach(self, outbox: Outbox) -> None:
        self._sockets.discard(outbox)

    def send_to(self, participant_id: str, message: ServerMessage) -> None:
        outbox = self._outboxes.get(participant_id)
        if outbox is not None:
            outbox.send(message)

    def broadcast(self, room: Room, message: ServerMessage, *, exclude: str | None = None) -> None:
        for participant in room.participants:
            if participant.id != exclude:
                self.send_to(participant.id, message)

    def spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        """Run a coroutine started by a synchronous callback, keeping a reference."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a background task failed: %s", type(task.exception()).__name__)

    # -- participation ------------------------------------------------------------

    def join(self, room_id: str, request: JoinRequest, outbox: Outbox) -> tuple[Room, Participant]:
        """Admit and seat a participant; raises ProtocolError when refused."""
        if self.shut_down:
            raise ProtocolError(ErrorCode.INVALID_STATE, "the server is shutting down")
        if not self.settings.open_rooms:
            raise ProtocolError(ErrorCode.NOT_ALLOWED, "open rooms are switched off here")
        room = self.registry.get_or_create(room_id)
        admission = decide_join(room, request)
        if not isinstance(admission, Admitted):
            self.registry.drop_if_empty(room)
            code, message = REFUSAL_CODES[admission.reason]
            raise ProtocolError(code, message)
        participant = admission.participant
        room.add(participant)
        if room_id not in self.forwarders:
            self.forwarders[room_id] = open_media_room(
                self.media_settings, RoomEvents(self, room_id), self.settings.room_workers
            )
            logger.info("room %s opened", pseudonym(room_id))
        self._outboxes[participant.id] = outbox
        self._rejoin_tokens[participant.id] = secrets.token_urlsafe(REJOIN_TOKEN_LENGTH * 3 // 4)
        joined = ParticipantJoined(participant_info(participant))
        self.broadcast(room, joined, exclude=participant.id)
        logger.info(
            "participant %s joined room %s (%d present)",
            pseudonym(participant.id),
            pseudonym(room_id),
            len(room.participants),
        )
        return room, participant

    def rejoin_token(self, participant_id: str) -> str:
        return self._rejoin_tokens[participant_id]

    async def replace(self, room_id: str, token: str) -> None:
        """Before a browser joins again: remove the participant it was in this
        room, if its token names one (the old connection broke and may not have
        been noticed yet; the others see it leave, as with a lost connection).
        A token that names nobody, or someone in another room, changes nothing."""
        room = self.registry.get(room_id)
        if room is None:
            return
        for participant_id, known in list(self._rejoin_tokens.items()):
            if same_secret(known, token):
                if room.get(participant_id) is not None:
                    await self.lose_connection(room_id, participant_id)
                return

    def _present(self, room_id: str, participant_id: str) -> tuple[Room, Participant, MediaRoom]:
        room = self.registry.get(room_id)
        participant = room.get(participant_id) if room is not None else None
        forwarder = self.forwarders.get(room_id)
        if room is None or participant is None or forwarder is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "you are no longer in the room")
        return room, participant, forwarder

    async def connect(self, room_id: str, participant_id: str, offer_sdp: str) -> str:
        """Hand the offer to the room's forwarder and return its answer. Raises
        OfferError for an offer the forwarder refuses."""
        _, _, forwarder = self._present(room_id, participant_id)
        answer = await forwarder.connect(participant_id, offer_sdp)
        try:
            _, participant, _ = self._present(room_id, participant_id)
        except ProtocolError:  # left while the offer was being answered
            await forwarder.disconnect(participant_id)
            raise
        self._apply_forwarding(forwarder, participant)
        return answer

    async def add_ice_candidate(
        self,
        room_id: str,
        participant_id: str,
        candidate: str | None,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None:
        _, _, forwarder = self._present(room_id, participant_id)
        await forwarder.add_ice_candidate(participant_id, candidate, sdp_mid, sdp_mline_index)

    def set_media_state(
        self, room_id: str, participant_id: str, audio_muted: bool, video_muted: bool
    ) -> None:
        room, participant, forwarder = self._present(room_id, participant_id)
        participant.set_media_state(audio_muted, video_muted)
        self._apply_forwarding(forwarder, participant)
        self.broadcast(
            room, MediaState(participant.id, audio_muted, video_muted), exclude=participant.id
        )

    def connection_quality(
        self, room_id: str, participant_id: str, quality: str, direction: str
    ) -> None:
        """The media plane's judgement of a participant's line, to everyone."""
        room = self.registry.get(room_id)
        participant = room.get(participant_id) if room is not None else None
        if room is None or participant is None:
            return
        participant.connection = quality
        participant.connection_direction = direction
        self.broadcast(room, ConnectionQuality(participant_id, quality, direction))

    def set_visible_video(
        self, room_id: str, participant_id: str, publisher_ids: frozenset[str]
    ) -> None:
        """Forward to the participant only the video of those it shows."""
        _, _, forwarder = self._present(room_id, participant_id)
        forwarder.set_visible_video(participant_id, publisher_ids)

    @staticmethod
    def _apply_forwarding(forwarder: MediaRoom, participant: Participant) -> None:
        forwarder.set_forwarding(participant.id, "audio", not participant.audio_muted)
        forwarder.set_forwarding(participant.id, "video", not participant.video_muted)

    async def depart(self, room_id: str, participant_id: str, cause: LeaveCause) -> None:
        """End a participation: media first (the others get track_removed), then
        participant_left. Closes the room's forwarder when the room empties. Safe
        to call twice."""
        room = self.registry.get(room_id)
        departure = room.leave(participant_id, cause) if room is not None else None
        if room is None or departure is None:
            return
        self._outboxes.pop(participant_id, None)
        self._rejoin_tokens.pop(participant_id, None)
        forwarder = self.forwarders.get(room_id)
        emptied = self.registry.drop_if_empty(room)
        if emptied:
            self.forwarders.pop(room_id, None)
        if forwarder is not None:
            await forwarder.disconnect(participant_id)
        self.broadcast(room, ParticipantLeft(participant_id, cause))
        logger.info(
            "participant %s left room %s (%s)",
            pseudonym(participant_id),
            pseudonym(room_id),
            cause,
        )
        if emptied:
            logger.info("room %s closed", pseudonym(room_id))
            if forwarder is not None:
                await forwarder.close()

    async def lose_connection(self, room_id: str, participant_id: str) -> None:
        """The participant's media connection failed: they leave the room and
        their socket is closed."""
        outbox = self._outboxes.get(participant_id)
        await self.depart(room_id, participant_id, LeaveCause.CONNECTION_LOST)
        if outbox is not None:
            outbox.close(WSCloseCode.OK, Closing(ClosingCause.CONNECTION_LOST))

    # -- shutdown -----------------------------------------------------------------

    async def shutdown(self) -> None:
        """Tell every socket the server is stopping, close them, end every room and
        close every forwarder. Safe to call twice."""
        self.shut_down = True
        for outbox in list(self._sockets):
            outbox.close(WSCloseCode.GOING_AWAY, Closing(ClosingCause.SHUTDOWN))
        for room in self.registry:
            for participant in room.participants:
                room.leave(participant.id, LeaveCause.SESSION_ENDED)
                self._outboxes.pop(participant.id, None)
            self.registry.drop_if_empty(room)
        forwarders = list(self.forwarders.values())
        self.forwarders.clear()
        for forwarder in forwarders:
            await forwarder.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
