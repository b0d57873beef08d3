"""The media every bench bot sends: a VP8 clip and Opus audio, encoded once.

The bots never encode per frame: this module encodes a few seconds of a moving
synthetic picture (640x360, 25 fps, about 500 kbit/s, a keyframe every 2 s) and
of a tone with some noise (Opus, 20 ms packets) once per bench run, and splits the
VP8 frames into RTP payload chunks. A bot loops over the result.
"""

from __future__ import annotations

import fractions
import pickle
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

WIDTH = 640
HEIGHT = 360
FRAME_RATE = 25
VIDEO_BITRATE = 500_000
KEYFRAME_INTERVAL = 2 * FRAME_RATE  # frames
SECONDS = 8
AUDIO_SAMPLE_RATE = 48_000
AUDIO_FRAME = 960  # samples: 20 ms
AUDIO_BITRATE = 32_000
# Room for the VP8 payload descriptor and the bench's stamp within a 1200-byte payload.
MAX_CHUNK = 1150


@dataclass(frozen=True)
class VideoFrame:
    keyframe: bool
    chunks: tuple[bytes, ...]  # the frame split for RTP, without payload descriptors


@dataclass(frozen=True)
class Clip:
    video: tuple[VideoFrame, ...]
    audio: tuple[bytes, ...]

    @property
    def video_bitrate(self) -> float:
        size = sum(len(chunk) for frame in self.video for chunk in frame.chunks)
        return size * 8 * FRAME_RATE / len(self.video)

    def save(self, path: Path) -> None:
        path.write_bytes(pickle.dumps(self))

    @staticmethod
    def load(path: Path) -> Clip:
        clip = pickle.loads(path.read_bytes())
        assert isinstance(clip, Clip)
        return clip


def _picture(index: int, rng: np.random.Generator, texture: np.ndarray) -> av.VideoFrame:
    """A picture that moves like a camera picture: a drifting texture with a
    bright square crossing it and a little sensor noise."""
    shift = (index * 3) % WIDTH
    luma = np.roll(texture, -shift, axis=1)[:HEIGHT, :WIDTH].copy()
    x = (index * 7) % (WIDTH - 80)
    y = 100 + int(60 * np.sin(index / 10))
    luma[y : y + 80, x : x + 80] = 220
    luma = np.clip(luma + rng.integers(-3, 4, luma.shape), 0, 255).astype(np.uint8)
    chroma_u = np.full((HEIGHT // 2, WIDTH // 2), 110 + (index % 50), dtype=np.uint8)
    chroma_v = np.full((HEIGHT // 2, WIDTH // 2), 140, dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(
        np.concatenate([luma.reshape(-1), chroma_u.reshape(-1), chroma_v.reshape(-1)]).reshape(
            HEIGHT * 3 // 2, WIDTH
        ),
        format="yuv420p",
    )
    frame.pts = index
    frame.time_base = fractions.Fraction(1, FRAME_RATE)
    return frame


def _split(data: bytes) -> tuple[bytes, ...]:
    count = -(-len(data) // MAX_CHUNK)
    size = -(-len(data) // count)  # chunks of equal size, like browsers do
    return tuple(data[i : i + size] for i in range(0, len(data), size))


def encode_video(seconds: int = SECONDS) -> tuple[VideoFrame, ...]:
    encoder = av.CodecContext.create("libvpx", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width = WIDTH
    encoder.height = HEIGHT
    encoder.pix_fmt = "yuv420p"
    encoder.bit_rate = VIDEO_BITRATE
    encoder.framerate = fractions.Fraction(FRAME_RATE)
    encoder.time_base = fractions.Fraction(1, FRAME_RATE)
    encoder.gop_size = KEYFRAME_INTERVAL
    encoder.options = {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "auto-alt-ref": "0",
        "keyint_min": str(KEYFRAME_INTERVAL),
        "minrate": str(VIDEO_BITRATE),
        "maxrate": str(VIDEO_BITRATE),
        "bufsize": str(VIDEO_BITRATE),
    }
    rng = np.random.default_rng(7)
    texture = np.tile(
        (np.add.outer(np.arange(HEIGHT), np.arange(2 * WIDTH)) % 200 + 20).astype(np.int16), 1
    )
    texture += rng.integers(-30, 30, texture.shape).astype(np.int16)
    frames: list[VideoFrame] = []
    for index in range(seconds * FRAME_RATE):
        for packet in encoder.encode(_picture(index, rng, texture)):
            frames.append(
                VideoFrame(keyframe=bool(packet.is_keyframe), chunks=_split(bytes(packet)))
            )
    for packet in encoder.encode(None):
        frames.append(VideoFrame(keyframe=bool(packet.is_keyframe), chunks=_split(bytes(packet))))
    if not frames or not frames[0].keyframe:
        raise RuntimeError("the VP8 encoder did not start with a keyframe")
    return tuple(frames)


def encode_audio(seconds: int = SECONDS) -> tuple[bytes, ...]:
    encoder = av.CodecContext.create("libopus", "w")
    assert isinstance(encoder, av.AudioCodecContext)
    encoder.sample_rate = AUDIO_SAMPLE_RATE
    encoder.layout = "mono"
    encoder.format = "s16"
    encoder.bit_rate = AUDIO_BITRATE
    encoder.options = {"application": "voip", "frame_duration": "20"}
    rng = np.random.default_rng(11)
    packets: list[bytes] = []
    total = seconds * AUDIO_SAMPLE_RATE // AUDIO_FRAME
    for index in range(total):
        t = (np.arange(AUDIO_FRAME) + index * AUDIO_FRAME) / AUDIO_SAMPLE_RATE
        wave = 3000 * np.sin(2 * np.pi * 220 * t) + rng.normal(0, 300, AUDIO_FRAME)
        frame = av.AudioFrame.from_ndarray(
            wave.astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = AUDIO_SAMPLE_RATE
        frame.pts = index * AUDIO_FRAME
        frame.time_base = fractions.Fraction(1, AUDIO_SAMPLE_RATE)
        packets.extend(bytes(p) for p in encoder.encode(frame))
    packets.extend(bytes(p) for p in encoder.encode(None))
    return tuple(packets)


def make_clip(path: Path) -> Clip:
    clip = Clip(video=encode_video(), audio=encode_audio())
    clip.save(path)
    return clip


if __name__ == "__main__":
    import sys
    import tempfile

    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "clip.pickle"
    made = make_clip(target)
    keyframes = sum(frame.keyframe for frame in made.video)
    packets = sum(len(frame.chunks) for frame in made.video)
    print(
        f"{target}: {len(made.video)} video frames ({keyframes} keyframes, "
        f"{packets / len(made.video):.2f} packets per frame, "
        f"{made.video_bitrate / 1000:.0f} kbit/s), "
        f"{len(made.audio)} audio packets"
    )
