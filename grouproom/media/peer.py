"""Peer: the one WebRTC peer connection of one participant.

The browser offers its microphone and camera (m-lines 0 and 1, sent to the
server) followed by pairs of audio + video receive slots. The peer creates a
matching transceiver for every m-line before applying the offer, so that it can
choose the codecs (Opus; VP8, then H264; no RTX: retransmissions travel in the
original stream) and take over each sender and receiver for forwarding.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.rtcconfiguration import RTCBundlePolicy
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.sdp import SessionDescription, candidate_from_sdp

from grouproom.media.connection_quality import WINDOW as QUALITY_WINDOW
from grouproom.media.connection_quality import ConnectionQuality
from grouproom.media.contract import CandidateError, Kind, MediaSettings, OfferError
from grouproom.media.endpoints import ForwardingReceiver, ForwardingSender, UnusedReceiver
from grouproom.media.incoming_budget import IncomingBudget
from grouproom.media.publication import Publication
from grouproom.media.round_trip import RoundTrip
from grouproom.media.udp_mux import UdpMux
from grouproom.pseudonym import pseudonym
from grouproom.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

MAX_OFFER_LENGTH = 60_000
SENDING_DIRECTIONS = ("sendonly", "sendrecv", "inactive")
RECEIVING_DIRECTIONS = ("recvonly", "sendrecv", "inactive")
VIDEO_CODEC_ORDER = ("video/vp8", "video/h264")
OPUS_PARAMETERS = {"usedtx": 1, "useinbandfec": 1}


@dataclass
class Slot:
    """One receive slot: an audio and a video sender that carry one other
    participant's media to this peer."""

    index: int
    audio: ForwardingSender
    video: ForwardingSender
    publisher_id: str | None = None

    def sender(self, kind: Kind) -> ForwardingSender:
        return self.audio if kind == "audio" else self.video


def _validate_layout(description: SessionDescription, max_slots: int) -> None:
    media = description.media
    if len(media) < 2:
        raise OfferError("the offer needs an audio and a video m-line first")
    if any(m.kind not in ("audio", "video") for m in media):
        raise OfferError("only audio and video m-lines are accepted")
    if media[0].kind != "audio" or media[1].kind != "video":
        raise OfferError("m-line 0 must be audio and m-line 1 video (the published media)")
    for m in media[:2]:
        if m.direction not in SENDING_DIRECTIONS:
            raise OfferError(f"published m-line {m.rtp.muxId} must be sendonly")
    slots = media[2:]
    if len(slots) % 2:
        raise OfferError("receive slots come in pairs of audio and video")
    if len(slots) // 2 > max_slots:
        raise OfferError(f"at most {max_slots} receive slots are accepted")
    for index, m in enumerate(slots):
        expected = "audio" if index % 2 == 0 else "video"
        if m.kind != expected:
            raise OfferError(f"receive slot m-line {index + 2} must be {expected}")
        if m.direction not in RECEIVING_DIRECTIONS:
            raise OfferError(f"receive m-line {m.rtp.muxId} must be recvonly")
    bundle = next((g for g in description.group if g.semantic == "BUNDLE"), None)
    mids = [m.rtp.muxId for m in media]
    if bundle is None or sorted(map(str, bundle.items)) != sorted(map(str, mids)):
        raise OfferError("every m-line must be in one BUNDLE group")


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def without_named_candidates(sdp: str) -> str:
    """The offer without candidates named by a host name (mDNS `.local` names
    included): resolving them would make the server look up, or send multicast
    queries for, whatever a client writes. The browser's checks still reach the
    server, which learns its address from them (a peer-reflexive candidate)."""
    kept = []
    for line in sdp.splitlines(keepends=True):
        if line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) < 5 or not is_ip_address(fields[4]):
                continue
        kept.append(line)
    return "".join(kept)


def _parse_offer(offer_sdp: str, max_slots: int) -> SessionDescription:
    if len(offer_sdp) > MAX_OFFER_LENGTH:
        raise OfferError("the offer is too long")
    try:
        description = SessionDescription.parse(offer_sdp)
    except Exception as exc:  # aiortc's parser raises many kinds on bad input
        raise OfferError(f"the offer cannot be parsed: {type(exc).__name__}") from None
    _validate_layout(description, max_slots)
    return description


def _set_codec_preferences(transceiver: RTCRtpTransceiver) -> None:
    capabilities = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    if transceiver.kind == "audio":
        preferred = [c for c in capabilities if c.mimeType.lower() == "audio/opus"]
    else:
        preferred = [
            c for mime in VIDEO_CODEC_ORDER for c in capabilities if c.mimeType.lower() == mime
        ]
    transceiver.setCodecPreferences(preferred)


class Peer:
    def __init__(
        self,
        participant_id: str,
        settings: MediaSettings,
        on_failed: Callable[[str], None],
        mux: UdpMux | None = None,
        on_quality: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self.participant_id = participant_id
        self._on_quality = on_quality
        self.mux = mux
        self.settings = settings
        self._on_failed = on_failed
        self.pc = RTCPeerConnection(
            RTCConfiguration(
                iceServers=[RTCIceServer(urls=url) for url in settings.stun_urls],
                bundlePolicy=RTCBundlePolicy.MAX_BUNDLE,
            )
        )
        # One path for everything (bundled): one round trip, and one budget for
        # what the participant's connection may send.
        self.round_trip = RoundTrip()
        self.quality = ConnectionQuality()
        self.incoming = IncomingBudget.for_participant(
            settings.video_max_bitrate, settings.receive_slots, pseudonym(participant_id)
        )
        self.publications: dict[Kind, Publication] = {
            kind: Publication(participant_id, kind, settings.video_max_bitrate, self.round_trip)
            for kind in ("audio", "video")
        }
        self.slots: list[Slot] = []
        # False for an observer: their (empty) media is bound to nobody's slot.
        self.publishes = True
        self.closed = False
        self._rtcp_task: asyncio.Task[None] | None = None
        self._quality_task: asyncio.Task[None] | None = None
        self.pc.on("connectionstatechange", self._connection_state_changed)

    # -- negotiation ------------------------------------------------------------

    async def accept_offer(self, offer_sdp: str) -> str:
        if self.pc.signalingState != "stable" or self.pc.remoteDescription is not None:
            raise OfferError("this participant already sent an offer")
        offer_sdp = without_named_candidates(offer_sdp)
        description = _parse_offer(offer_sdp, self.settings.receive_slots)
        self._create_transceivers(len(description.media))
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            self._ask_for_opus_dtx_and_fec()
            self._use_mux()
            answer = await self.pc.createAnswer()
            await self.pc.setLocalDescription(answer)
        except Exception as exc:  # aiortc raises ValueError, OperationError, ...
            raise OfferError(f"the offer was refused: {exc}") from None
        self._rtcp_task = asyncio.ensure_future(self._run_rtcp())
        self._quality_task = asyncio.ensure_future(self._judge_quality())
        return str(self.pc.localDescription.sdp)

    def _use_mux(self) -> None:
        """Gather from the shared media sockets (before the answer names the ufrag)."""
        if self.mux is None:
            return
        connections = {
            transceiver.receiver.transport.transport.iceGatherer._connection
            for transceiver in self.pc.getTransceivers()
        }  # with BUNDLE, one
        for connection in connections:
            self.mux.attach(connection)

    def _ask_for_opus_dtx_and_fec(self) -> None:
        """The answer asks the browser's Opus encoder for DTX (a member who is
        silent, most of a group session, sends a packet every 400 ms instead of 50
        per second, and the server forwards that much less) and in-band FEC (speech
        survives some loss on a weak home line). The negotiated codecs are copies
        made for this transceiver by setRemoteDescription."""
        for transceiver in self.pc.getTransceivers():
            for codec in transceiver._codecs:
                if codec.mimeType.lower() == "audio/opus":
                    codec.parameters.update(OPUS_PARAMETERS)

    def _create_transceivers(self, media_count: int) -> None:
        for kind in ("audio", "video"):
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            _set_codec_preferences(transceiver)
            publication = self.publications[kind]
            receiver: RTCRtpReceiver = transceiver.receiver
            publication.attach(
                ForwardingReceiver.take_over(
                    receiver, publication, transceiver.sender._ssrc, self.incoming
                )
            )
            # The sender of a receive-only transceiver never sends media, but it owns
            # the SSRC used for this receiver's RTCP.
            ForwardingSender.take_over(
                transceiver.sender, f"publish-{kind}", self.round_trip, self.incoming
            )
        for index in range((media_count - 2) // 2):
            stream_id = f"slot-{index}-{random.getrandbits(32):08x}"
            senders = []
            for kind in ("audio", "video"):
                transceiver = self.pc.addTransceiver(kind, direction="sendonly")
                _set_codec_preferences(transceiver)
                UnusedReceiver.take_over(transceiver.receiver)
                senders.append(
                    ForwardingSender.take_over(
                        transceiver.sender,
                        stream_id,
                        self.round_trip,
                        self.incoming,
                        self.quality,
                    )
                )
            self.slots.append(Slot(index=index, audio=senders[0], video=senders[1]))

    async def add_ice_candidate(
        self, candidate: str | None, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        if self.pc.remoteDescription is None:
            raise CandidateError("an ICE candidate before the offer")
        if candidate is None or candidate == "":
            await self.pc.addIceCandidate(None)
            return
        line = candidate.removeprefix("a=").removeprefix("candidate:")
        try:
            parsed = candidate_from_sdp(line)
        except (AssertionError, ValueError, IndexError):
            raise CandidateError("the ICE candidate cannot be parsed") from None
        if parsed.protocol.lower() != "udp" or not is_ip_address(parsed.ip):
            # TCP candidates are not used (aioice speaks UDP), nor named ones (see
            # without_named_candidates).
            return
        # Everything is bundled over the transport of the first m-line.
        parsed.sdpMid = self.pc.getTransceivers()[0].mid
        parsed.sdpMLineIndex = 0
        try:
            await self.pc.addIceCandidate(parsed)
        except Exception as exc:
            raise CandidateError(f"the ICE candidate was refused: {exc}") from None

    # -- slots ----------------------------------------------------------------

    def free_slot(self) -> Slot | None:
        return next((slot for slot in self.slots if slot.publisher_id is None), None)

    def slot_of(self, publisher_id: str) -> Slot | None:
        return next((slot for slot in self.slots if slot.publisher_id == publisher_id), None)

    # -- running ----------------------------------------------------------------

    def _connection_state_changed(self) -> None:
        if self.pc.connectionState in ("failed", "closed") and not self.closed:
            self._on_failed(self.participant_id)

    async def _run_rtcp(self) -> None:
        while True:
            await asyncio.sleep(0.5 + random.random())
            for publication in self.publications.values():
                await publication.send_reports()

    async def _judge_quality(self) -> None:
        """Once per window: how well her line carries the room; told on a change."""
        audio = self.publications["audio"]
        while True:
            await asyncio.sleep(QUALITY_WINDOW)
            level = self.quality.judge(
                audio.packets_received, audio.packets_lost, self.round_trip.measured
            )
            if level is None or self._on_quality is None:
                continue
            try:
                self._on_quality(self.participant_id, level.label, self.quality.direction)
            except Exception:  # a fault in signalling must not end the judging
                logger.exception("telling a connection's quality failed")

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for task in (self._rtcp_task, self._quality_task):
            if task is not None:
                await cancel_and_wait(task)
        for publication in self.publications.values():
            publication.close()
        await self.pc.close()
