"""Forwarding between real aiortc participants over loopback.

The participants encode and decode (they are the browsers); the server only
forwards. Waits are bounded polls, not speed assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import os
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pylibsrtp
from aioice.candidate import Candidate
from aioice.ice import CandidatePair
from aiortc import RTCPeerConnection, RTCRtpSender, RTCRtpTransceiver
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    is_rtcp,
    pack_remb_fci,
)
from pylibsrtp import Policy, Session

from grouproom.media.contract import Kind
from grouproom.media.endpoints import ForwardingReceiver, ForwardingSender, UnusedReceiver
from grouproom.media.keyframe import vp8_picture_id
from grouproom.media.munger import PICTURE_ID_MOD, SEQ_MOD, TS_MOD, seq_newer
from grouproom.media.nack import MAX_REQUESTS
from grouproom.media.peer import Slot
from tests.event_loops import EXECUTOR_THREAD_PREFIXES
from tests.media.conftest import Room
from tests.media.peers import TestParticipant

LUMA = {"anna": 40, "bram": 120, "cees": 200}


async def eventually(predicate: Callable[[], bool], within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def eventually_async(check: Callable[[], Awaitable[bool]], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(0.1)
    return await check()


def sees(room: Room, subscriber: str, publisher: str, frames: int = 10) -> bool:
    participant = room.participants[subscriber]
    video = participant.received.get(room.mid(subscriber, publisher, "video"))
    audio = participant.received.get(room.mid(subscriber, publisher, "audio"))
    return (
        video is not None
        and video.frames >= frames
        and audio is not None
        and audio.frames >= frames
    )


async def anna_seen_by_bram(room: Room) -> Slot:
    """anna and bram join, and once bram sees anna: the slot in which the server
    sends anna's streams to bram."""
    await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "bram", "anna"))
    slot = room.forwarder.peers["bram"].slot_of("anna")
    assert slot is not None
    return slot


def luma_seen(room: Room, subscriber: str, publisher: str) -> int | None:
    received = room.participants[subscriber].received[room.mid(subscriber, publisher, "video")]
    return received.luma


async def test_three_participants_each_decode_both_others(room: Room) -> None:
    for name, luma in LUMA.items():
        await room.join(name, luma)
    pairs = [(s, p) for s in LUMA for p in LUMA if s != p]
    assert await eventually(lambda: all(sees(room, s, p) for s, p in pairs), within=15)
    # Each receive slot shows the publisher it was announced for: the colours
    # arrive in the same order as they were sent.
    for subscriber in LUMA:
        others = sorted((p for p in LUMA if p != subscriber), key=LUMA.__getitem__)
        seen = [luma_seen(room, subscriber, p) for p in others]
        assert None not in seen
        assert seen == sorted(seen)  # type: ignore[type-var]
        assert seen[1] - seen[0] > 30  # type: ignore[operator]


async def test_server_never_creates_a_decoder_or_encoder(room: Room) -> None:
    for name, luma in LUMA.items():
        await room.join(name, luma)
    pairs = [(s, p) for s in LUMA for p in LUMA if s != p]
    assert await eventually(lambda: all(sees(room, s, p) for s, p in pairs), within=15)
    for peer in room.forwarder.peers.values():
        for transceiver in peer.pc.getTransceivers():
            receiver, sender = transceiver.receiver, transceiver.sender
            assert type(receiver) in (ForwardingReceiver, UnusedReceiver)
            assert type(sender) is ForwardingSender
            # aiortc creates decoders only in the receiver's decoder thread and
            # encoders only in the sender's RTP loop; neither ever started.
            assert receiver._RTCRtpReceiver__decoder_thread is None  # type: ignore[attr-defined]
            assert sender._RTCRtpSender__encoder is None  # type: ignore[attr-defined]
            assert sender._RTCRtpSender__rtp_task is None  # type: ignore[attr-defined]
            # Nor does it keep aiortc's receive pipeline (a video receiver's bitrate
            # estimator alone is 1,000 objects for the garbage collector to walk).
            for part in ("jitter_buffer", "nack_generator", "remote_bitrate_estimator"):
                assert getattr(receiver, f"_RTCRtpReceiver__{part}") is None
    server_threads = [t.name for t in threading.enumerate() if t.name.endswith("-decoder")]
    # Only the three participants decode: two remote audio + two video each.
    assert len(server_threads) == 3 * (2 * 3)  # every participant's receive slots


async def test_late_joiner_gets_a_keyframe(room: Room) -> None:
    await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "anna", "bram") and sees(room, "bram", "anna"))
    # aiortc's encoder makes a keyframe only when asked: without a keyframe request
    # reaching the publishers the newcomer would never decode a frame.
    await asyncio.sleep(1.0)
    before = {
        n: room.forwarder.publication_stats(n, "video")["keyframe_requests_sent"]
        for n in ("anna", "bram")
    }
    joined_at = time.monotonic()
    cees = await room.join("cees", LUMA["cees"])
    assert await eventually(lambda: sees(room, "cees", "anna", 1) and sees(room, "cees", "bram", 1))
    for name in ("anna", "bram"):
        after = room.forwarder.publication_stats(name, "video")["keyframe_requests_sent"]
        assert after > before[name]
        first = cees.received[room.mid("cees", name, "video")].first_frame_at
        assert first is not None
        print(f"first frame from {name} {1000 * (first - joined_at):.0f} ms after joining")


async def test_leaving_releases_slots_and_stops_media(room: Room) -> None:
    for name, luma in LUMA.items():
        await room.join(name, luma)
    assert await eventually(lambda: sees(room, "anna", "cees") and sees(room, "bram", "cees"))
    cees_mid_at_anna = room.mid("anna", "cees", "video")
    await room.leave("cees")
    assert ("anna", "cees", "video", cees_mid_at_anna) in room.events.removed
    assert ("bram", "cees", "audio", room.events.removed[-1][3]) in room.events.removed or any(
        r[:3] == ("bram", "cees", "audio") for r in room.events.removed
    )
    for name in ("anna", "bram"):
        assert room.forwarder.publication_stats(name, "video")["subscriptions"] == 1
    # The freed slot serves the next participant.
    await room.join("dirk", 90)
    assert room.mid("anna", "dirk", "video") == cees_mid_at_anna
    assert await eventually(lambda: sees(room, "anna", "dirk", 5) and sees(room, "dirk", "anna", 5))


def record_rtp(participant: TestParticipant, mid: str) -> list[tuple[int, int, int | None]]:
    """Record (sequence number, timestamp, VP8 PictureID) of every RTP packet that
    reaches the participant's receiver for `mid`, in arrival order."""
    receiver = next(t.receiver for t in participant.pc.getTransceivers() if t.mid == mid)
    recorded: list[tuple[int, int, int | None]] = []
    original = receiver._handle_rtp_packet

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        located = vp8_picture_id(packet.payload)
        picture_id = None
        if located is not None:
            position, bits = located
            raw = int.from_bytes(packet.payload[position : position + bits // 8 + 1], "big")
            picture_id = raw & (0x7FFF if bits == 15 else 0x7F)
        recorded.append((packet.sequence_number, packet.timestamp, picture_id))
        await original(packet, arrival_time_ms)

    receiver._handle_rtp_packet = handle  # type: ignore[method-assign]
    return recorded


async def test_a_reused_slot_continues_numbering_for_the_next_publisher(room: Room) -> None:
    # A browser keeps its receiver for the slot's SSRC: sequence numbers, timestamps
    # and VP8 PictureIDs that jumped backwards would make it drop the newcomer's
    # frames as old ones.
    anna = await room.join("anna", LUMA["anna"])
    await room.join("cees", LUMA["cees"])
    mid = room.mid("anna", "cees", "video")
    recorded = record_rtp(anna, mid)
    assert await eventually(lambda: sees(room, "anna", "cees", 5))
    await room.leave("cees")
    handed_over_at = len(recorded)
    await room.join("dirk", 90)
    assert room.mid("anna", "dirk", "video") == mid
    assert await eventually(lambda: len(recorded) > handed_over_at + 5)
    last_of_cees, first_of_dirk = recorded[handed_over_at - 1], recorded[handed_over_at]
    assert first_of_dirk[0] == (last_of_cees[0] + 1) % SEQ_MOD
    assert 0 < (first_of_dirk[1] - last_of_cees[1]) % TS_MOD < TS_MOD // 2
    assert last_of_cees[2] is not None and first_of_dirk[2] is not None
    assert first_of_dirk[2] == (last_of_cees[2] + 1) % PICTURE_ID_MOD
    assert await eventually(lambda: luma_seen(room, "anna", "dirk") is not None)


async def test_an_observer_receives_everyone_and_takes_no_slot(room: Room) -> None:
    await room.join("anna", LUMA["anna"])
    await room.join("olga", 0, publishes=False)
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "olga", "anna") and sees(room, "olga", "bram"))
    assert not any(publisher == "olga" for _, publisher, _ in room.events.published)
    assert room.forwarder.publication_stats("olga", "video")["subscriptions"] == 0
    assert await eventually(lambda: sees(room, "anna", "bram") and sees(room, "bram", "anna"))


async def test_muted_audio_is_not_forwarded_and_resumes_without_gaps(room: Room) -> None:
    await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "bram", "anna"))
    audio = room.participants["bram"].received[room.mid("bram", "anna", "audio")]
    room.forwarder.set_forwarding("anna", "audio", False)
    await asyncio.sleep(0.2)
    muted_at = audio.frames
    await asyncio.sleep(1.0)
    assert audio.frames - muted_at <= 1
    room.forwarder.set_forwarding("anna", "audio", True)
    assert await eventually(lambda: audio.frames > muted_at + 25)
    # The subscriber saw consecutive sequence numbers: nothing counts as lost.
    receiver = next(
        t.receiver
        for t in room.participants["bram"].pc.getTransceivers()
        if t.mid == room.mid("bram", "anna", "audio")
    )
    stats = await receiver.getStats()
    inbound = next(s for s in stats.values() if s.type == "inbound-rtp")
    assert inbound.packetsLost == 0
    assert inbound.packetsReceived >= muted_at + 25


async def test_lost_packets_are_retransmitted_from_the_buffer(room: Room) -> None:
    slot = await anna_seen_by_bram(room)
    # Drop every 7th video packet on its way from the server to bram.
    sender = slot.video
    subscription = sender.subscription
    assert subscription is not None
    # Once the first packet went out its route is made; the socket send behind it
    # becomes lossy (copies and retransmissions alike go out that way).
    assert await eventually(lambda: sender.route is not None)
    route = sender.route
    assert route is not None
    counter = {"sent": 0, "dropped": 0}

    def lossy_send(data: bytes, address: tuple[Any, ...]) -> None:
        if not is_rtcp(data):
            counter["sent"] += 1
            if counter["sent"] % 7 == 0 and counter["dropped"] < 20:
                counter["dropped"] += 1
                return
        route.send(data, address)

    # No socket descriptor: the compiled copy step, which sends on the socket
    # itself, leaves this route's copies to the Python path and its send.
    sender.route = dataclasses.replace(route, send=lossy_send, fd=-1)
    video = room.participants["bram"].received[room.mid("bram", "anna", "video")]
    start = video.frames
    assert await eventually(lambda: counter["dropped"] >= 20 and video.frames > start + 50, 20)
    assert sender.retransmissions >= 10


async def test_a_new_nominated_pair_and_srtp_session_are_sent_on_at_once(room: Room) -> None:
    """The route straight to a subscriber's socket is made once per nominated ICE
    pair and SRTP session (endpoints.DirectRoute), not per packet: when ICE
    nominates another pair, or the session changes, the next packets go to the
    new address under the new keys, nothing goes out once DTLS is no longer
    connected, and all goes back when they change back."""
    slot = await anna_seen_by_bram(room)
    sender = slot.video
    assert await eventually(lambda: sender.route is not None)
    first_route = sender.route
    assert first_route is not None and first_route.usable()
    arrived: list[bytes] = []

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
            arrived.append(data)

    loop = asyncio.get_running_loop()
    sink, _ = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    host, port = sink.get_extra_info("sockname")[:2]
    connection, dtls = sender._connection, sender._dtls
    original_pair, original_session = connection._nominated[1], dtls._tx_srtp

    def rtp_at_sink() -> list[bytes]:
        return [data for data in arrived if not is_rtcp(data)]

    try:
        # Another pair nominated: the next packets go to its address.
        connection._nominated[1] = CandidatePair(
            original_pair.protocol, Candidate("sink", 1, "udp", 1, host, port, "host")
        )
        assert not first_route.usable()
        assert await eventually(lambda: len(rtp_at_sink()) >= 20, 5)
        # Then new SRTP keys: the next packets are protected with them.
        key = os.urandom(30)
        profile = Policy.SRTP_PROFILE_AES128_CM_SHA1_80
        outbound = Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile)
        dtls._tx_srtp = Session(outbound)
        last_before = sender.munger.last_seq
        inbound = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile))
        opened: list[RtpPacket] = []

        def open_new() -> bool:
            for data in rtp_at_sink():
                header = RtpPacket.parse(data)  # SRTP leaves the header in the clear
                if header.ssrc == sender.ssrc and seq_newer(header.sequence_number, last_before):
                    opened.append(RtpPacket.parse(inbound.unprotect(data)))  # must open
                else:
                    with contextlib.suppress(pylibsrtp.Error):  # may be from before
                        opened.append(RtpPacket.parse(inbound.unprotect(data)))
            arrived.clear()
            return sum(packet.ssrc == sender.ssrc for packet in opened) >= 20

        assert await eventually(open_new, 5)
        assert {packet.ssrc for packet in opened} <= {slot.video.ssrc, slot.audio.ssrc}
        # DTLS no longer connected: nothing more goes out.
        dtls._state = DtlsState.CLOSED
        last_before = sender.munger.last_seq
        await asyncio.sleep(0.5)
        assert sender.munger.last_seq != last_before  # anna's video went on meanwhile
        assert not any(
            header.ssrc == sender.ssrc and seq_newer(header.sequence_number, last_before)
            for header in map(RtpPacket.parse, rtp_at_sink())
        )
    finally:
        connection._nominated[1], dtls._tx_srtp = original_pair, original_session
        dtls._state = DtlsState.CONNECTED
        sink.close()
    # Changed back: a route on the original pair and session again, and bram sees anna.
    video = room.participants["bram"].received[room.mid("bram", "anna", "video")]
    frames = video.frames
    assert await eventually(
        lambda: (
            sender.route is not None
            and sender.route.pair is original_pair
            and video.frames > frames + 25
        )
    )


async def test_a_packet_is_sent_again_at_most_once_per_round_trip(room: Room) -> None:
    """bram asks three times in a row for the same packet: it goes out again once.
    Once a round trip has passed, asking again brings it again."""
    slot = await anna_seen_by_bram(room)
    sender = slot.video
    mid = room.mid("bram", "anna", "video")
    client_transport = next(
        t.receiver.transport for t in room.participants["bram"].pc.getTransceivers() if t.mid == mid
    )

    async def ask(out_seq: int) -> None:
        nack = RtcpRtpfbPacket(
            fmt=RTCP_RTPFB_NACK, ssrc=1234, media_ssrc=sender.ssrc, lost=[out_seq]
        )
        await client_transport._send_rtp(bytes(nack))

    sender.round_trip.measured = 10.0  # seconds: no report can bring it near 0 meanwhile
    wanted = sender.munger.last_seq
    before = sender.retransmissions
    for _ in range(3):
        await ask(wanted)
    assert await eventually(lambda: sender.retransmissions == before + 1, 2)
    await asyncio.sleep(0.3)
    assert sender.retransmissions == before + 1
    assert wanted in sender.resent_at
    # A round trip later (made short here), the same request is answered again.
    sender.round_trip.measured = 0.001
    await asyncio.sleep(0.01)
    await ask(wanted)
    assert await eventually(lambda: sender.retransmissions == before + 2, 2)


def video_sender(participant: TestParticipant) -> RTCRtpSender:
    return next(
        t.sender
        for t in participant.pc.getTransceivers()
        if t.sender.track is not None and t.sender.track.kind == "video"
    )


@dataclass
class LostPacket:
    """One video packet of a publisher, some copies of it lost on the way in."""

    target: int | None = None  # its sequence number, once chosen
    dropped: int = 0  # copies lost
    passed: int = 0  # copies let through


def lose_copies(participant: TestParticipant, copies: int | None) -> LostPacket:
    """Lose the first `copies` copies (None: every copy) of the fifth video packet
    from now, as they leave the participant: before encryption, since a copy
    decrypted by the server would make the retransmission, which has the same
    index, a replay."""
    sender = video_sender(participant)
    transport = sender.transport
    original = transport._send_rtp
    lost = LostPacket()

    async def losing_send(data: bytes) -> None:
        if not is_rtcp(data) and int.from_bytes(data[8:12], "big") == sender._ssrc:
            seq = int.from_bytes(data[2:4], "big")
            if lost.target is None:
                lost.target = (seq + 5) % SEQ_MOD
            if seq == lost.target:
                if copies is None or lost.dropped < copies:
                    lost.dropped += 1
                    return
                lost.passed += 1
        await original(data)

    transport._send_rtp = losing_send  # type: ignore[method-assign]
    return lost


async def inbound_rtp(room: Room, subscriber: str, publisher: str, kind: Kind) -> Any:
    """The subscriber's aiortc receive statistics of the publisher's stream."""
    receiver = next(
        t.receiver
        for t in room.participants[subscriber].pc.getTransceivers()
        if t.mid == room.mid(subscriber, publisher, kind)
    )
    stats = await receiver.getStats()
    return next(s for s in stats.values() if s.type == "inbound-rtp")


async def test_a_packet_lost_twice_on_the_way_in_is_asked_for_again(room: Room) -> None:
    """One video packet from anna is lost, and so is its first retransmission; no
    other packet is lost, so no later gap would bring the request back. The server
    asks again after a round trip, gets it, and forwards it to bram."""
    await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "bram", "anna"))
    publication = room.forwarder.peers["anna"].publications["video"]
    lost = lose_copies(room.participants["anna"], 2)
    nacks_before = publication.nacks_sent
    assert await eventually(lambda: lost.passed == 1, 10), lost
    assert publication.nacks_sent >= nacks_before + 2
    target = lost.target
    assert target is not None
    assert publication.buffer is not None and publication.buffer.get(target) is not None
    # bram saw the gap, asked the server, and got the packet once it came.

    async def bram_lost_nothing() -> bool:
        return bool((await inbound_rtp(room, "bram", "anna", "video")).packetsLost == 0)

    assert await eventually_async(bram_lost_nothing, 10)


async def test_a_packet_that_never_comes_is_given_up_and_counted(room: Room) -> None:
    """Every copy of one video packet is lost on the way in: the server asks for it
    ten times, then stops, counts it as not recovered (a metric) and asks anna for
    a keyframe at once (a browser's decoder can go on from it; aiortc's receiver,
    bram here, waits until 512 packets fill its jitter buffer)."""
    await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "bram", "anna"))
    publication = room.forwarder.peers["anna"].publications["video"]
    lost = lose_copies(room.participants["anna"], None)
    before = room.forwarder.counters()["packets_not_recovered"]
    keyframes = publication.keyframe_requests_sent
    assert await eventually(lambda: publication.packets_not_recovered == 1, 10)
    assert publication.keyframe_requests_sent == keyframes + 1
    # The original and one retransmission per request (aiortc's sender answers each).
    assert await eventually(lambda: lost.dropped == 1 + MAX_REQUESTS, 5), lost
    assert room.forwarder.counters()["packets_not_recovered"] == before + 1
    await asyncio.sleep(0.5)
    assert lost.dropped == 1 + MAX_REQUESTS  # asked no more
    assert publication.packets_not_recovered == 1


async def test_the_round_trip_is_measured_both_ways(room: Room) -> None:
    """The server measures its round trip to each browser from the receiver
    reports on the sender reports it forwards, and its own receiver reports to a
    publisher name the publisher's last sender report (LSR, DLSR), so the
    publisher's browser measures it too."""
    await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "bram", "anna"))
    peers = room.forwarder.peers
    assert await eventually(
        lambda: all(peers[name].round_trip.measured is not None for name in ("anna", "bram")),
        15,
    )
    for name in ("anna", "bram"):
        measured = peers[name].round_trip.measured
        assert measured is not None and 0 <= measured < 0.5
    sender = video_sender(room.participants["anna"])

    async def anna_round_trip() -> float | None:
        stats = await sender.getStats()
        remote = [s for s in stats.values() if s.type == "remote-inbound-rtp"]
        return remote[0].roundTripTime if remote else None

    async def anna_knows_it() -> bool:
        return await anna_round_trip() is not None

    assert await eventually_async(anna_knows_it, 15)
    round_trip = await anna_round_trip()
    assert round_trip is not None and 0 <= round_trip < 0.5


async def test_answer_offers_only_the_configured_address(room: Room) -> None:
    from tests.media.peers import TestParticipant

    participant = TestParticipant("anna", 10, 1)
    try:
        answer = await room.forwarder.connect("anna", await participant.make_offer())
    finally:
        await participant.close()
    candidates = [line for line in answer.splitlines() if line.startswith("a=candidate:")]
    assert candidates
    assert all(" 127.0.0.1 " in line for line in candidates)


def _is_server_side(transceiver: RTCRtpTransceiver) -> bool:
    return isinstance(transceiver.sender, ForwardingSender)


def _counts() -> dict[str, int]:
    gc.collect()
    objects = gc.get_objects()
    return {
        "tasks": len(asyncio.all_tasks()),
        "server_peer_connections": sum(
            isinstance(o, RTCPeerConnection) and any(map(_is_server_side, o.getTransceivers()))
            for o in objects
        ),
        "server_transceivers": sum(
            isinstance(o, RTCRtpTransceiver) and _is_server_side(o) for o in objects
        ),
        # The participants' encoders run in the default executor, which grows up to
        # its limit; every other thread (decoders above all) must go away.
        "threads": sum(
            not t.name.startswith(EXECUTOR_THREAD_PREFIXES) for t in threading.enumerate()
        ),
        "fds": len(os.listdir("/proc/self/fd")),
    }


async def _join_and_leave(room: Room, name: str) -> bool:
    guest = await room.join(name, 90, slots=1)
    connected = await eventually(lambda: guest.pc.connectionState == "connected")
    await room.leave(name)
    return connected


async def test_fifty_joins_and_leaves_leave_nothing_behind(room: Room) -> None:
    await room.join("anna", LUMA["anna"])
    assert await eventually(lambda: room.participants["anna"].pc.connectionState == "connected")
    await asyncio.sleep(0.5)
    baseline = _counts()
    tasks_before = asyncio.all_tasks()
    connected = [await _join_and_leave(room, f"guest{cycle}") for cycle in range(50)]
    assert all(connected)
    # The last guest's connection takes a moment to wind down (its tasks end on
    # their next turn, a timer or a socket closing): what stays for 10 s has leaked.
    await eventually(lambda: _counts() == baseline, within=10)
    after = _counts()
    left = [repr(task.get_coro()) for task in asyncio.all_tasks() - tasks_before]
    assert after == baseline, (baseline, after, left)
    assert len(room.forwarder.peers) == 1
    assert room.forwarder.publication_stats("anna", "video")["subscriptions"] == 0


async def test_publishers_are_told_the_bandwidth_cap(room: Room) -> None:
    anna = await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "bram", "anna"))
    video_sender = next(t.sender for t in anna.pc.getTransceivers() if t.kind == "video")

    def encoder_target() -> int | None:
        encoder = video_sender._RTCRtpSender__encoder  # type: ignore[attr-defined]
        return getattr(encoder, "target_bitrate", None)

    # The server's REMB carries the cap (video_max_bitrate); lower it below
    # aiortc's default encoder bitrate and watch the publisher follow.
    for publication in room.forwarder.peers["anna"].publications.values():
        publication.bandwidth.cap = 250_000
    assert await eventually(lambda: encoder_target() == 250_000, within=10)


async def test_a_browsers_remb_holds_publishers_to_their_share_once_it_falls(
    room: Room,
) -> None:
    """A browser sends one REMB for all the videos it receives on its
    connection (Chromium does, seen in the end-to-end test's server). From the
    first time it falls (congestion) each publisher it watches is held to its
    share of the whole by what each carries (share_level), not to the whole;
    once the share reaches the cap, the publishers are let go."""
    await room.join("anna", LUMA["anna"])
    await room.join("cees", LUMA["cees"])
    bram = await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "bram", "anna") and sees(room, "bram", "cees"))
    reported: dict[str, list[int]] = {"anna": [], "cees": []}
    released: list[str] = []
    for name, reports in reported.items():
        estimate = room.forwarder.peers[name].publications["video"].bandwidth
        report_subscriber = estimate.report_subscriber
        forget_subscriber = estimate.forget_subscriber

        def recording(
            subscriber: int,
            bitrate: int,
            now: float,
            reports: list[int] = reports,
            report_subscriber: Callable[[int, int, float], None] = report_subscriber,
        ) -> None:
            reports.append(bitrate)
            report_subscriber(subscriber, bitrate, now)

        def forgetting(
            subscriber: int,
            name: str = name,
            forget_subscriber: Callable[[int], None] = forget_subscriber,
        ) -> None:
            released.append(name)
            forget_subscriber(subscriber)

        estimate.report_subscriber = recording  # type: ignore[method-assign]
        estimate.forget_subscriber = forgetting  # type: ignore[method-assign]
    peer = room.forwarder.peers["bram"]
    slots = [peer.slot_of(name) for name in ("anna", "cees")]
    listed = [slot.video.ssrc for slot in slots if slot is not None]
    # Chromium lists only videos; an audio stream listed takes no share.
    listed.append(slots[0].audio.ssrc)  # type: ignore[union-attr]
    # Bram's REMBs are the test's own: his receivers' estimates (one stream each,
    # aiortc's way) would come in between.
    for each in bram.pc.getReceivers():
        each._RTCRtpReceiver__remote_bitrate_estimator = None  # type: ignore[attr-defined]
    receiver = bram.pc.getReceivers()[0]

    async def send_remb(total: int) -> None:
        remb = RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP,
            ssrc=receiver._RTCRtpReceiver__rtcp_ssrc,  # type: ignore[attr-defined]
            media_ssrc=0,
            fci=pack_remb_fci(total, listed),
        )
        await receiver._send_rtcp(remb)

    # An estimate that has not fallen yet holds nobody back (it may be ramping
    # up); the first REMB also starts measuring what each video carries.
    await send_remb(100_000)
    await asyncio.sleep(1.2)
    await send_remb(100_002)
    await asyncio.sleep(0.3)
    assert not {50_000, 50_001, 100_000, 100_002} & set(reported["anna"] + reported["cees"])
    # It falls (far below what the two videos carry): each gets half.
    limits = room.forwarder.counters()["congestion_limits"]
    await send_remb(1000)
    assert await eventually(lambda: 500 in reported["anna"] and 500 in reported["cees"])
    assert room.forwarder.counters()["congestion_limits"] == limits + 2  # one per video
    # Bram stops showing Anna: her video carries nothing to him, so Cees's may
    # take the whole (an even split would still hold him to half).
    room.forwarder.set_visible_video("bram", frozenset({"cees"}))
    await asyncio.sleep(1.2)
    await send_remb(1000)  # a measuring window that began before the pause ends
    await asyncio.sleep(1.2)
    reported["cees"].clear()
    await send_remb(1001)
    assert await eventually(lambda: 1001 in reported["cees"])
    assert 500 not in reported["cees"]
    # Recovered to more than the cap: Cees is let go.
    await send_remb(10_000_000)
    assert await eventually(lambda: "cees" in released)


async def test_a_vanished_participant_is_reported(room: Room) -> None:
    await room.join("anna", LUMA["anna"])
    bram = await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "anna", "bram"))
    await bram.close()  # no leave: the browser just went away
    assert await eventually(lambda: "bram" in room.events.lost, within=40)


async def test_h264_publisher_is_forwarded_to_vp8_publishers(room: Room) -> None:
    await room.join("anna", LUMA["anna"], video_codec="video/H264")
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "bram", "anna") and sees(room, "anna", "bram"))
    bram = room.participants["bram"]
    receiver = next(
        t.receiver for t in bram.pc.getTransceivers() if t.mid == room.mid("bram", "anna", "video")
    )
    stats = await receiver.getStats()
    assert any(s.type == "inbound-rtp" and s.packetsReceived > 0 for s in stats.values())
    anna_video = room.forwarder.peers["anna"].publications["video"]
    assert {c.mimeType for c in anna_video.codecs.values()} <= {"video/H264"}


async def test_headers_written_by_aiortc_when_the_fast_writer_cannot(room: Room) -> None:
    # Two-byte header extensions (ids above 14) fall back to RtpPacket.serialize.
    slot = await anna_seen_by_bram(room)
    slot.audio.header_writer = None
    slot.video.header_writer = None
    video = room.participants["bram"].received[room.mid("bram", "anna", "video")]
    start = video.frames
    assert await eventually(lambda: video.frames > start + 25)
    assert video.luma is not None and abs(video.luma - LUMA["anna"]) < 8
