"""Subscription: one Publication forwarded to one subscriber's receive slot.

Per packet it rewrites SSRC, sequence number, timestamp, payload type and the
mid header extension into the subscriber's RTP session and sends it; video
starts (and resumes) only at a keyframe. It answers the subscriber's NACKs from
the publication's retransmission buffer, passes keyframe requests and bandwidth
reports on to the publication, and translates the publisher's sender reports so
the browser can keep audio and video in sync.
"""

from __future__ import annotations

import logging
import struct
import time
from typing import TYPE_CHECKING

from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from grouproom.media.munger import SEQ_MOD
from grouproom.media.publication import RETRANSMISSION_BUFFER

if TYPE_CHECKING:
    from grouproom.media.endpoints import ForwardingSender, SendState
    from grouproom.media.publication import ForwardedPacket, Publication

logger = logging.getLogger(__name__)

# No outgoing payload type worked out yet (None: the subscriber cannot take it).
MISSING = -1
# Retransmitted packets remembered per outgoing stream (as many as the
# publication's ring holds: an older one cannot be sent again anyway).
RESENT_MEMORY = RETRANSMISSION_BUFFER
# An RTCP sender report without report blocks (RFC 3550 section 6.4.1): version 2
# and no blocks, packet type 200, a length of 6 (32-bit words after the first),
# the sender's SSRC, then its NTP and RTP timestamps and packet and octet counts.
_SENDER_REPORT = struct.Struct("!BBHIQIII")
DTLS_CONNECTED = DtlsState.CONNECTED


def sender_report(
    ssrc: int, ntp_timestamp: int, rtp_timestamp: int, packet_count: int, octet_count: int
) -> bytes:
    """The bytes of a sender report (aiortc's RtcpSrPacket gives the same, in
    about ten times as long; one goes to every subscriber of a publisher for each
    report of hers). The counts wrap at 32 bits."""
    return _SENDER_REPORT.pack(
        0x80,
        200,
        6,
        ssrc,
        ntp_timestamp,
        rtp_timestamp,
        packet_count & 0xFFFFFFFF,
        octet_count & 0xFFFFFFFF,
    )


def codec_key(codec: RTCRtpCodecParameters) -> tuple[str, str]:
    """What must match for a payload to be understood the same on both sides."""
    mode = ""
    if codec.mimeType.lower() == "video/h264":
        mode = str(codec.parameters.get("packetization-mode", "0"))
    return codec.mimeType.lower(), mode


class Subscription:
    # Slots: the compiled copy step reads these in place (copy_step.py).
    __slots__ = (
        "_payload_types",
        "closed",
        "munger",
        "picture_ids",
        "publication",
        "send_state",
        "sender",
        "waiting_for_keyframe",
        "wanted",
    )

    def __init__(
        self, publication: Publication, sender: ForwardingSender, wanted: bool = True
    ) -> None:
        self.publication = publication
        self.sender = sender
        # What each copy reads and counts on the sender (its slots, for the compiled step).
        self.send_state: SendState = sender.send_state
        # False while the subscriber does not show this video (set_visible_video).
        self.wanted = wanted
        # The slot's numbering continues where its previous subscription ended.
        self.munger = sender.munger
        self.munger.pause()
        self.picture_ids = sender.picture_ids
        self.picture_ids.new_source()
        self.waiting_for_keyframe = publication.is_video
        self._payload_types: dict[int, int | None] = {}
        self.closed = False

    # -- lifecycle --------------------------------------------------------------

    def sender_started(self) -> None:
        if self.publication.is_video and self.wanted:
            self._ask_for_a_keyframe()

    def _ask_for_a_keyframe(self) -> None:
        """Ask the publisher for a keyframe to start from, unless one began so
        recently that it can be given from the ring (keyframe_in_ring): a join
        then costs nobody in the room another keyframe. Should that fail (a
        packet missing from the ring), forward() asks after all."""
        if not self.publication.keyframe_is_recent(time.monotonic()):
            self.publication.request_keyframe()

    def pause(self) -> None:
        self.munger.pause()
        if self.publication.is_video:
            self.waiting_for_keyframe = True

    def set_wanted(self, wanted: bool) -> None:
        """The subscriber stopped or started showing this stream. Stopping pauses
        it like a mute (the numbering goes on without a gap when it resumes);
        starting again resumes at a keyframe, asked for at once (or a recent one
        from the ring)."""
        if wanted == self.wanted:
            return
        self.wanted = wanted
        self.pause()
        if not wanted:
            # A subscriber that receives nothing of this stream has no say in its rate.
            self.bandwidth_released()
        elif self.sender.started and self.publication.enabled:
            self._ask_for_a_keyframe()

    def close(self) -> None:
        self.closed = True
        self.bandwidth_released()

    # -- forwarding -------------------------------------------------------------

    def _outgoing_payload_type(self, forwarded: ForwardedPacket) -> int | None:
        incoming = forwarded.payload_type
        if incoming not in self._payload_types:
            key = codec_key(forwarded.codec)
            match = next((c for c in self.sender.codecs if codec_key(c) == key), None)
            if match is None:
                logger.warning(
                    "subscriber cannot receive %s: not negotiated", forwarded.codec.mimeType
                )
            self._payload_types[incoming] = match.payloadType if match else None
        return self._payload_types[incoming]

    def forward(self, forwarded: ForwardedPacket, now: float) -> None:
        """Send one packet on (synchronously: this runs once per packet and
        subscriber, and a coroutine per call was a large part of the cost)."""
        state = self.send_state
        if not state.started or self.closed or not self.wanted:
            return
        if self.waiting_for_keyframe:
            caught_up: list[ForwardedPacket] = []
            if not forwarded.keyframe:
                # A keyframe still arriving (asked for by someone else) is given
                # from the ring; otherwise wait for the one asked for now.
                in_ring = self.publication.keyframe_in_ring(forwarded.seq, now)
                if in_ring is None:
                    self.publication.request_keyframe()
                    return
                caught_up = in_ring
            self.waiting_for_keyframe = False
            for earlier in caught_up:
                self.forward(earlier, now)
        payload_type = self._payload_types.get(forwarded.payload_type, MISSING)
        if payload_type is MISSING:
            payload_type = self._outgoing_payload_type(forwarded)
        if payload_type is None:
            return
        rewritten = self.munger.rewrite(forwarded.seq, forwarded.timestamp, now)
        if rewritten is None:
            return
        seq, timestamp = rewritten
        data = self._serialize(forwarded, seq, timestamp, payload_type)
        route = state.route
        # DirectRoute.usable(), inline: this runs once per packet and subscriber.
        if (
            route is not None
            and route.dtls._state is DTLS_CONNECTED
            and route.nominated.get(1) is route.pair
            and route.dtls._tx_srtp is route.session
        ):
            route.send(route.protect(data), route.address)
        elif not self.sender.send_now(data):
            return
        state.packets_sent += 1
        state.octets_sent += len(forwarded.payload)

    def _serialize(
        self, forwarded: ForwardedPacket, seq: int, timestamp: int, payload_type: int
    ) -> bytes:
        payload = forwarded.payload
        if forwarded.picture_id_at is not None:
            payload = self.picture_ids.rewrite_at(payload, forwarded.picture_id_at)
        writer = self.send_state.header_writer
        if writer is not None:
            header = writer.header(
                payload_type,
                forwarded.marker,
                seq,
                timestamp,
                forwarded.abs_send_time,
                forwarded.audio_level,
            )
            return header + payload
        # Two-byte header extensions: aiortc's serializer, on the shared packet.
        packet = forwarded.packet
        packet.ssrc = self.sender.ssrc
        packet.sequence_number = seq
        packet.timestamp = timestamp
        packet.payload_type = payload_type
        packet.extensions.mid = self.sender.mid
        packet.payload = payload
        try:
            return packet.serialize(self.sender.transport._rtp_header_extensions_map)
        finally:
            packet.payload = forwarded.payload  # shared with the other subscriptions

    # -- feedback from the subscriber -------------------------------------------

    def retransmit(self, lost: list[int]) -> None:
        """Send again what the subscriber says it lost, from the publication's
        ring. A packet already sent again less than one round trip ago is not
        sent once more: its copy may still be on the way (a browser repeats its
        NACK each round trip while a packet is missing, and a weak line should
        not carry the same packet twice), and a subscriber repeating NACKs
        cannot make the server send more than one copy per round trip."""
        buffer = self.publication.buffer
        if buffer is None or self.closed:
            return
        sender = self.sender
        resent_at = sender.resent_at
        now = time.monotonic()
        round_trip = sender.round_trip.seconds
        for lost_seq in lost:
            out_seq = lost_seq % SEQ_MOD  # aiortc's NACK parser does not wrap
            last = resent_at.get(out_seq)
            if last is not None and now - last < round_trip:
                continue
            in_seq = self.munger.original_seq(out_seq)
            if in_seq is None:
                continue
            forwarded = buffer.get(in_seq)
            if forwarded is None:
                continue
            payload_type = self._outgoing_payload_type(forwarded)
            if payload_type is None:
                continue
            timestamp = self.munger.outgoing_timestamp(forwarded.timestamp)
            if sender.send_now(self._serialize(forwarded, out_seq, timestamp, payload_type)):
                sender.retransmissions += 1
                resent_at.pop(out_seq, None)  # kept oldest first
                resent_at[out_seq] = now
                if len(resent_at) > RESENT_MEMORY:
                    del resent_at[next(iter(resent_at))]

    def keyframe_requested(self) -> None:
        self.publication.request_keyframe()

    def bandwidth_reported(self, bitrate: int) -> None:
        if not self.wanted:
            return
        self.publication.bandwidth.report_subscriber(id(self), bitrate, time.monotonic())

    def bandwidth_released(self) -> None:
        """The subscriber no longer holds the publisher back (its estimate
        recovered, it stopped showing the video, or it left)."""
        self.publication.bandwidth.forget_subscriber(id(self))

    def send_sender_report(self, ntp_timestamp: int, rtp_timestamp: int) -> None:
        state = self.send_state
        if not state.started or self.closed or self.munger.paused:
            return
        report = sender_report(
            self.sender.ssrc,
            ntp_timestamp,
            self.munger.outgoing_timestamp(rtp_timestamp),
            state.packets_sent,
            state.octets_sent,
        )
        if self.sender.send_now(report, rtcp=True):
            self.sender.round_trip.report_sent(ntp_timestamp, time.monotonic())
