"""The media plane judges each participant's line from real RTP and RTCP: real
aiortc peers, packets really lost on the way up or on the way down."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCPeerConnection

from grouproom.media.room_worker import RoomWorker
from tests.media.conftest import RecordedEvents, Room
from tests.media.peers import TestParticipant
from tests.media.test_forwarding import LUMA, eventually
from tests.media.test_room_worker import join


def lose_audio_on_the_way_up(pc: RTCPeerConnection, one_in: int) -> Callable[[], None]:
    """Drop one in `one_in` of the audio packets `pc` sends (its first m-line: the
    microphone); returns what stops it."""
    sender = pc.getTransceivers()[0].sender
    transport = sender.transport
    ssrc = sender._ssrc
    original = transport._send_rtp
    count = 0

    async def lossy_send(data: bytes) -> None:
        nonlocal count
        if len(data) >= 12 and int.from_bytes(data[8:12], "big") == ssrc:
            count += 1
            if count % one_in == 0:
                return
        await original(data)

    transport._send_rtp = lossy_send  # type: ignore[method-assign]
    return lambda: setattr(transport, "_send_rtp", original)


def lose_audio_on_the_way_down(pc: RTCPeerConnection, one_in: int) -> None:
    """Drop one in `one_in` of the audio packets that reach `pc`."""
    audio_types = {
        codec.payloadType
        for transceiver in pc.getTransceivers()
        if transceiver.kind == "audio"
        for codec in transceiver._codecs
    }
    transport: Any = pc.getTransceivers()[0].receiver.transport
    original: Callable[[bytes, int], Awaitable[None]] = transport._handle_rtp_data
    count = 0

    async def lossy_receive(data: bytes, arrival_time_ms: int) -> None:
        nonlocal count
        if data[1] & 0x7F in audio_types:
            count += 1
            if count % one_in == 0:
                return
        await original(data, arrival_time_ms)

    transport._handle_rtp_data = lossy_receive


def told(events: RecordedEvents, name: str) -> list[str]:
    return [quality for who, quality, _ in events.quality if who == name]


def told_ways(events: RecordedEvents, name: str) -> list[str]:
    """The way her line was weak in, with each level told ("" with good)."""
    return [direction for who, _, direction in events.quality if who == name]


async def test_loss_on_the_way_up_is_hers_alone_and_passes(room: Room) -> None:
    anna = await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    await room.join("cees", LUMA["cees"])
    stop = lose_audio_on_the_way_up(anna.pc, 5)  # 20%
    assert await eventually(lambda: told(room.events, "anna") == ["bad"], 15)
    assert told_ways(room.events, "anna") == ["up"]  # what she sends suffers
    # Bram and Cees receive her stream with its gaps, and their lines are fine.
    assert told(room.events, "bram") == [] and told(room.events, "cees") == []
    assert room.forwarder.publication_stats("anna", "audio")["packets_received"] > 100
    assert room.forwarder.counters()["connection_worsened"] == 1  # for the metrics
    stop()
    assert await eventually(lambda: told(room.events, "anna")[-1:] == ["good"], 15)
    assert told_ways(room.events, "anna")[-1] == ""
    assert told(room.events, "bram") == [] and told(room.events, "cees") == []


async def test_loss_on_the_way_down_is_seen_in_her_receiver_reports(room: Room) -> None:
    anna = await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    await room.join("cees", LUMA["cees"])
    lose_audio_on_the_way_down(anna.pc, 20)  # 5%
    assert await eventually(lambda: told(room.events, "anna") == ["weak"], 15)
    assert told_ways(room.events, "anna") == ["down"]
    assert told(room.events, "bram") == [] and told(room.events, "cees") == []


async def test_a_room_worker_tells_the_quality_too(
    worker: tuple[RoomWorker, RecordedEvents, list[TestParticipant]],
) -> None:
    room, events, participants = worker
    anna = await join(room, participants, "anna")
    await join(room, participants, "bram")
    lose_audio_on_the_way_down(anna.pc, 5)
    assert await eventually(lambda: told(events, "anna") == ["bad"], 15)
    assert told_ways(events, "anna") == ["down"]  # through the worker's events too
    assert told(events, "bram") == []
