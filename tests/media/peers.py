"""Real aiortc participants for media tests.

A TestParticipant is an ordinary WebRTC client: it encodes generated video
(a solid colour unique to the participant, so a receiver can tell who it sees)
and audio, offers the layout grouproom expects, and decodes what it receives.
All encoding and decoding here happens in the test client, never in the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import functools
import time
from dataclasses import dataclass, field

import av
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcconfiguration import RTCBundlePolicy

from grouproom.media.consent import keep_consent

VIDEO_CLOCK = 90000
FRAME_RATE = 25


class ColourTrack(MediaStreamTrack):
    """Video frames of one solid luma value."""

    kind = "video"

    def __init__(self, luma: int, width: int = 320, height: int = 180) -> None:
        super().__init__()
        self.luma = luma
        self.width = width
        self.height = height
        self._start: float | None = None
        self._count = 0

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self._count / FRAME_RATE
        await asyncio.sleep(max(0.0, target - time.monotonic()))
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        frame.planes[0].update(bytes([self.luma]) * (frame.planes[0].buffer_size))
        frame.planes[1].update(bytes([128]) * frame.planes[1].buffer_size)
        frame.planes[2].update(bytes([128]) * frame.planes[2].buffer_size)
        frame.pts = self._count * VIDEO_CLOCK // FRAME_RATE
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._count += 1
        return frame


class ToneTrack(MediaStreamTrack):
    """20 ms frames of a quiet square wave."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._start: float | None = None
        self._count = 0

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self._count * 0.02
        await asyncio.sleep(max(0.0, target - time.monotonic()))
        samples = 960
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        wave = b"".join(
            (2000 if (i // 24) % 2 else -2000).to_bytes(2, "little", signed=True)
            for i in range(samples)
        )
        frame.planes[0].update(wave)
        frame.sample_rate = 48000
        frame.pts = self._count * samples
        frame.time_base = fractions.Fraction(1, 48000)
        self._count += 1
        return frame


@dataclass
class Received:
    """What one receive transceiver has decoded."""

    kind: str
    frames: int = 0
    first_frame_at: float | None = None
    luma: int | None = None
    sizes: set[tuple[int, int]] = field(default_factory=set)


class TestParticipant:
    __test__ = False  # not a pytest test class

    def __init__(self, name: str, luma: int, slots: int, video_codec: str = "video/VP8") -> None:
        self.name = name
        self.video_codec = video_codec
        self.luma = luma
        self.slots = slots
        # max-bundle as browsers do; aiortc's default (balanced) leaves a second
        # video m-line on a transport of its own that never connects.
        self.pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
        )
        self.received: dict[str, Received] = {}
        self._consumers: list[asyncio.Task[None]] = []
        self.video_track = ColourTrack(luma)
        self.audio_track = ToneTrack()
        self.pc.on("track", self._on_track)

    async def make_offer(self) -> str:
        self.pc.addTransceiver(self.audio_track, direction="sendonly")
        video = self.pc.addTransceiver(self.video_track, direction="sendonly")
        video.setCodecPreferences(
            [
                c
                for c in RTCRtpSender.getCapabilities("video").codecs
                if c.mimeType.lower() == self.video_codec.lower()
            ]
        )
        for _ in range(self.slots):
            self.pc.addTransceiver("audio", direction="recvonly")
            self.pc.addTransceiver("video", direction="recvonly")
        await self.pc.setLocalDescription(await self.pc.createOffer())
        # Consent as a browser keeps it, tolerant of a late answer, rather than aioice's
        # 0.5 s per check: in a loaded process (the fuzz tests share theirs with the
        # server and Hypothesis's thread) that most likely ended a bystander's
        # connection in one CI run of the UDP fuzz test.
        for transceiver in self.pc.getTransceivers():
            connection = transceiver.sender.transport.transport.iceGatherer._connection
            connection.query_consent = functools.partial(keep_consent, connection)  # type: ignore[method-assign]
        return str(self.pc.localDescription.sdp)

    async def accept_answer(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))

    def _on_track(self, track: MediaStreamTrack) -> None:
        transceiver = next(t for t in self.pc.getTransceivers() if t.receiver.track is track)
        received = Received(kind=track.kind)
        self.received[str(transceiver.mid)] = received
        self._consumers.append(asyncio.ensure_future(self._consume(track, received)))

    async def _consume(self, track: MediaStreamTrack, received: Received) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                frame = await track.recv()
                received.frames += 1
                if received.first_frame_at is None:
                    received.first_frame_at = time.monotonic()
                if isinstance(frame, av.VideoFrame):
                    received.sizes.add((frame.width, frame.height))
                    row = bytes(frame.planes[0])[: frame.width]
                    received.luma = sum(row) // len(row)

    def video_from(self, mid: str) -> Received | None:
        return self.received.get(mid)

    async def close(self) -> None:
        for task in self._consumers:
            task.cancel()
        for task in self._consumers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.pc.close()
