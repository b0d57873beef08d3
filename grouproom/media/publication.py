"""Publication: one participant's incoming audio or video stream.

It receives each decrypted RTP packet once, keeps the server's side of the RTP
session with the publisher (receiver reports, NACKs for lost packets, keyframe
requests, bandwidth estimates) and hands the packet to every Subscription.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
)

from grouproom.media import copy_step
from grouproom.media.bandwidth import BandwidthEstimate, LeanBitrateEstimator
from grouproom.media.contract import Kind
from grouproom.media.fan_out import VideoFanOut, fan_out_for
from grouproom.media.keyframe import starts_keyframe, vp8_picture_id
from grouproom.media.munger import SEQ_MOD
from grouproom.media.nack import NackRequests
from grouproom.media.packet_buffer import PacketBuffer
from grouproom.media.round_trip import RoundTrip, middle_ntp_bits

if TYPE_CHECKING:
    from grouproom.media.endpoints import ForwardingReceiver
    from grouproom.media.subscription import Subscription

logger = logging.getLogger(__name__)

# Seconds between two PLIs to one publisher. With 0.5 s, members joining a
# 12-member grid 0.25 s apart waited 320 ms (median) for each first frame, as
# every other request to a publisher waited for the interval to end; with
# 0.25 s, 97 ms (the bench's grid and join storm).
KEYFRAME_REQUEST_INTERVAL = 0.25
RETRANSMISSION_BUFFER = 512  # packets of video kept for NACKs (about 1.5 s at 500 kbps)
# A subscriber that starts while a keyframe is still arriving (another
# subscriber's request started it) is given it from the ring, with what came
# after it, if it began at most this many seconds ago (see keyframe_in_ring).
KEYFRAME_CATCH_UP = 0.5
# Seconds between two looks at the packets still missing from a publisher (each
# is asked for again once per round trip; see nack.py).
NACK_CHECK_INTERVAL = 0.04


@dataclass(slots=True)
class ForwardedPacket:
    """A received packet with its original header fields, which forwarding
    overwrites per subscriber on the shared RtpPacket object."""

    packet: RtpPacket
    seq: int
    timestamp: int
    payload_type: int
    codec: RTCRtpCodecParameters
    keyframe: bool
    payload: bytes
    marker: int
    abs_send_time: int | None
    audio_level: tuple[bool, int] | None
    # VP8: where the payload descriptor's PictureID is (offset, bits), which a slot
    # may rewrite; None for other codecs and VP8 without one.
    picture_id_at: tuple[int, int] | None


class Publication:
    def __init__(
        self,
        owner_id: str,
        kind: Kind,
        video_max_bitrate: int,
        round_trip: RoundTrip | None = None,
    ) -> None:
        self.owner_id = owner_id
        # The round trip to the publisher's browser (its peer connection's).
        self.round_trip = round_trip if round_trip is not None else RoundTrip()
        self.kind = kind
        self.enabled = True
        self.subscriptions: list[Subscription] = []
        self.codecs: dict[int, RTCRtpCodecParameters] = {}
        self._vp8_payload_types: frozenset[int] = frozenset()
        self.media_ssrc: int | None = None
        self.receiver: ForwardingReceiver | None = None
        self.packets_received = 0
        self.keyframe_requests_sent = 0
        self.nacks_sent = 0
        self._statistics: StreamStatistics | None = None
        self._most_lost = 0
        self._last_sender_report: tuple[int, int] | None = None
        self._last_sender_report_arrival = 0.0  # monotonic
        self._last_keyframe_request = -KEYFRAME_REQUEST_INTERVAL
        self._keyframe_request_timer: asyncio.TimerHandle | None = None
        self._pending_sends: set[asyncio.Future[None]] = set()
        self.is_video = kind == "video"
        self._nack = NackRequests() if self.is_video else None
        self._nack_timer: asyncio.TimerHandle | None = None
        self.buffer: PacketBuffer[ForwardedPacket] | None = (
            PacketBuffer(RETRANSMISSION_BUFFER) if self.is_video else None
        )
        self.bandwidth = BandwidthEstimate(cap=video_max_bitrate)
        self._estimator = LeanBitrateEstimator() if self.is_video else None
        self._fan_out: VideoFanOut | None = None
        # The first packet of the latest keyframe and when it arrived (monotonic).
        self._keyframe_start: tuple[int, float] | None = None

    def attach(self, receiver: ForwardingReceiver) -> None:
        self.receiver = receiver

    def start(self, codecs: list[RTCRtpCodecParameters]) -> None:
        self.codecs = {
            codec.payloadType: codec for codec in codecs if codec.payloadType is not None
        }
        self._vp8_payload_types = frozenset(
            pt for pt, codec in self.codecs.items() if codec.mimeType.lower() == "video/vp8"
        )

    # -- incoming media -------------------------------------------------------

    def on_rtp(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        """One packet from the publisher: synchronous, called from the datagram
        callback (direct_receive) for each packet. With the compiled steps
        (copy_step.py), the usual case is done in C (`_copy_step.c`, the
        publication step), which hands this method every other packet."""
        codec = self.codecs.get(packet.payload_type)
        if codec is None:
            return
        if self._statistics is None:
            self._statistics = StreamStatistics(codec.clockRate)
        if packet.ssrc != self.media_ssrc:
            self.media_ssrc = packet.ssrc
            self._keyframe_start = None
            if self._nack is not None:
                self._nack.reset()
        self._statistics.add(packet)
        self.packets_received += 1
        now = time.monotonic()
        keyframe = False
        if self.is_video:
            # Padding too: its sequence number is no gap to ask for, and the bytes
            # of a bandwidth probe count in the estimate (as in aiortc's receiver).
            keyframe = self._video_bookkeeping(packet, codec, arrival_time_ms, now)
        if not packet.payload:
            return  # padding used for bandwidth probing: nothing to forward
        extensions = packet.extensions
        forwarded = ForwardedPacket(
            packet=packet,
            seq=packet.sequence_number,
            timestamp=packet.timestamp,
            payload_type=packet.payload_type,
            codec=codec,
            keyframe=keyframe,
            payload=packet.payload,
            marker=packet.marker,
            abs_send_time=extensions.abs_send_time,
            audio_level=extensions.audio_level,
            picture_id_at=(
                vp8_picture_id(packet.payload)
                if packet.payload_type in self._vp8_payload_types
                else None
            ),
        )
        if self.buffer is not None:
            self.buffer.put(forwarded.seq, forwarded)
            if keyframe:
                self._keyframe_start = (forwarded.seq, now)
        if not self.enabled:
            return
        if self.is_video:
            fan_out = self._fan_out
            if fan_out is None:
                fan_out = self._fan_out = fan_out_for(asyncio.get_running_loop())
            fan_out.add(self, forwarded, now)
        else:
            self.forward(forwarded, now)

    def keyframe_is_recent(self, now: float) -> bool:
        """Whether the latest keyframe began recently enough for keyframe_in_ring."""
        start = self._keyframe_start
        return start is not None and now - start[1] <= KEYFRAME_CATCH_UP

    def keyframe_in_ring(self, before_seq: int, now: float) -> list[ForwardedPacket] | None:
        """The packets from the first of the latest keyframe up to (not
        including) `before_seq`, for a subscriber that starts now: only if that
        keyframe began less than KEYFRAME_CATCH_UP seconds ago and every packet
        since is in the ring (a gap, or a keyframe that is not before
        `before_seq`, gives None: the subscriber waits for a new keyframe)."""
        start = self._keyframe_start
        buffer = self.buffer
        if start is None or buffer is None or not self.keyframe_is_recent(now):
            return None
        first, _ = start
        count = (before_seq - first) % SEQ_MOD
        if not 0 < count < RETRANSMISSION_BUFFER:
            return None
        packets = []
        for offset in range(count):
            packet = buffer.get((first + offset) % SEQ_MOD)
            if packet is None:
                return None
            packets.append(packet)
        return packets

    def forward(self, forwarded: ForwardedPacket, now: float) -> None:
        """Send one packet to every subscriber (video comes here from the loop's
        fan-out queue, which may hold it past a mute)."""
        if not self.enabled:
            return
        compiled = copy_step.forward_copies
        if compiled is not None:  # the compiled step (copy_step.py)
            compiled(self.subscriptions, forwarded, now)
            return
        # forward() never awaits, so the list cannot change while it is walked.
        for subscription in self.subscriptions:
            subscription.forward(forwarded, now)

    def _video_bookkeeping(
        self, packet: RtpPacket, codec: RTCRtpCodecParameters, arrival_time_ms: int, now: float
    ) -> bool:
        assert self._nack is not None and self._estimator is not None
        if packet.extensions.abs_send_time is not None:
            estimate = self._estimator.add(
                abs_send_time=packet.extensions.abs_send_time,
                arrival_time_ms=arrival_time_ms,
                payload_size=len(packet.payload) + packet.padding_size,
                ssrc=packet.ssrc,
            )
            if estimate is not None:
                self.bandwidth.report_incoming(estimate[0], now)
        given_up = self._nack.given_up
        lost = self._nack.received(packet.sequence_number, now)
        if lost is None or self._nack.given_up > given_up:
            self.request_keyframe()  # too much missing to ask for, or too far back
        if lost:  # a gap to ask for, also when older packets were given up
            self._send_soon(self._send_nack(list(lost)))
            if self._nack_timer is None:
                self._check_missing_later()
        return starts_keyframe(codec.mimeType, packet.payload)

    def _ask_again(self) -> None:
        """Ask the publisher again for what is still missing, once per round trip."""
        self._nack_timer = None
        nack = self._nack
        if nack is None or not nack.missing:
            return
        given_up = nack.given_up
        again = nack.due(time.monotonic(), self.round_trip.seconds)
        if again:
            self._send_soon(self._send_nack(again))
        if nack.given_up > given_up:
            # A packet asked for in vain: its frame, and every one after it up to the
            # next keyframe, cannot be decoded by anyone in the room. One request now
            # serves them all, before each subscriber's decoder gives up and asks.
            self.request_keyframe()
        if nack.missing:
            self._check_missing_later()

    def _check_missing_later(self) -> None:
        self._nack_timer = asyncio.get_running_loop().call_later(
            NACK_CHECK_INTERVAL, self._ask_again
        )

    def on_sender_report(self, report: RtcpSrPacket) -> None:
        info = report.sender_info
        self._last_sender_report = (info.ntp_timestamp, info.rtp_timestamp)
        self._last_sender_report_arrival = time.monotonic()
        for subscription in self.subscriptions:
            subscription.send_sender_report(info.ntp_timestamp, info.rtp_timestamp)

    @property
    def packets_lost(self) -> int:
        """Packets of this publisher that never arrived (RTP sequence gaps). The
        statistics' figure falls when a late packet fills a gap; this one keeps its
        highest value, as a metrics counter must."""
        if self._statistics is not None:
            self._most_lost = max(self._most_lost, self._statistics.packets_lost)
        return self._most_lost

    @property
    def packets_not_recovered(self) -> int:
        """Lost video packets the server stopped asking the publisher for (asked
        ten times, too far back, or too many missing at once): lost for the room."""
        return 0 if self._nack is None else self._nack.given_up

    @property
    def last_sender_report(self) -> tuple[int, int] | None:
        return self._last_sender_report

    # -- control ----------------------------------------------------------------

    def set_enabled(self, enabled: bool) -> None:
        if enabled == self.enabled:
            return
        self.enabled = enabled
        for subscription in self.subscriptions:
            subscription.pause()
        if enabled and self.is_video:
            self.request_keyframe()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe, at most once per interval; a request
        inside the interval is sent when the interval ends."""
        if not self.is_video or self._keyframe_request_timer is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_keyframe_request + KEYFRAME_REQUEST_INTERVAL - loop.time()
        if wait <= 0:
            self._send_keyframe_request()
        else:
            self._keyframe_request_timer = loop.call_later(wait, self._send_keyframe_request)

    def _send_keyframe_request(self) -> None:
        self._keyframe_request_timer = None
        if self.receiver is None or self.media_ssrc is None:
            # Nothing received yet: the first packets will start with a keyframe.
            return
        self._last_keyframe_request = asyncio.get_running_loop().time()
        self.keyframe_requests_sent += 1
        pli = RtcpPsfbPacket(
            fmt=RTCP_PSFB_PLI, ssrc=self.receiver.rtcp_ssrc, media_ssrc=self.media_ssrc
        )
        self._send_soon(self.receiver.send_rtcp(bytes(pli)))

    def _send_soon(self, sending: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(sending)
        self._pending_sends.add(task)
        task.add_done_callback(self._pending_sends.discard)

    async def _send_nack(self, lost: list[int]) -> None:
        if self.receiver is None or self.media_ssrc is None:
            return
        nack = RtcpRtpfbPacket(
            fmt=RTCP_RTPFB_NACK, ssrc=self.receiver.rtcp_ssrc, media_ssrc=self.media_ssrc
        )
        nack.lost = lost
        self.nacks_sent += 1
        await self.receiver.send_rtcp(bytes(nack))

    async def send_reports(self) -> None:
        """Periodic RTCP to the publisher: a receiver report, and for video the
        bandwidth estimate (REMB)."""
        if self.receiver is None or self.media_ssrc is None or self._statistics is None:
            return
        stats = self._statistics
        assert stats.max_seq is not None
        now = time.monotonic()
        # LSR and DLSR: the publisher's browser measures its round trip from them.
        lsr = dlsr = 0
        if self._last_sender_report is not None:
            lsr = middle_ntp_bits(self._last_sender_report[0])
            dlsr = min(int((now - self._last_sender_report_arrival) * 65536), 0xFFFFFFFF)
        report = RtcpRrPacket(
            ssrc=self.receiver.rtcp_ssrc,
            reports=[
                RtcpReceiverInfo(
                    ssrc=self.media_ssrc,
                    fraction_lost=stats.fraction_lost,
                    packets_lost=stats.packets_lost,
                    highest_sequence=stats.max_seq,
                    jitter=stats.jitter,
                    lsr=lsr,
                    dlsr=dlsr,
                )
            ],
        )
        data = bytes(report)
        if self.is_video:
            remb = RtcpPsfbPacket(
                fmt=RTCP_PSFB_APP,
                ssrc=self.receiver.rtcp_ssrc,
                media_ssrc=0,
                fci=pack_remb_fci(self.bandwidth.target(now), [self.media_ssrc]),
            )
            data += bytes(remb)
        await self.receiver.send_rtcp(data)

    def close(self) -> None:
        if self._keyframe_request_timer is not None:
            self._keyframe_request_timer.cancel()
            self._keyframe_request_timer = None
        if self._nack_timer is not None:
            self._nack_timer.cancel()
            self._nack_timer = None
        self.subscriptions.clear()
        if self.buffer is not None:
            self.buffer.clear()
