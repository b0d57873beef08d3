"""The start-up check of aiortc internals, and offers the forwarder refuses."""

from __future__ import annotations

import asyncio
import gc
import logging

import aioice.ice
import pytest
from aiortc import RTCRtpReceiver
from aiortc.rtcdtlstransport import RTCDtlsTransport

from grouproom.media.contract import CandidateError, OfferError
from grouproom.media.hooks import MissingHookError, install_host_addresses, verify_hooks
from tests.media.conftest import SLOTS, Room
from tests.media.peers import TestParticipant


async def test_all_hooks_are_present() -> None:
    await verify_hooks()


async def test_a_missing_hook_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(RTCDtlsTransport, "_send_rtp")
    with pytest.raises(MissingHookError, match=r"RTCDtlsTransport\._send_rtp"):
        await verify_hooks()


async def test_a_changed_hook_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    async def handle_rtp_data(self: RTCDtlsTransport, data: bytes, arrival_time_ms: int) -> None:
        return None

    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtp_data", handle_rtp_data)
    with pytest.raises(MissingHookError, match="_handle_rtp_packet"):
        await verify_hooks()


async def test_a_receiver_part_used_elsewhere_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # The forwarder drops the receiver's own bitrate estimator: only safe while
    # nothing but the replaced _handle_rtp_packet uses it.
    async def get_stats(self: RTCRtpReceiver) -> object:
        return self.__remote_bitrate_estimator

    monkeypatch.setattr(RTCRtpReceiver, "getStats", get_stats)
    with pytest.raises(MissingHookError, match="remote_bitrate_estimator"):
        await verify_hooks()


def test_host_addresses_can_include_loopback_and_be_restored() -> None:
    original = aioice.ice.get_host_addresses
    try:
        install_host_addresses(["127.0.0.1", "::1"])
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == [
            "127.0.0.1",
            "::1",
        ]
        install_host_addresses([])
        assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    finally:
        aioice.ice.get_host_addresses = original
        install_host_addresses(["127.0.0.1"])


async def offer_from(participant: TestParticipant) -> str:
    try:
        return await participant.make_offer()
    finally:
        await participant.close()


async def test_garbage_is_refused(room: Room) -> None:
    with pytest.raises(OfferError, match=r"cannot be parsed|needs an audio"):
        await room.forwarder.connect("anna", "this is not sdp")
    assert room.forwarder.peers == {}


async def test_oversized_offer_is_refused(room: Room) -> None:
    with pytest.raises(OfferError, match="too long"):
        await room.forwarder.connect("anna", "v=0\r\n" + "a=x\r\n" * 20_000)


async def test_too_many_slots_are_refused(room: Room) -> None:
    sdp = await offer_from(TestParticipant("anna", 10, slots=4))  # room takes 3
    with pytest.raises(OfferError, match="at most 3 receive slots"):
        await room.forwarder.connect("anna", sdp)
    assert room.forwarder.peers == {}


async def test_offer_without_bundle_is_refused(room: Room) -> None:
    sdp = await offer_from(TestParticipant("anna", 10, slots=1))
    sdp = "\r\n".join(line for line in sdp.split("\r\n") if not line.startswith("a=group:BUNDLE"))
    with pytest.raises(OfferError, match="BUNDLE"):
        await room.forwarder.connect("anna", sdp)


async def test_published_lines_must_come_first(room: Room) -> None:
    participant = TestParticipant("anna", 10, slots=1)
    participant.pc.addTransceiver("video", direction="sendonly")
    participant.pc.addTransceiver("audio", direction="sendonly")
    await participant.pc.setLocalDescription(await participant.pc.createOffer())
    sdp = participant.pc.localDescription.sdp
    await participant.close()
    with pytest.raises(OfferError, match="m-line 0 must be audio"):
        await room.forwarder.connect("anna", sdp)


async def test_candidates_are_checked(room: Room) -> None:
    with pytest.raises(CandidateError, match="before the offer"):
        await room.forwarder.add_ice_candidate(
            "anna", "candidate:1 1 udp 1 127.0.0.1 9 typ host", "0", 0
        )
    await room.join("anna", 10)
    with pytest.raises(CandidateError, match="cannot be parsed"):
        await room.forwarder.add_ice_candidate("anna", "candidate:nonsense", "0", 0)
    # A well-formed candidate and the end-of-candidates marker are accepted.
    await room.forwarder.add_ice_candidate(
        "anna", "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host", "0", 0
    )
    await room.forwarder.add_ice_candidate("anna", None, None, None)


async def test_second_offer_from_the_same_participant_is_refused(room: Room) -> None:
    await room.join("anna", 10)
    sdp = await offer_from(TestParticipant("anna2", 10, slots=1))
    with pytest.raises(OfferError, match="already"):
        await room.forwarder.connect("anna", sdp)


def _stun_server_of(room: Room, name: str) -> object:
    transceiver = room.forwarder.peers[name].pc.getTransceivers()[0]
    return transceiver.receiver.transport.transport.iceGatherer._connection.stun_server


async def test_no_stun_server_unless_configured(room: Room) -> None:
    # aiortc would add a public STUN server to a configuration without one.
    await room.join("anna", 10)
    assert _stun_server_of(room, "anna") is None


async def test_the_answer_asks_for_opus_dtx_and_fec(room: Room) -> None:
    participant = TestParticipant("anna", 10, slots=1)
    try:
        answer = await room.forwarder.connect("anna", await participant.make_offer())
    finally:
        await participant.close()
    opus = [line for line in answer.splitlines() if line.startswith("a=fmtp:") and "usedtx" in line]
    # The published microphone and the receive slot's audio both carry them.
    assert len(opus) == 2
    assert all("usedtx=1" in line and "useinbandfec=1" in line for line in opus)


def _remote_hosts(room: Room, name: str) -> list[str]:
    transceiver = room.forwarder.peers[name].pc.getTransceivers()[0]
    connection = transceiver.receiver.transport.transport._connection
    return [candidate.host for candidate in connection._remote_candidates]


async def test_named_candidates_are_never_resolved(room: Room) -> None:
    """Host names and mDNS names in an offer or trickled are left out: the server
    looks up nothing and sends no multicast query for what a client writes."""
    participant = TestParticipant("anna", 10, slots=1)
    try:
        offer = await participant.make_offer()
        named = (
            "a=candidate:9 1 udp 2130706431 3f1c2d4e-0000-4000-8000-000000000000.local"
            " 50000 typ host\r\n"
            "a=candidate:8 1 udp 2130706430 media.example.org 50001 typ host\r\n"
        )
        first_media = offer.index("m=")
        mid_line = offer.index("a=mid:", first_media)
        offer = offer[:mid_line] + named + offer[mid_line:]
        await room.forwarder.connect("anna", offer)
        await room.forwarder.add_ice_candidate(
            "anna", "candidate:7 1 udp 2130706429 other.example.org 50002 typ host", "0", 0
        )
        hosts = _remote_hosts(room, "anna")
        assert hosts and all(not host.endswith((".local", ".org")) for host in hosts), hosts
    finally:
        await participant.close()


async def test_leaving_while_connecting_ends_quietly(
    room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    # A participant leaves while connecting: right after the answer, then 2 ms
    # later each time. Nothing may be logged at ERROR and nothing stays behind.
    # (The join/leave soak once caught aiortc's own connect task failing with
    # "RTCIceTransport is closed", never retrieved: hooks.install_connect_guard.
    # That race is rare; this test did not reproduce it on its own.)
    anna = await room.join("anna", 40)
    for attempt in range(30):
        name = f"bram-{attempt}"
        participant = TestParticipant(name, 120, SLOTS)
        try:
            answer = await room.forwarder.connect(name, await participant.make_offer())
            await participant.accept_answer(answer)
            await asyncio.sleep(attempt * 0.002)
            await room.forwarder.disconnect(name)
        finally:
            await participant.close()
    await asyncio.sleep(0.5)
    gc.collect()
    await asyncio.sleep(0.1)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert list(room.forwarder.peers) == ["anna"]
    assert anna.pc.connectionState in ("connecting", "connected")
