"""The compiled publication step (Publication.on_rtp's usual case in
grouproom/media/_copy_step.c) against the Python on_rtp.

Two publications of each kind take the same seeded stream of packets: one
through the compiled step (and its Python on_rtp for what the step leaves), the
other through the Python on_rtp alone, on the same clocks. The stream has what a
publisher's stream has and what it should not: runs in order, gaps, duplicates,
late packets, a jump of half the sequence space, a new SSRC, padding without
payload, VP8 keyframes and delta frames with and without a PictureID,
descriptors cut short, a codec that is not VP8, packets without a send time, a
pause of the publication. After every packet the two must be in the same
state: receive statistics, NACK window, counters, ring, latest keyframe,
bitrate estimator, and what went to the fan-out queue (video) or to the
subscribers (audio).
"""

from __future__ import annotations

import asyncio
import random
import types
from collections.abc import Iterator
from typing import Any

import aiortc.rtcrtpreceiver
import pytest
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

import grouproom.media.endpoints  # noqa: F401  (registers the classes the compiled steps read)
from grouproom.media import copy_step, publication
from grouproom.media.bandwidth import LeanBitrateEstimator
from grouproom.media.contract import Kind
from grouproom.media.fan_out import VideoFanOut
from grouproom.media.publication import ForwardedPacket, Publication

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
H264 = RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=102)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
PACKETS = 1_500


class Clocks:
    """time.time and time.monotonic as the test sets them."""

    def __init__(self) -> None:
        self.wall = 1_780_000_000.0
        self.monotonic_now = 5_000.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.monotonic_now

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.monotonic_now += seconds


@pytest.fixture
def clocks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clocks]:
    clocks = Clocks()
    fake = types.SimpleNamespace(time=clocks.time, monotonic=clocks.monotonic)
    monkeypatch.setattr(publication, "time", fake)
    monkeypatch.setattr(aiortc.rtcrtpreceiver, "time", fake)
    yield clocks


class Recorder:
    """A subscriber stand-in: the compiled copy step hands it each packet."""

    def __init__(self) -> None:
        self.forwarded: list[tuple[Any, ...]] = []

    def forward(self, forwarded: ForwardedPacket, now: float) -> None:
        self.forwarded.append((*fields(forwarded), now))


def fields(forwarded: ForwardedPacket) -> tuple[Any, ...]:
    return (
        forwarded.seq,
        forwarded.timestamp,
        forwarded.payload_type,
        forwarded.codec.mimeType,
        forwarded.keyframe,
        forwarded.payload,
        forwarded.marker,
        forwarded.abs_send_time,
        forwarded.audio_level,
        forwarded.picture_id_at,
        forwarded.packet.sequence_number,
    )


def vp8_payload(rng: random.Random) -> bytes:
    """A VP8 payload: a keyframe's or a delta frame's start, a continuation, with a
    7- or 15-bit PictureID or none, or a descriptor cut short."""
    shape = rng.randrange(6)
    body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 30)))
    if shape == 0:  # keyframe start, 15-bit PictureID
        return bytes([0x90, 0x80, 0x80 | rng.randrange(128), rng.randrange(256), 0x50]) + body
    if shape == 1:  # delta start, 7-bit PictureID, TL0PICIDX and TID
        return bytes([0x90, 0xE0, rng.randrange(128), 3, 0x40, 0x31]) + body
    if shape == 2:  # continuation
        return bytes([0x80, 0x80, 0x81, 0x23]) + body
    if shape == 3:  # no extension: keyframe or not
        return bytes([0x10, rng.choice([0x50, 0x51])]) + body
    if shape == 4:  # cut short
        return bytes([0x90, 0x80, 0x81][: rng.randrange(1, 4)])
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6)))


class Stream:
    """A publisher's packets, seeded; each made twice (one per publication)."""

    def __init__(self, kind: Kind, seed: int) -> None:
        self.rng = random.Random(seed)
        self.kind = kind
        self.seq = self.rng.randrange(65536)
        self.timestamp = self.rng.randrange(2**32)
        self.ssrc = self.rng.randrange(2**32)
        self.sent: list[int] = []

    def next(self) -> dict[str, Any]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            self.seq = (self.seq + rng.randrange(2, 5)) % 65536  # a gap
        elif roll < 0.05 and self.sent:
            seq = rng.choice(self.sent[-20:])  # late or a duplicate
            return self._packet(seq, rng)
        elif roll < 0.052:
            self.ssrc = rng.randrange(2**32)  # a new source
            self.seq = rng.randrange(65536)
        elif roll < 0.054:
            self.seq = (self.seq + 32768) % 65536  # half the range on: not newer
        else:
            self.seq = (self.seq + 1) % 65536
        if rng.random() < 0.3:
            self.timestamp = (self.timestamp + rng.choice([3000, 3000, 2990, 960])) % 2**32
        self.sent.append(self.seq)
        return self._packet(self.seq, rng)

    def _packet(self, seq: int, rng: random.Random) -> dict[str, Any]:
        if self.kind == "audio":
            payload_type, payload = OPUS.payloadType, bytes(rng.randrange(256) for _ in range(20))
        elif rng.random() < 0.05:
            payload_type, payload = H264.payloadType, bytes([0x65, 1, 2, 3])
        else:
            payload_type, payload = VP8.payloadType, vp8_payload(rng)
        padding = 0
        if rng.random() < 0.03:
            payload, padding = b"", rng.randrange(1, 200)  # a bandwidth probe
        return {
            "payload_type": payload_type,
            "marker": rng.randrange(2),
            "sequence_number": seq,
            "timestamp": self.timestamp,
            "ssrc": self.ssrc,
            "payload": payload,
            "padding_size": padding,
            "abs_send_time": None if rng.random() < 0.05 else rng.randrange(2**24),
            "audio_level": (bool(rng.randrange(2)), rng.randrange(128)),
        }


def make(values: dict[str, Any]) -> RtpPacket:
    packet = RtpPacket(
        payload_type=values["payload_type"],
        marker=values["marker"],
        sequence_number=values["sequence_number"],
        timestamp=values["timestamp"],
        ssrc=values["ssrc"],
        payload=values["payload"],
    )
    packet.padding_size = values["padding_size"]
    packet.extensions.abs_send_time = values["abs_send_time"]
    packet.extensions.audio_level = values["audio_level"]
    return packet


def estimator_state(estimator: LeanBitrateEstimator) -> tuple[Any, ...]:
    groups = estimator.inter_arrival
    return (
        dict(estimator.ssrcs),
        estimator.last_update_ms,
        estimator.incoming_bitrate._total_count,
        estimator.incoming_bitrate._total_value,
        estimator.incoming_bitrate._origin_ms,
        estimator.estimator._offset,
        estimator.estimator._num_of_deltas,
        estimator.rate_control.current_bitrate,
        None if groups.current_group is None else dict(vars(groups.current_group)),
        None if groups.previous_group is None else dict(vars(groups.previous_group)),
    )


def state_of(publication: Publication, fan_out: VideoFanOut) -> dict[str, Any]:
    statistics = publication._statistics
    nack = publication._nack
    buffer = publication.buffer
    estimator = publication._estimator
    return {
        "statistics": None if statistics is None else dict(vars(statistics)),
        "received": publication.packets_received,
        "media_ssrc": publication.media_ssrc,
        "nack": None
        if nack is None
        else (
            nack.highest,
            {seq: (r.asked_at, r.count) for seq, r in nack.missing.items()},
            nack.requests,
            nack.given_up,
        ),
        "ring": None
        if buffer is None
        else [
            None if item is None else (seq, fields(item))
            for seq, item in zip(buffer._seqs, buffer._items, strict=True)
        ],
        "keyframe_start": publication._keyframe_start,
        "estimator": None if estimator is None else estimator_state(estimator),
        "bandwidth": publication.bandwidth._incoming,
        "queued": [(fields(forwarded), now) for _, forwarded, now in fan_out._queue],
    }


@pytest.mark.parametrize("kind", ["video", "audio"])
@pytest.mark.parametrize("seed", range(4))
async def test_the_compiled_publication_step_does_what_on_rtp_does(
    clocks: Clocks, kind: Kind, seed: int
) -> None:
    module, why = copy_step.load_compiled()
    assert module is not None, f"the compiled step is {why}"
    loop = asyncio.get_running_loop()
    codecs = [OPUS] if kind == "audio" else [VP8, H264]
    compiled, python = (Publication("anna", kind, 500_000) for _ in range(2))
    fan_outs = {}
    recorders = {}
    for one in (compiled, python):
        one.start(codecs)
        fan_outs[id(one)] = one._fan_out = VideoFanOut(loop)
        recorder = Recorder()
        recorders[id(one)] = recorder
        one.subscriptions.append(recorder)  # type: ignore[arg-type]
    stream = Stream(kind, seed)
    rng = random.Random(seed + 100)
    taken = 0
    for number in range(PACKETS):
        clocks.advance(rng.choice([0.0, 0.0001, 0.002, 0.02, 0.03]))
        if number % 500 == 300:
            for one in (compiled, python):
                one.enabled = not one.enabled  # a pause, and back (set directly: no timers)
        values = stream.next()
        arrival = int(clocks.wall * 1000) + 2_208_988_800_000
        if module.publication_step(
            compiled, make(values), arrival, clocks.wall, clocks.monotonic_now
        ):
            taken += 1
        else:
            compiled.on_rtp(make(values), arrival)
        python.on_rtp(make(values), arrival)
        assert state_of(compiled, fan_outs[id(compiled)]) == state_of(
            python, fan_outs[id(python)]
        ), f"packet {number}: {values}"
        assert recorders[id(compiled)].forwarded == recorders[id(python)].forwarded
        for one in (compiled, python):
            fan_outs[id(one)]._queue.clear()
    # The step took the usual packets and left the others.
    assert 0.5 * PACKETS < taken < PACKETS
    assert recorders[id(python)].forwarded or kind == "video"
    for one in (compiled, python):
        one.close()


async def test_another_class_of_publication_is_left_to_its_on_rtp(clocks: Clocks) -> None:
    class Counting(Publication):
        pass

    module, _ = copy_step.load_compiled()
    assert module is not None
    one = Counting("anna", "audio", 500_000)
    one.start([OPUS])
    stream = Stream("audio", 1)
    for _ in range(3):
        packet = make(stream.next())
        assert not module.publication_step(one, packet, 0, clocks.wall, clocks.monotonic_now)
        one.on_rtp(packet, 0)
    assert one.packets_received == 3
