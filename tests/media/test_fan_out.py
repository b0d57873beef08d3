"""Audio before video (fan_out.py): a publisher's video is forwarded in slices
between turns of the event loop, audio at once, and nothing is lost or reordered.

The publications here are the server's own; what would be a subscriber's
Subscription is a recorder of the order in which packets were handed on (the
real subscriptions and their RTP are covered by test_forwarding.py, whose
video now goes through the same queue). The same publications show that a
publisher's padding is bookkept but not forwarded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from grouproom.media import fan_out
from grouproom.media.publication import ForwardedPacket, Publication

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


class Recorder:
    """Stands where a subscriber's Subscription stands: it records what it is given."""

    def __init__(self, label: str, order: list[tuple[str, int]]) -> None:
        self.label = label
        self.order = order

    def forward(self, forwarded: ForwardedPacket, now: float) -> None:
        self.order.append((self.label, forwarded.seq))

    def pause(self) -> None:
        """A mute pauses a subscription; the recorder has nothing to pause."""


def publications(order: list[tuple[str, int]]) -> tuple[Publication, Publication]:
    video = Publication("anna", "video", 500_000)
    video.start([VP8])
    audio = Publication("anna", "audio", 500_000)
    audio.start([OPUS])
    recorders: Any = [Recorder("video", order)], [Recorder("audio", order)]
    video.subscriptions, audio.subscriptions = recorders
    return video, audio


def video_packet(seq: int) -> RtpPacket:
    packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=3000, ssrc=1)
    # A VP8 payload descriptor (start of a partition) and a key frame's first bytes.
    packet.payload = bytes([0x10, 0x00, 0x00, 0x00]) + bytes(600)
    return packet


def audio_packet(seq: int) -> RtpPacket:
    packet = RtpPacket(payload_type=111, sequence_number=seq, timestamp=960 * seq, ssrc=2)
    packet.payload = bytes(80)
    return packet


async def drained() -> None:
    """A few turns of the loop: enough for every slice of these tests' queues."""
    for _ in range(10):
        await asyncio.sleep(0)
    assert len(fan_out.fan_out_for(asyncio.get_running_loop())) == 0


async def test_audio_overtakes_a_video_burst_and_the_burst_keeps_its_order() -> None:
    order: list[tuple[str, int]] = []
    video, audio = publications(order)
    # A keyframe's burst and an audio packet, read from the socket in one turn.
    for seq in range(10):
        video.on_rtp(video_packet(seq), 0)
    audio.on_rtp(audio_packet(0), 0)
    assert order == [("audio", 0)]

    await asyncio.sleep(0)  # one turn of the loop: one slice of the burst
    assert order[1:] == [("video", seq) for seq in range(fan_out.SLICE)]
    # Audio that arrives between two slices goes before the rest of the burst.
    audio.on_rtp(audio_packet(1), 0)
    assert order[-1] == ("audio", 1)

    await drained()
    assert [seq for label, seq in order if label == "video"] == list(range(10))
    assert [seq for label, seq in order if label == "audio"] == [0, 1]


async def test_video_queued_before_a_mute_is_not_forwarded_after_it() -> None:
    order: list[tuple[str, int]] = []
    video, _ = publications(order)
    for seq in range(3):
        video.on_rtp(video_packet(seq), 0)
    video.set_enabled(False)
    await drained()
    assert order == []
    video.set_enabled(True)
    video.on_rtp(video_packet(3), 0)
    await drained()
    assert order == [("video", 3)]


async def test_a_queue_past_its_limit_is_worked_off_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fan_out, "LIMIT", 6)
    order: list[tuple[str, int]] = []
    video, _ = publications(order)
    for seq in range(6):
        video.on_rtp(video_packet(seq), 0)
    assert order == []
    video.on_rtp(video_packet(6), 0)  # the seventh: over the limit
    assert [seq for _, seq in order] == list(range(7))
    assert len(fan_out.fan_out_for(asyncio.get_running_loop())) == 0


async def test_rooms_on_one_loop_share_one_queue() -> None:
    order: list[tuple[str, int]] = []
    first, _ = publications(order)
    second, _ = publications(order)
    first.on_rtp(video_packet(0), 0)
    second.on_rtp(video_packet(100), 0)
    first.on_rtp(video_packet(1), 0)
    await drained()
    assert [seq for _, seq in order] == [0, 100, 1]  # arrival order, across publishers


async def test_padding_is_no_gap_to_ask_for() -> None:
    """A publisher's padding (bandwidth probes, on the media stream when there is
    no RTX) takes sequence numbers but carries nothing to forward: the server
    must not ask for it as if it were lost."""
    order: list[tuple[str, int]] = []
    video, _ = publications(order)
    padding = RtpPacket(payload_type=96, sequence_number=2, timestamp=3000, ssrc=1)
    padding.padding_size = 200
    for packet in (video_packet(0), video_packet(1), padding, video_packet(3)):
        video.on_rtp(packet, 0)
    await drained()
    # Nothing missing, nothing asked for (this publication has no receiver to send
    # a NACK through: its request list says what it would have asked).
    assert video._nack is not None and video._nack.missing == {}
    assert video._nack.requests == 0
    assert order == [("video", 0), ("video", 1), ("video", 3)]  # padding not forwarded
