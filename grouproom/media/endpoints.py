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

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from aioice.ice import StunProtocol
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.rtcdtlstransport import State as DtlsState
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
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    unpack_remb_fci,
)

from grouproom.media import copy_step, direct_receive
from grouproom.media.bandwidth import CongestionSignal, SentRate, share_level
from grouproom.media.connection_quality import ConnectionQuality, DownlinkReports
from grouproom.media.datagram_send import DatagramSender, datagram_sender
from grouproom.media.hooks import UNUSED_RECEIVER_PARTS
from grouproom.media.incoming_budget import IncomingBudget
from grouproom.media.munger import Munger, PictureIdMunger
from grouproom.media.publication import ForwardedPacket, Publication
from grouproom.media.round_trip import RoundTrip
from grouproom.media.rtp_header import RtpHeaderWriter, UnsupportedHeader
from grouproom.media.srtp_direct import protector
from grouproom.media.subscription import Subscription
from grouproom.media.udp_mux import MuxedProtocol

# The ICE protocols that send with a plain datagram transport (a socket of the
# connection's own, or the shared media socket); a TURN allocation does not.
PLAIN_UDP_PROTOCOLS = (StunProtocol, MuxedProtocol)

logger = logging.getLogger(__name__)

CLOCK_RATES = {"audio": 48000, "video": 90000}


def _drop_unused_parts(receiver: RTCRtpReceiver) -> None:
    """Release what RTCRtpReceiver.__init__ built for aiortc's own media pipeline
    (hooks.UNUSED_RECEIVER_PARTS). For video, its bitrate estimator alone holds
    1,000 small objects; a 12-member room has 144 video receivers (most of them
    the unused halves of receive slots), and every full garbage collection walked
    all of them: 150,000 objects, tens of milliseconds without forwarding."""
    for name in UNUSED_RECEIVER_PARTS:
        setattr(receiver, f"_RTCRtpReceiver__{name}", None)


class ForwardingReceiver(RTCRtpReceiver):
    """Receives one publisher's stream (audio or video) for a Publication."""

    publication: Publication
    rtcp_ssrc: int
    started: bool
    # What the participant's connection may send (shared by its receivers and senders).
    incoming: IncomingBudget

    @classmethod
    def take_over(
        cls,
        receiver: RTCRtpReceiver,
        publication: Publication,
        rtcp_ssrc: int,
        incoming: IncomingBudget,
    ) -> ForwardingReceiver:
        receiver.__class__ = cls
        assert isinstance(receiver, ForwardingReceiver)
        _drop_unused_parts(receiver)
        receiver.publication = publication
        receiver.rtcp_ssrc = rtcp_ssrc
        receiver.started = False
        receiver.incoming = incoming
        return receiver

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        if self.started:
            return
        self.transport._register_rtp_receiver(self, parameters)
        self.publication.start(list(parameters.codecs))
        direct_receive.install(self.transport, _deliver, _deliver_rtcp, budget=self.incoming)
        self.started = True

    async def stop(self) -> None:
        if self.started:
            direct_receive.uninstall(self.transport)
            self.transport._unregister_rtp_receiver(self)
            self.started = False

    def _handle_disconnect(self) -> None:
        pass

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        # aiortc's path: RTP that arrived before the direct handler could take it.
        self.publication.on_rtp(packet, arrival_time_ms)

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        # aiortc's path: RTCP that arrived before the direct handler could take it.
        self.handle_rtcp(packet)

    def handle_rtcp(self, packet: Any) -> None:
        if isinstance(packet, RtcpSrPacket):
            self.publication.on_sender_report(packet)

    async def send_rtcp(self, data: bytes) -> None:
        try:
            await self.transport._send_rtp(data)
        except ConnectionError:
            pass


def _deliver(receiver: Any, packet: RtpPacket, arrival_time_ms: int) -> bool:
    """direct_receive's delivery: a publication's packet, straight to it."""
    if type(receiver) is ForwardingReceiver:
        receiver.publication.on_rtp(packet, arrival_time_ms)
        return True
    return type(receiver) is UnusedReceiver  # it would drop the packet anyway


def _deliver_rtcp(recipient: Any, packet: Any) -> bool:
    """direct_receive's delivery of one RTCP packet (of a compound one) to a
    receiver or sender it was routed to."""
    kind = type(recipient)
    if kind is ForwardingSender or kind is ForwardingReceiver:
        recipient.handle_rtcp(packet)
        return True
    return kind is UnusedReceiver  # it would ignore the packet anyway


class UnusedReceiver(RTCRtpReceiver):
    """The receiver of a send-only transceiver (a receive slot seen from the
    server): it never receives, and must not start aiortc's decoder thread."""

    @classmethod
    def take_over(cls, receiver: RTCRtpReceiver) -> UnusedReceiver:
        receiver.__class__ = cls
        assert isinstance(receiver, UnusedReceiver)
        _drop_unused_parts(receiver)
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


@dataclass(frozen=True, slots=True)
class DirectRoute:
    """What sending a protected packet straight to a subscriber's socket needs,
    found once per nominated candidate pair and SRTP session, not per packet.

    A route holds while `usable()`: DTLS still connected, the same pair
    nominated and the same SRTP session. ForwardingSender.send_now makes a new
    one when it does not. Subscription.forward, which runs once per packet and
    subscriber, repeats usable()'s three checks inline (the call alone measured
    about 0.13 µs per copy, some 4% of the send-path benchmark) and otherwise
    goes through send_now.
    """

    dtls: Any
    # The ICE connection's nominated pairs by component (aioice keeps one dict).
    nominated: dict[int, Any]
    pair: Any
    session: Any
    protect: Callable[[bytes], bytes]
    send: DatagramSender
    # The pair's remote address (a property of the pair that builds a tuple).
    address: tuple[Any, ...]
    # What the compiled copy step (copy_step.py) sends with: the transport, its
    # socket's descriptor (-1: none), the address packed for sendto (b"": the
    # Python path sends) and libsrtp's handle of the session.
    transport: Any
    fd: int
    sockaddr: bytes
    srtp_handle: int

    @classmethod
    def for_pair(cls, dtls: Any, connection: Any, pair: Any, session: Any) -> DirectRoute | None:
        """The route for this pair and session, or None when the pair does not
        send on a plain UDP socket (a TURN allocation, whose send path is a
        coroutine)."""
        protocol = pair.protocol
        if type(protocol) not in PLAIN_UDP_PROTOCOLS:
            return None
        address = pair.remote_addr
        fd, sockaddr, srtp_handle = copy_step.route_handles(protocol.transport, session, address)
        return cls(
            dtls=dtls,
            nominated=connection._nominated,
            pair=pair,
            session=session,
            protect=protector(session),
            send=datagram_sender(protocol.transport),
            address=address,
            transport=protocol.transport,
            fd=fd,
            sockaddr=sockaddr,
            srtp_handle=srtp_handle,
        )

    def usable(self) -> bool:
        return (
            self.dtls._state is DtlsState.CONNECTED
            and self.nominated.get(1) is self.pair
            and self.dtls._tx_srtp is self.session
        )


class SendState:
    """What forwarding reads and counts on a sender once per copy, in an object
    with __slots__ that the sender's Subscription holds too: the compiled copy
    step reads these at their place in the object, where the sender's own
    attributes (aiortc's class has no slots) took a dictionary look-up each,
    seven per copy (about 8% of the server's CPU in a 12-member grid). The
    sender's attributes of the same names read and write them (InSendState)."""

    __slots__ = ("header_writer", "octets_sent", "packets_sent", "route", "started")

    def __init__(self) -> None:
        self.started = False
        # The route the last packet went out on, straight to a plain UDP socket
        # (None before the first, or while the nominated pair's socket is not one).
        self.route: DirectRoute | None = None
        # None: headers are written by aiortc's RtpPacket.serialize (two-byte extensions).
        self.header_writer: RtpHeaderWriter | None = None
        # Counted per outgoing stream (SSRC), across the publishers a slot carries:
        # the sender reports' counts must not go back, nor must the server's metrics.
        self.packets_sent = 0
        self.octets_sent = 0


Value = TypeVar("Value")


class InSendState(Generic[Value]):
    """A ForwardingSender attribute kept in its SendState."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, sender: None, owner: type) -> InSendState[Value]: ...

    @overload
    def __get__(self, sender: ForwardingSender, owner: type) -> Value: ...

    def __get__(self, sender: ForwardingSender | None, owner: type) -> Value | InSendState[Value]:
        if sender is None:
            return self
        value: Value = getattr(sender.send_state, self._name)
        return value

    def __set__(self, sender: ForwardingSender, value: Value) -> None:
        setattr(sender.send_state, self._name, value)


class ForwardingSender(RTCRtpSender):
    """Sends one receive slot's stream to a subscriber."""

    subscription: Subscription | None
    munger: Munger
    picture_ids: PictureIdMunger
    mid: str | None
    codecs: list[RTCRtpCodecParameters]
    send_state: SendState
    started = InSendState[bool]()
    header_writer = InSendState[RtpHeaderWriter | None]()
    packets_sent = InSendState[int]()
    octets_sent = InSendState[int]()
    route = InSendState[DirectRoute | None]()
    # What it carries now, for its share of the subscriber's REMB (_share_of),
    # and whether the subscriber's REMBs hold the publisher back (_on_remb).
    sent_rate: SentRate
    congestion: CongestionSignal
    retransmissions: int
    # When each recently retransmitted packet (outgoing sequence number) was sent
    # again, oldest first: a packet is not sent again within one round trip.
    resent_at: dict[int, float]
    # The round trip to the subscriber's browser, measured on this stream's sender
    # reports (shared by the peer connection's senders and publications).
    round_trip: RoundTrip
    # What the subscriber's connection may send (shared by its receivers and senders).
    incoming: IncomingBudget
    # How well the subscriber's line carries the room (shared by the peer's senders),
    # fed with what her receiver reports on this stream say; None: not judged.
    quality: ConnectionQuality | None
    downlink: DownlinkReports
    _pending: set[asyncio.Future[None]]
    # The DTLS transport and its ICE connection, fixed once sending starts (two
    # properties fewer per packet).
    _dtls: Any
    _connection: Any

    @classmethod
    def take_over(
        cls,
        sender: RTCRtpSender,
        stream_id: str,
        round_trip: RoundTrip,
        incoming: IncomingBudget,
        quality: ConnectionQuality | None = None,
    ) -> ForwardingSender:
        sender.__class__ = cls
        assert isinstance(sender, ForwardingSender)
        sender.send_state = SendState()
        sender.subscription = None
        sender.munger = Munger(CLOCK_RATES[sender.kind])
        sender.picture_ids = PictureIdMunger()
        sender.mid = None
        sender.codecs = []
        sender.sent_rate = SentRate()
        sender.congestion = CongestionSignal()
        sender.retransmissions = 0
        sender.resent_at = {}
        sender.round_trip = round_trip
        sender.incoming = incoming
        sender.quality = quality
        sender.downlink = DownlinkReports()
        sender._pending = set()
        sender._dtls = None
        sender._connection = None
        sender._stream_id = stream_id
        return sender

    @property
    def ssrc(self) -> int:
        return int(self._ssrc)

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        if self.started:
            return
        self.transport._register_rtp_sender(self, parameters)
        self._dtls = self.transport
        self._connection = self.transport.transport._connection
        self.mid = parameters.muxId
        self.codecs = list(parameters.codecs)
        try:
            self.header_writer = RtpHeaderWriter.negotiated(
                self.ssrc, self.mid, parameters.headerExtensions
            )
        except UnsupportedHeader:
            self.header_writer = None
        self.started = True
        # The subscriber's RTCP (also an observer's, who publishes nothing).
        direct_receive.install(self.transport, _deliver, _deliver_rtcp, budget=self.incoming)
        if self.subscription is not None:
            self.subscription.sender_started()

    async def stop(self) -> None:
        if self.started:
            direct_receive.uninstall(self.transport)
            self.transport._unregister_rtp_sender(self)
            self.started = False

    def send_now(self, data: bytes, rtcp: bool = False) -> bool:
        """Protect and send one RTP (or RTCP) packet, without a coroutine: straight
        to the socket of the nominated ICE candidate pair. This is what
        RTCDtlsTransport._send_rtp does through four nested coroutines, once per
        packet and subscriber. False when the transport is not (or no longer)
        connected."""
        route = self.route
        if route is None or not route.usable():
            dtls = self._dtls
            if dtls is None or dtls._state is not DtlsState.CONNECTED:
                return False
            pair = self._connection._nominated.get(1)
            if pair is None:
                return False
            session = dtls._tx_srtp
            route = self.route = DirectRoute.for_pair(dtls, self._connection, pair, session)
            if route is None:
                protected = session.protect_rtcp(data) if rtcp else session.protect(data)
                task = asyncio.ensure_future(pair.protocol.send_data(protected, pair.remote_addr))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
                return True
        protected = route.session.protect_rtcp(data) if rtcp else route.protect(data)
        route.send(protected, route.address)
        return True

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        # aiortc's path: RTCP that arrived before the direct handler could take it.
        self.handle_rtcp(packet)

    def handle_rtcp(self, packet: Any) -> None:
        """The subscriber's feedback on this stream: its receiver reports (the
        round trip), NACKs, keyframe requests and bandwidth estimates."""
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
            now = time.monotonic()
            for report in packet.reports:
                if report.ssrc == self.ssrc:
                    self.round_trip.report_answered(report.lsr, report.dlsr, now)
                    self._downlink_report(report)
            return
        subscription = self.subscription
        if subscription is None:
            return
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            subscription.retransmit(list(packet.lost))
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            subscription.keyframe_requested()
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                return
            # Only video publishers are told a bandwidth (audio's is small and fixed).
            if self.ssrc in ssrcs and self.kind == "video":
                self._on_remb(subscription, bitrate, ssrcs)

    def _downlink_report(self, report: RtcpReceiverInfo) -> None:
        """The subscriber's loss on this audio stream, less what its publisher lost
        on her way to the server (a gap every subscriber of hers sees)."""
        subscription = self.subscription
        if self.quality is None or self.kind != "audio" or subscription is None:
            return
        publication = subscription.publication
        expected, lost = self.downlink.report(
            id(publication), report.highest_sequence, report.packets_lost, publication.packets_lost
        )
        self.quality.downlink(expected, lost)

    def _on_remb(self, subscription: Subscription, bitrate: int, ssrcs: list[int]) -> None:
        """A subscriber's REMB that lists this stream: its share holds the
        publisher back while the subscriber's estimate signals congestion
        (CongestionSignal), up to the cap."""
        share = self._share_of(bitrate, ssrcs)  # also keeps the rates measured
        if not self.congestion.update(bitrate):
            return
        if share >= subscription.publication.bandwidth.cap:
            self.congestion.released()
            subscription.bandwidth_released()
        else:
            subscription.bandwidth_reported(share)

    def _share_of(self, bitrate: int, ssrcs: list[int]) -> int:
        """This stream's part of a REMB. A REMB gives the receiver's estimate
        for all the streams it lists together, and Chromium lists every video
        it receives on the connection with one total: a subscriber of eleven
        videos that can take 3 Mbit/s can take about 270 kbit/s of each. The
        videos listed share it by what each carries now (`share_level`); audio
        (not listed by Chromium, and with DTX mostly one speaker at a time) is
        not counted. Until each listed video's rate is measured (the first
        second), the whole counts, as it did for a single stream."""
        # Walks the connection's own senders, not the list: a REMB may list
        # hundreds of SSRCs, and each sender it names comes here.
        listed = set(ssrcs)
        now = time.monotonic()
        rates = [
            sender.sent_rate.update(sender.octets_sent, now)
            for ssrc, sender in self.transport._rtp_router.senders.items()
            if ssrc in listed and isinstance(sender, ForwardingSender) and sender.kind == "video"
        ]
        measured = [rate for rate in rates if rate is not None]
        if len(measured) < len(rates):
            return bitrate
        return share_level(bitrate, measured)


copy_step.register(
    subscription=Subscription,
    munger=Munger,
    picture_ids=PictureIdMunger,
    route=DirectRoute,
    writer=RtpHeaderWriter,
    send_state=SendState,
    receive=direct_receive.DirectReceiveState,
    budget=IncomingBudget,
    muxed_protocol=MuxedProtocol,
    publication=Publication,
    forwarded=ForwardedPacket,
    forwarding_receiver=ForwardingReceiver,
)
