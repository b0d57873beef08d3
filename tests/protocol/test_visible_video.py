"""set_visible_video over the real WebSocket, with real aiortc peers: video a member
does not show stops arriving, comes back at a keyframe with sequence numbers and
timestamps that continue, and audio never stops; malformed lists get invalid_data."""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from aiortc.rtp import RtpPacket

from grouproom.app import switchboard_key
from grouproom.media.forwarder import Forwarder
from grouproom.media.keyframe import starts_keyframe
from grouproom.media.munger import SEQ_MOD, TS_MOD
from tests.media.test_forwarding import eventually
from tests.protocol.conftest import Connect, Member
from tests.protocol.rtc_client import RtcClient


@dataclass(frozen=True)
class Arrival:
    seq: int
    timestamp: int
    keyframe: bool
    at: float


def record(peer: RtcClient, mid: str) -> list[Arrival]:
    """Every RTP packet that reaches the peer's receiver for `mid`, in arrival order."""
    receiver = peer.transceiver(mid).receiver
    arrivals: list[Arrival] = []
    original = receiver._handle_rtp_packet

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        keyframe = starts_keyframe("video/VP8", packet.payload)
        arrivals.append(
            Arrival(packet.sequence_number, packet.timestamp, keyframe, time.monotonic())
        )
        await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle  # type: ignore[method-assign]
    return arrivals


def after(arrivals: list[Arrival], moment: float) -> list[Arrival]:
    return [arrival for arrival in arrivals if arrival.at > moment]


async def test_hidden_video_stops_and_returns_at_a_keyframe_without_a_gap(
    member: Any, http: TestClient[Any, Any]
) -> None:
    anna: Member = await member("Anna")
    bram: Member = await member("Bram")
    await anna.publish()
    await bram.publish()
    mids = await bram.track_events("track_published", 2)
    video = record(bram.rtc, mids[(anna.id, "video")])
    audio = record(bram.rtc, mids[(anna.id, "audio")])
    assert await eventually(lambda: len(video) > 30 and len(audio) > 30, within=15.0)
    forwarder = http.app[switchboard_key].forwarders["demo"]
    assert isinstance(forwarder, Forwarder)

    # Bram's page is hidden: he shows nobody.
    assert await bram.signaling.expect("set_visible_video", {"participants": []}) == {}
    hidden_at = time.monotonic()
    await asyncio.sleep(0.3)  # what was under way has arrived
    stopped = len(video)
    last = video[-1]
    await asyncio.sleep(1.5)
    assert len(video) == stopped, "video kept arriving after the page was hidden"
    assert len(after(audio, hidden_at + 0.3)) > 40, "audio stopped with the video"

    # Anna's tile is on his screen again. A keyframe was asked of her just now, so
    # the next one is an interval (KEYFRAME_REQUEST_INTERVAL) away: the frames before
    # it must not reach Bram.
    publication = forwarder.peers[anna.id].publications["video"]
    publication._last_keyframe_request = asyncio.get_running_loop().time()
    requests = forwarder.publication_stats(anna.id, "video")["keyframe_requests_sent"]
    shown = {"participants": [anna.id]}
    assert await bram.signaling.expect("set_visible_video", shown) == {}
    assert await eventually(lambda: len(video) > stopped + 20, within=15.0)
    resumed = video[stopped:]
    first = resumed[0]
    assert first.keyframe, "video resumed without a keyframe"
    assert first.seq == (last.seq + 1) % SEQ_MOD
    assert 0 < (first.timestamp - last.timestamp) % TS_MOD < TS_MOD // 2
    assert all((b.seq - a.seq) % SEQ_MOD == 1 for a, b in itertools.pairwise(resumed)), (
        "sequence numbers after the resume are not consecutive"
    )
    assert forwarder.publication_stats(anna.id, "video")["keyframe_requests_sent"] > requests
    # Anna, who did not send the message, still gets Bram's video.
    anna_mids = await anna.track_events("track_published", 2)
    from_bram = record(anna.rtc, anna_mids[(bram.id, "video")])
    assert await eventually(lambda: len(from_bram) > 10, within=15.0)


async def test_a_list_sent_before_the_offer_applies_when_media_connects(member: Any) -> None:
    anna: Member = await member("Anna")
    bram: Member = await member("Bram")
    assert await bram.signaling.expect("set_visible_video", {"participants": []}) == {}
    await anna.publish()
    await bram.publish()
    mids = await bram.track_events("track_published", 2)
    video = record(bram.rtc, mids[(anna.id, "video")])
    audio = record(bram.rtc, mids[(anna.id, "audio")])
    assert await eventually(lambda: len(audio) > 50, within=15.0)
    assert video == []
    assert await bram.signaling.expect("set_visible_video", {"participants": [anna.id]}) == {}
    assert await eventually(lambda: len(video) > 10, within=15.0)
    assert video[0].keyframe


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({}, "participants is missing"),
        ({"participants": None}, "participants must be an array"),
        ({"participants": "anna"}, "participants must be an array"),
        ({"participants": {"anna": True}}, "participants must be an array"),
        ({"participants": [1]}, "participants[0] must be a string"),
        ({"participants": ["a", None]}, "participants[1] must be a string"),
        ({"participants": [""]}, "participants[0] must have at least 1 characters"),
        ({"participants": ["x" * 65]}, "participants[0] must have at most 64 characters"),
        ({"participants": ["\ud800"]}, "participants[0] contains an invalid character"),
        ({"participants": [str(n) for n in range(65)]}, "participants must have at most 64"),
    ],
)
async def test_a_malformed_list_is_invalid_data(
    connect: Connect, data: dict[str, Any], problem: str
) -> None:
    client = await connect()
    await client.join()
    error = await client.error("set_visible_video", data)
    assert error["code"] == "invalid_data"
    assert error["message"].startswith(problem), error
    # Nothing was lost: the socket still works and a good list is accepted.
    assert await client.expect("set_visible_video", {"participants": []}) == {}


async def test_before_join_it_is_not_joined(connect: Connect) -> None:
    client = await connect()
    error = await client.error("set_visible_video", {"participants": []})
    assert error["code"] == "not_joined"
    assert (await client.join())["participants"] == []
