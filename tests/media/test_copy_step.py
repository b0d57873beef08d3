"""The compiled copy step (grouproom/media/_copy_step.c) against the Python one.

Two identical rooms (the same SRTP keys, the same numbering to start from) forward
the same packets, one through Python's `Subscription.forward` for every copy, the
other through the compiled step, while subscriptions pause, stop and start
showing the video, wait for keyframes, change publishers (PictureIDs), get a
payload type they cannot take, receive late and stale packets, and lose their
DTLS connection for a while. Every datagram that reaches each subscriber's socket
must be the same, byte for byte, and in the same order, and the forwarding state
left behind must be the same.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aioice.ice import StunProtocol
from aiortc import RTCPeerConnection
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters
from aiortc.rtp import RtpPacket

from benchmarks.send_path import connect_stand_ins
from grouproom.__main__ import serve
from grouproom.exit_codes import EXIT_HOOKS
from grouproom.media import copy_step
from grouproom.media.endpoints import ForwardingSender
from grouproom.media.incoming_budget import IncomingBudget
from grouproom.media.publication import ForwardedPacket, Publication
from grouproom.media.round_trip import RoundTrip
from grouproom.media.rtp_header import RtpHeaderWriter
from grouproom.media.subscription import Subscription
from grouproom.settings import SettingsError, settings_from_env

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
# What each subscriber negotiated: a mix of header extensions, and mids of
# different lengths (so that the one-byte extension block needs padding or not).
NEGOTIATED = [
    ("0", [(1, MID), (3, ABS_SEND_TIME), (4, AUDIO_LEVEL)]),
    ("12", [(2, MID), (5, AUDIO_LEVEL)]),
    ("abc", [(1, MID)]),
    ("7", [(3, ABS_SEND_TIME)]),
    ("x", []),
]
PACKETS = 400
# What a socket's protocol tells its ICE connection when it closes: nothing here.
CLOSED_QUIETLY = types.SimpleNamespace(protocol_lost=lambda protocol: None)


def compiled_step() -> copy_step.ForwardCopies:
    """The compiled step; its absence is a failure, not a skip: the test command
    installs a C compiler, and a silent fallback would leave it untested."""
    module, why = copy_step.load_compiled()
    assert module is not None, f"the compiled copy step is {why}"
    step: copy_step.ForwardCopies = module.forward_copies
    return step


@dataclass
class Subscriber:
    subscription: Subscription
    sink: socket.socket
    dtls: Any


class Room:
    """One publication and its subscribers, each with a socket to receive on."""

    def __init__(self, kind: str, keys: list[bytes], transports: list[Any]) -> None:
        self.kind = kind
        self.keys = keys
        self.transports = transports
        self.publication = Publication(
            "publisher", "video" if kind == "video" else "audio", 500_000
        )
        self.publication.start([VP8 if kind == "video" else OPUS])
        self.subscribers: list[Subscriber] = []
        self.pc = RTCPeerConnection()

    async def add_subscribers(self) -> None:
        loop = asyncio.get_running_loop()
        codec = VP8 if self.kind == "video" else OPUS
        for number, (mid, extensions) in enumerate(NEGOTIATED):
            transceiver = self.pc.addTransceiver(self.kind, direction="sendonly")
            sender = ForwardingSender.take_over(
                transceiver.sender,
                f"stream{number}",
                RoundTrip(),
                IncomingBudget.for_participant(500_000, len(NEGOTIATED)),
            )
            sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sink.bind(("127.0.0.1", 0))
            sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
            sink.setblocking(False)
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: StunProtocol(CLOSED_QUIETLY),  # type: ignore[arg-type]
                local_addr=("127.0.0.1", 0),
            )
            self.transports.append(transport)
            dtls = connect_stand_ins(sender, protocol, sink.getsockname(), self.keys[number])
            sender.mid = mid
            sender.codecs = [codec]
            sender.started = True
            sender.header_writer = RtpHeaderWriter.negotiated(
                1000 + number,
                mid,
                [RTCRtpHeaderExtensionParameters(id=i, uri=uri) for i, uri in extensions],
            )
            sender.munger.last_seq = 30_000 + 7 * number
            sender.munger.last_ts = 4_000_000_000 + number
            subscription = Subscription(self.publication, sender)
            subscription.sender_started()
            self.publication.subscriptions.append(subscription)
            self.subscribers.append(Subscriber(subscription, sink, dtls))

    def received(self) -> list[list[bytes]]:
        datagrams = []
        for subscriber in self.subscribers:
            got = []
            while True:
                try:
                    got.append(subscriber.sink.recv(4096))
                except BlockingIOError:
                    break
            datagrams.append(got)
        return datagrams

    def state(self) -> list[tuple[Any, ...]]:
        result = []
        for subscriber in self.subscribers:
            subscription = subscriber.subscription
            munger = subscription.munger
            pictures = subscription.picture_ids
            sender = subscription.sender
            result.append(
                (
                    munger.last_seq,
                    munger.last_ts,
                    munger.highest_in_seq,
                    munger.run_start_seq,
                    munger.seq_offset,
                    munger.ts_offset,
                    munger.paused,
                    pictures.offset,
                    pictures.last_out,
                    sender.packets_sent,
                    sender.octets_sent,
                    subscription.waiting_for_keyframe,
                )
            )
        return result

    async def close(self) -> None:
        for subscriber in self.subscribers:
            subscriber.subscription.sender.started = False
            subscriber.sink.close()
        await self.pc.close()


def vp8_payload(
    picture_id: int, wide: bool, keyframe: bool, size: int, rng: random.Random
) -> bytes:
    """A VP8 payload descriptor with a PictureID (7 or 15 bits), then a frame."""
    if wide:
        descriptor = bytes([0x90, 0x80, 0x80 | (picture_id >> 8) & 0x7F, picture_id & 0xFF])
    else:
        descriptor = bytes([0x90, 0x80, picture_id & 0x7F])
    first = 0x00 if keyframe else 0x01  # the frame tag's P bit: 0 for a keyframe
    return descriptor + bytes([first]) + rng.randbytes(size)


def packets(kind: str, seed: int) -> Iterator[tuple[str, Any]]:
    """A seeded sequence of packets to forward and things happening to the
    subscriptions in between."""
    rng = random.Random(seed)
    seq = rng.randrange(65536)
    timestamp = rng.randrange(1 << 32)
    picture_id = rng.randrange(1 << 15)
    wide = True
    held_back: list[ForwardedPacket] = []  # to arrive late (never twice: SRTP refuses a replay)
    for number in range(PACKETS):
        roll = rng.random()
        subscriber = rng.randrange(len(NEGOTIATED))
        if roll < 0.03:
            yield "pause", subscriber
        elif roll < 0.06:
            yield "toggle_wanted", subscriber
        elif roll < 0.08:
            yield "new_source", subscriber
            if rng.random() < 0.5:
                wide = not wide
        elif roll < 0.10:
            yield "disconnect", subscriber
        elif roll < 0.12:
            yield "reconnect", subscriber
        if held_back and rng.random() < 0.3:
            # Late, sometimes from before a pause.
            yield "packet", held_back.pop(rng.randrange(len(held_back)))
        seq = (seq + 1) % 65536
        keyframe = kind == "video" and (number % 40 == 0 or rng.random() < 0.02)
        if kind == "video":
            if rng.random() < 0.3:
                timestamp = (timestamp + 3000) % (1 << 32)
                picture_id = (picture_id + 1) % (1 << 15)
            payload = vp8_payload(picture_id, wide, keyframe, rng.randrange(20, 1100), rng)
            picture_at: tuple[int, int] | None = (2, 15 if wide else 7)
            payload_type = 96 if rng.random() > 0.02 else 100  # 100: not negotiated
            level = None
        else:
            timestamp = (timestamp + 960) % (1 << 32)
            payload = rng.randbytes(rng.randrange(3, 200))
            picture_at = None
            payload_type = 111
            level = (rng.random() < 0.5, rng.randrange(128)) if rng.random() < 0.9 else None
        packet = RtpPacket(payload_type=payload_type, sequence_number=seq, timestamp=timestamp)
        packet.payload = payload
        forwarded = ForwardedPacket(
            packet=packet,
            seq=seq,
            timestamp=timestamp,
            payload_type=payload_type,
            codec=VP8 if kind == "video" else OPUS,
            keyframe=keyframe,
            payload=payload,
            marker=rng.randrange(2),
            abs_send_time=rng.randrange(1 << 24) if rng.random() < 0.9 else None,
            audio_level=level,
            picture_id_at=picture_at,
        )
        if rng.random() < 0.05 and len(held_back) < 8:
            held_back.append(forwarded)
        else:
            yield "packet", forwarded


async def forward_all(room: Room, kind: str, seed: int) -> None:
    now = 1000.0
    for event, value in packets(kind, seed):
        if event == "packet":
            now += 0.007
            room.publication.forward(value, now)
            continue
        subscriber = room.subscribers[value]
        subscription = subscriber.subscription
        if event == "pause":
            subscription.pause()
        elif event == "toggle_wanted":
            subscription.set_wanted(not subscription.wanted)
        elif event == "new_source":
            subscription.picture_ids.new_source()
        elif event == "disconnect":
            subscriber.dtls._state = DtlsState.CLOSED
        elif event == "reconnect":
            subscriber.dtls._state = DtlsState.CONNECTED
        if value == 0:
            await asyncio.sleep(0)  # the sockets' queues go out (the selector loop)


async def run_room(
    kind: str, seed: int, step: copy_step.ForwardCopies | None, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[list[bytes]], list[tuple[Any, ...]], int]:
    """What each subscriber received, the state left behind, and how many copies
    Python's Subscription.forward sent."""
    monkeypatch.setattr(copy_step, "forward_copies", step)
    python_copies = 0
    python_forward = Subscription.forward

    def counting_forward(self: Subscription, forwarded: ForwardedPacket, now: float) -> None:
        nonlocal python_copies
        before = self.sender.packets_sent
        python_forward(self, forwarded, now)
        python_copies += self.sender.packets_sent - before

    monkeypatch.setattr(Subscription, "forward", counting_forward)
    keys = [random.Random(seed * 100 + n).randbytes(44) for n in range(len(NEGOTIATED))]
    transports: list[Any] = []
    room = Room(kind, keys, transports)
    try:
        await room.add_subscribers()
        if kind == "video":
            # The first keyframe arrives for everybody (the catch-up from the
            # ring is the Python path's and is compared as such).
            for subscriber in room.subscribers:
                subscriber.subscription.waiting_for_keyframe = True
        await forward_all(room, kind, seed)
        for _ in range(20):
            await asyncio.sleep(0.005)
        return room.received(), room.state(), python_copies
    finally:
        await room.close()
        for transport in transports:
            transport.close()
        monkeypatch.undo()


@pytest.mark.parametrize("kind", ["video", "audio"])
@pytest.mark.parametrize("seed", range(6))
async def test_the_compiled_step_sends_what_python_sends(
    kind: str, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = compiled_step()
    python_datagrams, python_state, _ = await run_room(kind, seed, None, monkeypatch)
    compiled_datagrams, compiled_state, python_copies = await run_room(
        kind, seed, compiled, monkeypatch
    )
    total = sum(len(got) for got in python_datagrams)
    assert total > PACKETS  # something reached each subscriber
    assert all(python_datagrams), "a subscriber received nothing"
    for number, (python_got, compiled_got) in enumerate(
        zip(python_datagrams, compiled_datagrams, strict=True)
    ):
        assert len(compiled_got) == len(python_got), f"subscriber {number}"
        for index, (a, b) in enumerate(zip(python_got, compiled_got, strict=True)):
            assert a == b, f"subscriber {number}, datagram {index}"
    assert compiled_state == python_state
    # Most copies were the compiled step's own, not handed back to Python.
    assert python_copies < total / 4


def test_the_compiled_step_is_built_from_this_source() -> None:
    module, why = copy_step.load_compiled()
    assert module is not None, why
    assert module.SOURCE_HASH == copy_step.source_hash()


def test_every_attribute_of_a_copy_is_read_in_place() -> None:
    """A renamed attribute or a class without its __slots__ would still work
    (through getattr), only slower: this says which."""
    module, _ = copy_step.load_compiled()
    assert module is not None
    assert [name for name, direct in module.in_place().items() if not direct] == []


async def test_a_senders_per_copy_state_is_the_one_its_subscriptions_count_in() -> None:
    """The sender's started, route, header writer and counters live in its
    SendState (slots, read in place by the compiled step), which every
    subscription on the sender shares: what one counts, the sender reports."""
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("audio", direction="sendonly")
        sender = ForwardingSender.take_over(
            transceiver.sender, "stream", RoundTrip(), IncomingBudget.for_participant(500_000, 1)
        )
        assert not {"started", "route", "header_writer", "packets_sent", "octets_sent"} & set(
            vars(sender)
        )
        first = Subscription(Publication("a", "audio", 500_000), sender)
        second = Subscription(Publication("b", "audio", 500_000), sender)
        assert first.send_state is sender.send_state is second.send_state
        first.send_state.packets_sent += 3
        second.send_state.octets_sent += 100
        sender.started = True
        assert (sender.packets_sent, sender.octets_sent, second.send_state.started) == (
            3,
            100,
            True,
        )
        assert not hasattr(sender.send_state, "__dict__")
    finally:
        await pc.close()


def test_a_setting_that_is_not_a_copy_step_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, compiled or python"):
        copy_step.choose("fast")
    with pytest.raises(SettingsError, match="copy step must be auto, compiled or python"):
        settings_from_env({"GROUPROOM_COPY_STEP": "fast"})
    assert copy_step.choose("python") == (None, "python (GROUPROOM_COPY_STEP=python)")
    assert copy_step.choose("auto")[1] == "compiled"


def test_without_the_compiled_step_auto_forwards_in_python_and_compiled_does_not_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(copy_step, "load_compiled", lambda: (None, "not built (no C compiler)"))
    assert copy_step.choose("auto") == (
        None,
        "python: the compiled step is not built (no C compiler)",
    )
    with pytest.raises(copy_step.CopyStepUnavailable, match="not built"):
        copy_step.choose("compiled")
    monkeypatch.setattr(copy_step, "forward_copies", copy_step.forward_copies)  # restored after
    settings = settings_from_env({"GROUPROOM_COPY_STEP": "compiled"})
    assert serve(settings) == EXIT_HOOKS
    assert "cannot start: the compiled copy step is not built" in capsys.readouterr().err


def test_addresses_are_packed_for_sendto_or_left_to_python() -> None:
    module, _ = copy_step.load_compiled()
    assert module is not None
    port = (5004).to_bytes(2, "big")
    v4 = module.pack_address("127.0.0.1", 5004)  # struct sockaddr_in
    assert len(v4) == 16 and v4[2:4] == port and v4[4:8] == bytes([127, 0, 0, 1])
    v6 = module.pack_address("::1", 5004)  # struct sockaddr_in6
    assert len(v6) == 28 and v6[2:4] == port and v6[8:24] == bytes(15) + b"\x01"
    assert module.pack_address("fe80::1%eth0", 5004) == b""
    assert module.pack_address("localhost", 5004) == b""
    assert module.pack_address("127.0.0.1", 70000) == b""
    assert os.path.exists(copy_step.SOURCE)
