"""What a bench bot sends and receives, without encoding or decoding.

Like grouproom's own forwarding endpoints, these take over the RTCRtpSender and
RTCRtpReceiver that aiortc created for a transceiver (a class change before the
peer connection starts them), keeping aiortc's ICE, DTLS and SRTP:

- `ClipSender` sends the pre-encoded clip (benchmarks/clip.py) as RTP at its own
  pace: VP8 with a payload descriptor and picture id, Opus in 20 ms packets. A
  keyframe request (PLI or FIR) makes it send a keyframe at the next frame (in
  place of that frame: the clip's own keyframes keep their times, except in
  the unstamped streams a relay decodes, which start the clip over); a NACK
  is answered from the last 512 packets; a sender report goes out every second.
- `CountingReceiver` counts packets, bytes, frames and keyframes per publisher,
  when the first decodable frame (a whole keyframe) arrived, and the delay of every
  stamped packet.

A stamp is 12 bytes appended to every payload: a marker, the publisher's bot
number and its send time (CLOCK_MONOTONIC, shared by all processes of the host).
The servers forward payloads untouched, so publisher-send to subscriber-receive
is measured per packet. Stamped streams are not meant for a decoder (no bench
participant decodes); the decode-and-re-encode relay gets unstamped streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.clock import current_ntp_time
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters, RTCRtpSendParameters
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSenderInfo,
    RtcpSrPacket,
    RtpPacket,
)

from benchmarks.clip import AUDIO_FRAME, FRAME_RATE, Clip
from grouproom.media import direct_receive
from grouproom.media.keyframe import starts_keyframe

# Opus DTX (RFC 7587 section 3.1.3; what libopus and browsers do): in silence one
# small packet (comfort noise) every 400 ms instead of one every 20 ms.
DTX_FRAMES = 20
DTX_PAYLOAD = bytes((0x08, 0x00, 0x00))


def speaks(bot: int, now: float, seconds: float, members: int) -> bool:
    """Whether bot number `bot` (from 1) has the turn at time `now` when `members`
    bots speak in turn for `seconds` each."""
    return int(now / seconds) % members == (bot - 1) % members


STAMP = struct.Struct("!HHQ")
STAMP_MARK = 0x6772  # "gr"
VIDEO_TICKS = 90_000 // FRAME_RATE
HISTORY = 512
# The paced scenario: libwebrtc's pacer sends video at 2.5 times the encoder's
# target rate (here the clip's 500 kbit/s), in steps of 5 ms, so a keyframe of
# 40 packets leaves over about 0.3 s instead of at once.
PACING_RATE = 2.5 * 500_000 / 8  # bytes per second
PACING_STEP = 0.005
DELAY_BUCKET_US = 50
DELAY_BUCKETS = 40_000  # up to 2 s


@dataclass
class Window:
    """The measuring window (CLOCK_MONOTONIC ns): packets sent inside it are
    counted by their sender and, by their stamp, by their receivers, so that
    packets in flight at either end cannot skew the delivery ratio."""

    start_ns: int = 1 << 62
    end_ns: int = 1 << 62


WINDOW = Window()


@dataclass
class DelayHistogram:
    """Delays in 50 us buckets; the last bucket holds everything slower. Audio
    packets are also counted on their own (a voice that lags is what a group
    notices first; video has the browser's frame buffer)."""

    counts: list[int] = field(default_factory=lambda: [0] * DELAY_BUCKETS)
    audio_counts: list[int] = field(default_factory=lambda: [0] * DELAY_BUCKETS)

    def add(self, delay_ns: int, audio: bool = False) -> None:
        bucket = delay_ns // (DELAY_BUCKET_US * 1000)
        if bucket < 0:
            bucket = 0
        elif bucket >= DELAY_BUCKETS:
            bucket = DELAY_BUCKETS - 1
        self.counts[bucket] += 1
        if audio:
            self.audio_counts[bucket] += 1

    def sparse(self) -> dict[int, int]:
        return {index: count for index, count in enumerate(self.counts) if count}

    def sparse_audio(self) -> dict[int, int]:
        return {index: count for index, count in enumerate(self.audio_counts) if count}


def percentile_ms(histogram: dict[int, int], fraction: float) -> float | None:
    """A percentile of a sparse delay histogram, in milliseconds (bucket middle)."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return (bucket + 0.5) * DELAY_BUCKET_US / 1000
    return None


@dataclass
class Sent:
    window_packets: int = 0  # stamped packets sent inside the window
    window_audio_packets: int = 0  # of those, audio
    audio_packets: int = 0
    video_packets: int = 0
    video_frames: int = 0
    keyframes: int = 0
    keyframe_requests: int = 0
    retransmissions: int = 0


@dataclass
class FromPublisher:
    """What one subscriber received from one publisher."""

    window_packets: int = 0  # stamped packets that were sent inside the window
    audio_packets: int = 0
    video_packets: int = 0
    video_frames: int = 0
    keyframes: int = 0
    bytes: int = 0
    first_decodable_ns: int | None = None


def paced_wait(free_at: float, now: float, size: int) -> tuple[float, float]:
    """How long a packet of `size` bytes waits for the pacer at `now`, and when
    the pacer is free again after it. Each packet takes size / PACING_RATE of
    the line; what is less than PACING_STEP ahead goes at once; time the pacer
    was idle is not saved up for a burst."""
    free_at = max(free_at, now)
    ahead = free_at - now
    return (ahead if ahead > PACING_STEP else 0.0), free_at + size / PACING_RATE


class ClipSender(RTCRtpSender):
    clip: Clip
    bot: int
    stamped: bool
    sent: Sent
    started: bool
    _phase: float
    _keyframe_wanted: bool
    _turn: tuple[float, int] | None  # (seconds, members) when speaking in turn
    _history: dict[int, bytes]
    _tasks: list[asyncio.Task[None]]
    _extensions: HeaderExtensionsMap
    _payload_type: int
    _mid: str | None
    _seq: int
    _timestamp: int
    _packets: int
    _octets: int
    _pacing: bool
    _pace_free: float  # loop time when the pacer's budget allows the next packet

    @classmethod
    def take_over(
        cls, sender: RTCRtpSender, clip: Clip, bot: int, stamped: bool, sent: Sent, phase: float
    ) -> ClipSender:
        sender.__class__ = cls
        assert isinstance(sender, ClipSender)
        sender.clip = clip
        sender.bot = bot
        sender.stamped = stamped
        sender.sent = sent
        sender.started = False
        sender._phase = phase
        sender._keyframe_wanted = False
        sender._history = {}
        sender._tasks = []
        sender._turn = None
        sender._pacing = False
        sender._pace_free = 0.0
        return sender

    def pace_packets(self) -> None:
        """Send video packets at the pace of a browser's pacer (PACING_RATE),
        not each frame's packets at once."""
        self._pacing = True

    async def _pace(self, size: int) -> None:
        """Wait until the pacer lets a packet of `size` bytes go."""
        wait, self._pace_free = paced_wait(self._pace_free, asyncio.get_running_loop().time(), size)
        if wait:
            await asyncio.sleep(wait)

    def speak_in_turn(self, seconds: float, members: int) -> None:
        """Speak only in this bot's turn: bot n in the n-th of every `members`
        turns of `seconds` (on CLOCK_MONOTONIC, which every bot process shares);
        otherwise send what Opus DTX sends in silence, one small packet every
        400 ms, while the RTP timestamp goes on."""
        self._turn = (seconds, members)

    def _speaking(self) -> bool:
        if self._turn is None:
            return True
        return speaks(self.bot, time.monotonic(), *self._turn)

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        if self.started:
            return
        self.started = True
        self.transport._register_rtp_sender(self, parameters)
        self._extensions = HeaderExtensionsMap()
        self._extensions.configure(parameters)
        payload_type = parameters.codecs[0].payloadType
        assert payload_type is not None
        self._payload_type = payload_type
        self._mid = parameters.muxId
        self._seq = random.randrange(1 << 16)
        self._timestamp = random.randrange(1 << 32)
        self._packets = 0
        self._octets = 0
        runner = self._run_video if self.kind == "video" else self._run_audio
        self._tasks = [asyncio.ensure_future(runner()), asyncio.ensure_future(self._run_reports())]

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await task
        self.transport._unregister_rtp_sender(self)

    async def _send(self, payload: bytes, marker: bool) -> None:
        if self.stamped:
            now = time.monotonic_ns()
            payload += STAMP.pack(STAMP_MARK, self.bot, now)
            if WINDOW.start_ns <= now < WINDOW.end_ns:
                self.sent.window_packets += 1
                if self.kind == "audio":
                    self.sent.window_audio_packets += 1
        packet = RtpPacket(
            payload_type=self._payload_type,
            marker=int(marker),
            sequence_number=self._seq,
            timestamp=self._timestamp,
            ssrc=self._ssrc,
            payload=payload,
        )
        packet.extensions.mid = self._mid
        packet.extensions.abs_send_time = (current_ntp_time() >> 14) & 0x00FFFFFF
        data = packet.serialize(self._extensions)
        self._history[self._seq] = data
        self._history.pop((self._seq - HISTORY) & 0xFFFF, None)
        self._seq = (self._seq + 1) & 0xFFFF
        self._packets += 1
        self._octets += len(payload)
        await self.transport._send_rtp(data)

    async def _paced(self, period: float) -> Any:
        """Yields at a steady pace, starting at this bot's phase in the period."""
        loop = asyncio.get_running_loop()
        due = loop.time() + self._phase * period
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            yield
            due += period
            if due < loop.time() - 1.0:  # fell far behind: do not burst to catch up
                due = loop.time()

    async def _run_video(self) -> None:
        frames = self.clip.video
        index = 0
        picture_id = random.randrange(1 << 15)
        async for _ in self._paced(1 / FRAME_RATE):
            frame = frames[index]
            if self._keyframe_wanted:
                self._keyframe_wanted = False
                # The clip's first keyframe in place of the frame due now; the clip
                # goes on where it was. Restarting the clip moved every bot's
                # 2-second keyframe to the moment of the request, and as a server
                # asks all publishers at once when someone joins, the bots ended up
                # sending their periodic keyframes together.
                frame = frames[0]
                if not self.stamped:
                    # A stream that is decoded (the relay's) starts over, so that
                    # every frame after the keyframe refers to the right ones.
                    index = 0
            last = len(frame.chunks) - 1
            for number, chunk in enumerate(frame.chunks):
                descriptor = bytes(
                    (
                        0x90 if number == 0 else 0x80,
                        0x80,
                        0x80 | (picture_id >> 8),
                        picture_id & 0xFF,
                    )
                )
                if self._pacing:
                    await self._pace(len(descriptor) + len(chunk))
                await self._send(descriptor + chunk, marker=number == last)
                self.sent.video_packets += 1
            self.sent.video_frames += 1
            self.sent.keyframes += frame.keyframe
            picture_id = (picture_id + 1) & 0x7FFF
            self._timestamp = (self._timestamp + VIDEO_TICKS) & 0xFFFFFFFF
            index = (index + 1) % len(frames)

    async def _run_audio(self) -> None:
        packets = self.clip.audio
        index = 0
        silent_frames = 0
        async for _ in self._paced(AUDIO_FRAME / 48_000):
            if self._speaking():
                silent_frames = 0
                await self._send(packets[index], marker=False)
                self.sent.audio_packets += 1
            else:
                if silent_frames % DTX_FRAMES == 0:
                    await self._send(DTX_PAYLOAD, marker=False)
                    self.sent.audio_packets += 1
                silent_frames += 1
            self._timestamp = (self._timestamp + AUDIO_FRAME) & 0xFFFFFFFF
            index = (index + 1) % len(packets)

    async def _run_reports(self) -> None:
        while True:
            await asyncio.sleep(0.5 + random.random())
            report = RtcpSrPacket(
                ssrc=self._ssrc,
                sender_info=RtcpSenderInfo(
                    ntp_timestamp=current_ntp_time(),
                    rtp_timestamp=self._timestamp,
                    packet_count=self._packets & 0xFFFFFFFF,
                    octet_count=self._octets & 0xFFFFFFFF,
                ),
            )
            await self.transport._send_rtp(bytes(report))

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            for seq in packet.lost:
                data = self._history.get(seq)
                if data is not None:
                    self.sent.retransmissions += 1
                    await self.transport._send_rtp(data)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self.sent.keyframe_requests += 1
            self._keyframe_wanted = True


class CountingReceiver(RTCRtpReceiver):
    """Counts what arrives; knows its publisher when the peer connection carries
    one publisher only (Janus, relay), else reads it from the stamp."""

    received: dict[int, FromPublisher]
    delays: DelayHistogram
    publisher: int | None
    started: bool
    _frame_start: dict[int, int | None]  # ssrc -> seq of the start of a keyframe
    _last_seq: dict[int, int]
    _video: bool

    @classmethod
    def take_over(
        cls,
        receiver: RTCRtpReceiver,
        received: dict[int, FromPublisher],
        delays: DelayHistogram,
        publisher: int | None,
        kind: str,
    ) -> CountingReceiver:
        receiver.__class__ = cls
        assert isinstance(receiver, CountingReceiver)
        receiver.received = received
        receiver.delays = delays
        receiver.publisher = publisher
        receiver.started = False
        receiver._frame_start = {}
        receiver._last_seq = {}
        receiver._video = kind == "video"
        return receiver

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        if not self.started:
            self.started = True
            self.transport._register_rtp_receiver(self, parameters)
            # Counted in the datagram callback, as the server receives: the bot's
            # own queueing then adds less to the delay it measures (bot_process
            # installs the datagram guard that calls this).
            # A bot receives every other bot under an SSRC of its own: no bound.
            direct_receive.install(self.transport, _count_directly, max_sources=None)

    async def stop(self) -> None:
        if self.started:
            self.started = False
            direct_receive.uninstall(self.transport)
            self.transport._unregister_rtp_receiver(self)

    def _handle_disconnect(self) -> None:
        pass

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        pass

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        self.count(packet)

    def count(self, packet: RtpPacket) -> None:
        now = time.monotonic_ns()
        payload = packet.payload
        publisher = self.publisher
        in_window = False
        if len(payload) > STAMP.size:
            mark, bot, sent_ns = STAMP.unpack_from(payload, len(payload) - STAMP.size)
            if mark == STAMP_MARK:
                publisher = bot
                in_window = WINDOW.start_ns <= sent_ns < WINDOW.end_ns
                if in_window:
                    self.delays.add(now - sent_ns, not self._video)
        if publisher is None or not payload:
            return
        counts = self.received.get(publisher)
        if counts is None:
            counts = self.received[publisher] = FromPublisher()
        counts.window_packets += in_window
        counts.bytes += len(payload)
        if not self._video:
            counts.audio_packets += 1
            return
        counts.video_packets += 1
        ssrc = packet.ssrc
        seq = packet.sequence_number
        previous = self._last_seq.get(ssrc)
        self._last_seq[ssrc] = seq
        if starts_keyframe("video/vp8", payload):
            counts.keyframes += 1
            self._frame_start[ssrc] = seq
        elif previous is not None and seq != (previous + 1) & 0xFFFF:
            self._frame_start[ssrc] = None  # a gap: this keyframe is not whole
        if packet.marker:
            counts.video_frames += 1
            if counts.first_decodable_ns is None and self._frame_start.get(ssrc) is not None:
                counts.first_decodable_ns = now
            self._frame_start[ssrc] = None


def _count_directly(receiver: Any, packet: RtpPacket, arrival_time_ms: int) -> bool:
    if type(receiver) is CountingReceiver:
        receiver.count(packet)
        return True
    return False
