"""Connection: one WebSocket's participation, handling its requests one by one."""

from __future__ import annotations

import logging
import secrets
import traceback
from collections.abc import Awaitable, Callable

from aiohttp import WSCloseCode

from grouproom.media.contract import CandidateError, OfferError
from grouproom.protocol import (
    Ack,
    Answer,
    ClientMessage,
    Closing,
    ClosingCause,
    ErrorCode,
    ErrorMessage,
    IceCandidate,
    Join,
    Joined,
    Leave,
    Offer,
    Ping,
    Pong,
    ProtocolError,
    SetMediaState,
    SetVisibleVideo,
    VideoCaps,
    parse_client_message,
)
from grouproom.protocol.session_messages import Entered
from grouproom.protocol.session_requests import (
    Chat,
    Enter,
    Moderate,
    RaiseHand,
    SessionInfo,
    Signal,
    Turn,
)
from grouproom.rooms.admission import JoinRequest
from grouproom.rooms.leave_cause import LeaveCause
from grouproom.signaling.ice_servers import ice_servers_for
from grouproom.signaling.outbox import Outbox
from grouproom.signaling.session_hub import Live, SessionHub
from grouproom.signaling.switchboard import Switchboard, participant_info

logger = logging.getLogger(__name__)

CLOSE_UNSUPPORTED_VERSION = 4001
CLOSE_CODES: dict[ErrorCode, int] = {
    ErrorCode.UNSUPPORTED_VERSION: CLOSE_UNSUPPORTED_VERSION,
    ErrorCode.TOO_LARGE: WSCloseCode.MESSAGE_TOO_BIG,
}


# Adds a trickled candidate: ("candidate:..." line or None, sdp mid, m-line index).
AddCandidate = Callable[[str | None, str | None, int | None], Awaitable[None]]


def error_reply(error: ProtocolError) -> ErrorMessage:
    return ErrorMessage(error.request_id, error.code, error.message)


class Connection:
    def __init__(
        self,
        switchboard: Switchboard,
        outbox: Outbox,
        hub: SessionHub | None = None,
        therapist_id: str | None = None,
    ) -> None:
        self.switchboard = switchboard
        self.settings = switchboard.settings
        self.outbox = outbox
        self.log_id = outbox.log_id
        self.room_id: str | None = None
        self.participant_id: str | None = None
        self.offered = False
        # A therapy session instead of an open room: the hub, and (after `enter`)
        # the live session and this person's id in it.
        self.hub = hub
        self.therapist_id = therapist_id  # from the login cookie of the upgrade request
        self.connection_id = secrets.token_urlsafe(12)
        self.live: Live | None = None

    async def receive(self, raw: str | bytes) -> None:
        """Handle one frame: exactly one reply for a request, never an exception."""
        try:
            message = parse_client_message(raw)
        except ProtocolError as error:
            self.outbox.send(error_reply(error))
            close_code = CLOSE_CODES.get(error.code)
            if close_code is not None:
                self.outbox.close(close_code)
            return
        try:
            await self._handle(message)
        except ProtocolError as error:
            self.outbox.send(error_reply(error.with_request_id(message.request_id)))
        except Exception as exc:
            # The traceback without the exception's text, which could carry user data.
            logger.error(
                "connection %s: internal error (%s) handling %s\n%s",
                self.log_id,
                type(exc).__name__,
                message.TYPE,
                "".join(traceback.format_tb(exc.__traceback__)),
            )
            self.outbox.send(
                ErrorMessage(message.request_id, ErrorCode.INTERNAL_ERROR, "a fault in the server")
            )

    @property
    def in_session_as_therapist(self) -> bool:
        return (
            self.live is not None
            and self.therapist_id is not None
            and self.participant_id == self.therapist_id
        )

    def login_ended(self) -> None:
        """The therapist login this socket was opened with no longer holds. In a session
        as that therapist, the socket closes (her seat waits for a reconnect); otherwise
        (an open room, an invite link opened in her browser) it goes on as anyone's."""
        in_session = self.in_session_as_therapist
        self.therapist_id = None
        if in_session:
            self.outbox.close(WSCloseCode.POLICY_VIOLATION, Closing(ClosingCause.LOGGED_OUT))

    async def close(self) -> None:
        """The socket closed: a participant who did not leave lost the connection."""
        if self.live is not None and self.hub is not None and self.participant_id is not None:
            # A therapy session holds the seat for a while: the browser reconnects.
            await self.hub.drop(self.live, self.participant_id, self.connection_id)
            return
        if self.room_id is not None and self.participant_id is not None:
            await self.switchboard.depart(
                self.room_id, self.participant_id, LeaveCause.CONNECTION_LOST
            )

    async def _handle(self, message: ClientMessage) -> None:
        if isinstance(message, Ping):
            self.outbox.send(Pong(message.request_id))
        elif isinstance(message, SessionInfo | Enter) or self.live is not None:
            await self._session_request(message)
        elif isinstance(message, Moderate | RaiseHand | Turn | Chat | Signal):
            raise ProtocolError(ErrorCode.NOT_JOINED, "enter a session first")
        elif isinstance(message, Join):
            await self._join(message)
        elif self.room_id is None or self.participant_id is None:
            raise ProtocolError(ErrorCode.NOT_JOINED, "join a room first")
        elif isinstance(message, Offer):
            room_id, participant_id = self.room_id, self.participant_id
            await self._offer(
                message, lambda sdp: self.switchboard.connect(room_id, participant_id, sdp)
            )
        elif isinstance(message, IceCandidate):
            room_id, participant_id = self.room_id, self.participant_id
            await self._ice_candidate(
                message,
                lambda candidate, mid, index: self.switchboard.add_ice_candidate(
                    room_id, participant_id, candidate, mid, index
                ),
            )
        elif isinstance(message, SetMediaState):
            self.switchboard.set_media_state(
                self.room_id, self.participant_id, message.audio_muted, message.video_muted
            )
            self.outbox.send(Ack(message.request_id))
        elif isinstance(message, SetVisibleVideo):
            self.switchboard.set_visible_video(
                self.room_id, self.participant_id, message.participants
            )
            self.outbox.send(Ack(message.request_id))
        elif isinstance(message, Leave):
            self.outbox.send(Ack(message.request_id))
            await self.switchboard.depart(self.room_id, self.participant_id, LeaveCause.LEFT)
            self.outbox.close(WSCloseCode.OK)

    async def _join(self, message: Join) -> None:
        if self.participant_id is not None:
            raise ProtocolError(ErrorCode.ALREADY_JOINED, "this socket has joined already")
        if message.replaces is not None:
            await self.switchboard.replace(message.room, message.replaces)
        request = JoinRequest(
            display_name=message.name,
            audio_muted=message.audio_muted,
            video_muted=message.video_muted,
        )
        room, participant = self.switchboard.join(message.room, request, self.outbox)
        self.room_id = room.id
        self.participant_id = participant.id
        settings = self.settings
        self.outbox.send(
            Joined(
                request_id=message.request_id,
                participant_id=participant.id,
                room_id=room.id,
                participants=tuple(participant_info(p) for p in room.others(participant.id)),
                receive_slots=self.switchboard.media_settings.receive_slots,
                ice_servers=ice_servers_for(settings, participant.id),
                video=VideoCaps(
                    max_width=settings.video_max_width,
                    max_height=settings.video_max_height,
                    max_framerate=settings.video_max_framerate,
                    max_bitrate=settings.video_max_bitrate,
                ),
                rejoin_token=self.switchboard.rejoin_token(participant.id),
            )
        )

    async def _offer(self, message: Offer, connect: Callable[[str], Awaitable[str]]) -> None:
        """Hand the offer to the room's or the session's media (`connect`), once."""
        if self.offered:
            raise ProtocolError(ErrorCode.INVALID_STATE, "an offer was accepted already")
        try:
            answer = await connect(message.sdp)
        except OfferError as exc:
            raise ProtocolError(ErrorCode.BAD_SDP, str(exc)) from None
        self.offered = True
        self.outbox.send(Answer(message.request_id, answer))

    async def _ice_candidate(self, message: IceCandidate, add: AddCandidate) -> None:
        if not self.offered:
            raise ProtocolError(ErrorCode.INVALID_STATE, "send the offer before ICE candidates")
        try:
            await add(message.candidate, message.sdp_mid, message.sdp_mline_index)
        except CandidateError as exc:
            raise ProtocolError(ErrorCode.BAD_CANDIDATE, str(exc)) from None
        self.outbox.send(Ack(message.request_id))

    # -- therapy sessions ------------------------------------------------------------

    def _hub(self) -> SessionHub:
        if self.hub is None:
            raise ProtocolError(ErrorCode.INVALID_STATE, "this server has no sessions")
        return self.hub

    async def _session_request(self, message: ClientMessage) -> None:
        hub = self._hub()
        if isinstance(message, SessionInfo):
            self.outbox.send(
                await hub.info(message.request_id, message.credentials, self.therapist_id)
            )
            return
        if isinstance(message, Enter):
            await self._enter(hub, message)
            return
        live, person_id = self.live, self.participant_id
        if live is None or person_id is None:
            raise ProtocolError(ErrorCode.NOT_JOINED, "enter a session first")
        request_id = message.request_id

        def acknowledge() -> None:
            self.outbox.send(Ack(request_id))

        if isinstance(message, Moderate):
            await hub.moderate(
                live, person_id, message.action, message.target, message.reason, acknowledge
            )
            return
        if isinstance(message, RaiseHand):
            await hub.raise_hand(live, person_id, message.raised, acknowledge)
            return
        if isinstance(message, Turn):
            await hub.turn(live, person_id, message.passed, acknowledge)
            return
        if isinstance(message, Chat):
            await hub.chat(live, person_id, message.channel, message.text, acknowledge)
            return
        if isinstance(message, Signal):
            await hub.signal(live, person_id, message.kind, acknowledge)
            return
        if isinstance(message, SetMediaState):
            hub.set_self_muted(live, person_id, message.audio_muted, message.video_muted)
        elif isinstance(message, SetVisibleVideo):
            hub.set_visible_video(live, person_id, message.participants)
        elif isinstance(message, Offer):
            await self._offer(message, lambda sdp: hub.connect_media(live, person_id, sdp))
            return
        elif isinstance(message, IceCandidate):
            await self._ice_candidate(
                message,
                lambda candidate, mid, index: live.forwarder.add_ice_candidate(
                    person_id, candidate, mid, index
                ),
            )
            return
        elif isinstance(message, Leave):
            self.outbox.send(Ack(message.request_id))
            self.live = None
            await hub.leave(live, person_id, self.connection_id, LeaveCause.LEFT)
            self.outbox.close(WSCloseCode.OK)
            return
        elif isinstance(message, Join):
            raise ProtocolError(ErrorCode.ALREADY_JOINED, "this socket is in a session")
        self.outbox.send(Ack(message.request_id))

    async def _enter(self, hub: SessionHub, message: Enter) -> None:
        if self.live is not None or self.participant_id is not None:
            raise ProtocolError(ErrorCode.ALREADY_JOINED, "this socket has entered already")
        live, person_id, seat = await hub.enter(
            self.connection_id,
            self.outbox,
            message.credentials,
            self.therapist_id,
            message.accept_rules,
            (message.audio_muted, message.video_muted),
            message.device,
        )
        self.live = live
        self.participant_id = person_id
        self.outbox.send(Entered(message.request_id, seat))
