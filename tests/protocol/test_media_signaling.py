"""offer / answer / ice_candidate with real aiortc peers, and the events that name
which receive slot carries whom."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import aioice.ice
import av
import pytest
import uvloop
from aiohttp.test_utils import TestClient
from aiortc.sdp import SessionDescription

from grouproom.app import create_app, media_ports_key, switchboard_key
from grouproom.media import hooks, udp_mux
from grouproom.settings import Settings
from tests.media.test_connection_quality import lose_audio_on_the_way_down
from tests.protocol.conftest import AiohttpClient, Connect, Member
from tests.protocol.rtc_client import RtcClient
from tests.protocol.signaling_client import SignalingClient

MakeRtc = Callable[[int], RtcClient]
CONNECT_TIMEOUT = 15.0


async def test_the_media_port_opened_at_start_up_has_the_guard_and_the_compiled_step(
    aiohttp_client: AiohttpClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server opens its media port at start-up, before any room's forwarder
    (which installs the datagram guard) exists. The socket still gets the guard
    and, on uvloop, the compiled step: it kept Python's step when the guard came
    only with the first forwarder."""
    # As in a fresh server process: no forwarder has installed the guard yet.
    monkeypatch.setattr(
        aioice.ice.StunProtocol, "datagram_received", hooks._original_datagram_received
    )
    app = create_app(settings)
    await aiohttp_client(app)
    shared = [
        socket
        for mux in udp_mux._muxes.values()
        for socket in mux.shared.values()
        if socket.address[1] in app[media_ports_key]
    ]
    assert shared
    assert aioice.ice.StunProtocol.datagram_received is hooks._guarded_datagram_received
    on_uvloop = isinstance(asyncio.get_running_loop(), uvloop.Loop)
    for socket in shared:
        assert isinstance(socket.datagram_received, types.BuiltinFunctionType) == on_uvloop


async def test_an_offer_gets_a_valid_answer_and_media_connects(member: Any) -> None:
    anna: Member = await member("Anna")
    offer = await anna.rtc.offer()
    answer = await anna.signaling.expect("offer", {"sdp": offer})
    offered = SessionDescription.parse(offer)
    answered = SessionDescription.parse(answer["sdp"])
    assert [m.kind for m in answered.media] == [m.kind for m in offered.media]
    assert [m.direction for m in answered.media[:2]] == ["recvonly", "recvonly"]
    assert all(m.direction in ("sendonly", "inactive") for m in answered.media[2:])
    assert any(c.ip == "127.0.0.1" for c in answered.media[0].ice_candidates)
    await anna.rtc.accept(answer["sdp"])
    await asyncio.wait_for(anna.rtc.connected.wait(), CONNECT_TIMEOUT)


async def test_two_members_are_told_which_slot_carries_whom(member: Any) -> None:
    anna: Member = await member("Anna")
    bram: Member = await member("Bram")
    await anna.publish()
    await bram.publish()

    anna_sees = await anna.track_events("track_published", 2)
    bram_sees = await bram.track_events("track_published", 2)
    assert set(anna_sees) == {(bram.id, "audio"), (bram.id, "video")}
    assert set(bram_sees) == {(anna.id, "audio"), (anna.id, "video")}
    assert set(anna_sees.values()) <= set(anna.rtc.receive_mids())
    assert set(bram_sees.values()) <= set(bram.rtc.receive_mids())
    for member_, sees in ((anna, anna_sees), (bram, bram_sees)):
        for (_, kind), mid in sees.items():
            assert member_.rtc.transceiver(mid).kind == kind

    # The slot named for Anna's video carries video frames to Bram.
    await asyncio.wait_for(bram.rtc.connected.wait(), CONNECT_TIMEOUT)
    track = bram.rtc.track(bram_sees[(anna.id, "video")])
    frame = await asyncio.wait_for(track.recv(), CONNECT_TIMEOUT)
    assert isinstance(frame, av.VideoFrame)
    assert frame.width > 0

    # Leaving frees the slot: track_removed for both kinds, then participant_left.
    await anna.signaling.expect("leave")
    removed = await bram.track_events("track_removed", 2)
    assert removed == bram_sees
    left = await bram.signaling.event("participant_left")
    assert left["data"] == {"participant_id": anna.id, "cause": "left"}


async def test_everyone_is_told_how_well_a_members_line_carries_the_room(member: Any) -> None:
    anna: Member = await member("Anna")
    bram: Member = await member("Bram")
    await anna.publish()
    await bram.publish()
    await asyncio.wait_for(anna.rtc.connected.wait(), CONNECT_TIMEOUT)
    lose_audio_on_the_way_down(anna.rtc.pc, 5)  # a fifth of what reaches her
    # Both sockets read at once: one left unread answers no ping of the server's.
    told = await asyncio.gather(
        *(m.signaling.event("connection_quality", seconds=20) for m in (anna, bram))
    )
    for event in told:
        assert event["data"] == {"participant_id": anna.id, "quality": "bad", "direction": "down"}
    # Whoever comes in later finds it in the participant list, with the way.
    cees: Member = await member("Cees")
    listed = {
        p["name"]: (p["connection"], p["connection_direction"]) for p in cees.joined["participants"]
    }
    assert listed == {"Anna": ("bad", "down"), "Bram": ("good", None)}
    assert [e for e in bram.signaling.events if e["type"] == "connection_quality"] == []


async def test_media_state_switches_forwarding(member: Any, http: TestClient[Any, Any]) -> None:
    anna: Member = await member("Anna")
    await anna.publish()
    forwarder = http.app[switchboard_key].forwarders["demo"]
    publications = forwarder.peers[anna.id].publications
    assert publications["audio"].enabled and publications["video"].enabled
    await anna.signaling.expect("set_media_state", {"audio_muted": True, "video_muted": False})
    assert not publications["audio"].enabled and publications["video"].enabled
    await anna.signaling.expect("set_media_state", {"audio_muted": False, "video_muted": True})
    assert publications["audio"].enabled and not publications["video"].enabled


async def test_a_state_chosen_before_the_offer_applies_to_the_media(
    connect: Connect, rtc_clients: MakeRtc, http: TestClient[Any, Any]
) -> None:
    signaling = await connect()
    joined = await signaling.join("demo", "Anna", audio_muted=True)
    anna = Member(signaling, rtc_clients(joined["receive_slots"]), joined)
    await anna.publish()
    publications = http.app[switchboard_key].forwarders["demo"].peers[anna.id].publications
    assert not publications["audio"].enabled
    assert publications["video"].enabled


async def test_trickled_candidates_are_acknowledged(member: Any) -> None:
    anna: Member = await member("Anna")
    await anna.publish()
    candidates = anna.rtc.candidate_lines()
    assert candidates
    data = {"candidate": candidates[0], "sdp_mid": "0", "sdp_mline_index": 0}
    assert await anna.signaling.expect("ice_candidate", data) == {}
    assert await anna.signaling.expect("ice_candidate", {"candidate": None}) == {}


async def test_a_bad_candidate_is_bad_candidate(member: Any) -> None:
    anna: Member = await member("Anna")
    await anna.publish()
    error = await anna.signaling.error("ice_candidate", {"candidate": "candidate:garbage"})
    assert error["code"] == "bad_candidate"
    assert await anna.signaling.expect("ping") == {}


async def test_a_candidate_before_the_offer_is_invalid_state(member: Any) -> None:
    anna: Member = await member("Anna")
    error = await anna.signaling.error("ice_candidate", {"candidate": None})
    assert error["code"] == "invalid_state"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda sdp: "this is not sdp",
        lambda sdp: "v=0\r\n",
        # Wrong layout: the receive slots without the published media in front.
        lambda sdp: _drop_media(sdp, [0, 1]),
        # Wrong layout: a receive slot without its video half.
        lambda sdp: _drop_media(sdp, [3]),
    ],
    ids=["garbage", "no-media", "no-published-media", "odd-slot"],
)
async def test_a_bad_offer_is_bad_sdp_and_can_be_retried(
    member: Any, mangle: Callable[[str], str]
) -> None:
    anna: Member = await member("Anna")
    offer = await anna.rtc.offer()
    error = await anna.signaling.error("offer", {"sdp": mangle(offer)})
    assert error["code"] == "bad_sdp"
    assert error["message"]
    answer = await anna.signaling.expect("offer", {"sdp": offer})
    await anna.rtc.accept(answer["sdp"])


async def test_too_many_receive_slots_are_bad_sdp(
    aiohttp_client: AiohttpClient, settings: Settings, rtc_clients: MakeRtc
) -> None:
    http = await aiohttp_client(create_app(replace(settings, max_participants=2)))
    signaling = SignalingClient(await http.ws_connect("/ws"))
    joined = await signaling.join()
    assert joined["receive_slots"] == 1
    offer = await rtc_clients(2).offer()
    error = await signaling.error("offer", {"sdp": offer})
    assert error["code"] == "bad_sdp"
    assert "receive slots" in error["message"]


async def test_a_second_offer_is_invalid_state(member: Any) -> None:
    anna: Member = await member("Anna")
    offer = await anna.rtc.offer()
    await anna.signaling.expect("offer", {"sdp": offer})
    assert (await anna.signaling.error("offer", {"sdp": offer}))["code"] == "invalid_state"


async def test_a_lost_peer_connection_ends_the_participation(member: Any) -> None:
    anna: Member = await member("Anna")
    bram: Member = await member("Bram")
    await anna.publish()
    await bram.publish()
    await asyncio.wait_for(anna.rtc.connected.wait(), CONNECT_TIMEOUT)
    await anna.rtc.close()  # the media connection goes, the socket stays
    left = await bram.signaling.event("participant_left", seconds=CONNECT_TIMEOUT)
    assert left["data"] == {"participant_id": anna.id, "cause": "connection_lost"}
    assert await anna.signaling.closed() == 1000
    assert anna.signaling.events[-1]["data"] == {"cause": "connection_lost"}
    assert await bram.signaling.expect("ping") == {}


def _drop_media(sdp: str, indexes: list[int]) -> str:
    """Remove m-sections (and their mids from the BUNDLE group) from an SDP."""
    head, *sections = sdp.split("\r\nm=")
    kept = [s for i, s in enumerate(sections) if i not in indexes]
    dropped_mids = [
        line.split(":", 1)[1]
        for i, s in enumerate(sections)
        if i in indexes
        for line in s.split("\r\n")
        if line.startswith("a=mid:")
    ]
    lines = []
    for line in head.split("\r\n"):
        if line.startswith("a=group:BUNDLE"):
            line = " ".join(p for p in line.split(" ") if p not in dropped_mids)
        lines.append(line)
    return "\r\nm=".join(["\r\n".join(lines), *kept])
