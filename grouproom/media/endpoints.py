"""aiortc's RTP receiver and sender, taken over for forwarding.

RTCPeerConnection creates an RTCRtpReceiver and an RTCRtpSender for every
transceiver and drives them (receive/send/stop). Before it starts them, the peer
changes their class to the subclasses below, which keep aiortc's SDP, ICE, DTLS
and SRTP handling but replace its media pipeline: the receiver hands each
decrypted RTP packet to a Publication instead of a jitter buffer and decoder
thread, and the sender sends the packets a Subscription gives it instead of
encoding frames. No decoder or encoder is ever created.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    unpack_remb_fci,
)

from grouproom.media.munger import Munger, PictureIdMunger

if TYPE_CHECKING:
    from grouproom.media.publication import Publication
    from grouproom.media.subscription import Subscription

logger = logging.getLogger(__name__)

CLOCK_RATES = {"audio": 48000, "video": 90000}


class ForwardingReceiver(RTCRtpReceiver):
    """Receives one publisher's stream (audio or video) for a Publication."""

    publication: Publication
    rtcp_ssrc: int
    started: bool

    @classmethod
    def take_over(
        cls, receiver: RTCRtpReceiver, publication: Publication, rtcp_ssrc: int
    ) -> ForwardingReceiver:
        receiver.__class__ = cls
        assert isinstance(receiver, ForwardingReceiver)
        receiver.publication = publication
        receiver.rtcp_ssrc = rtcp_ssrc
        receiver.started = False
        return receiver

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        if self.started:
            return
        self.transport._register_rtp_receiver(self, parameters)
        self.publication.start(list(parameters.codecs))
        self.started = True

    async def stop(self) -> None:
        if self.started:
            self.transport._unregister_rtp_receiver(self)
            self.started = False

    def _handle_disconnect(self) -> None:
        pass

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        await self.publication.on_rtp(packet, arrival_time_ms)

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket):
            await self.publication.on_sender_report(packet)

    async def send_rtcp(self, data: bytes) -> None:
        try:
            await self.transport._send_rtp(data)
        except ConnectionError:
            pass


class UnusedReceiver(RTCRtpReceiver):
    """The receiver of a send-only transceiver (a receive slot seen from the
    server): it never receives, and must not start aiortc's decoder thread."""

    @classmethod
    def take_over(cls, receiver: RTCRtpReceiver) -> UnusedReceiver:
        receiver.__class__ = cls
        assert isinstance(receiver, UnusedReceiver)
        return receiver

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        pass

    async def stop(self) -> None:
        pass

    def _handle_disconnect(self) -> None:
        pass

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        pass

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        pass


class ForwardingSender(RTCRtpSender):
    """Sends one receive slot's stream to a subscriber."""

    subscription: Subscription | None
    munger: Munger
    picture_ids: PictureIdMunger
    mid: str | None
    codecs: list[RTCRtpCodecParameters]
    started: bool

    @classmethod
    def take_over(cls, sender: RTCRtpSender, stream_id: str) -> ForwardingSender:
        sender.__class__ = cls
        assert isinstance(sender, ForwardingSender)
        sender.subscription = None
        sender.munger = Munger(CLOCK_RATES[sender.kind])
        sender.picture_ids = PictureIdMunger()
        sender.mid = None
        sender.codecs = []
        sender.started = False
        sender._stream_id = stream_id
        return sender

    @property
    def ssrc(self) -> int:
        return int(self._ssrc)

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        if self.started:
            return
        self.transport._register_rtp_sender(self, parameters)
        self.mid = parameters.muxId
        self.codecs = list(parameters.codecs)
        self.started = True
        if self.subscription is not None:
            self.subscription.sender_started()

    async def stop(self) -> None:
        if self.started:
            self.transport._unregister_rtp_sender(self)
            self.started = False

    async def send_rtp(self, data: bytes) -> bool:
        try:
            await self.transport._send_rtp(data)
        except ConnectionError:
            return False
        return True

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        subscription = self.subscription
        if subscription is None:
            return
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            await subscription.retransmit(list(packet.lost))
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            subscription.keyframe_requested()
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                return
            if self.ssrc in ssrcs:
                subscription.bandwidth_reported(bitrate)
