"""A subscriber that starts while a publisher's keyframe began a moment ago (another
subscriber asked for it) gets it from the ring, with everything after it, instead
of waiting for a new one (Publication.keyframe_in_ring)."""

from __future__ import annotations

import asyncio

from aiortc.rtp import RtpPacket

from grouproom.media.publication import KEYFRAME_CATCH_UP, ForwardedPacket, Publication
from tests.media.conftest import Room
from tests.media.test_fan_out import VP8, video_packet
from tests.media.test_forwarding import LUMA, eventually, sees


def vp8_packet(seq: int, keyframe: bool) -> RtpPacket:
    packet = video_packet(seq)  # the first packet of a keyframe
    if not keyframe:  # a continuation packet
        packet.payload = bytes([0x00, 0x11, 0x22, 0x33]) + bytes(600)
    return packet


def disabled_video() -> Publication:
    """A publication that receives and keeps packets but forwards none (nothing
    is subscribed)."""
    publication = Publication("anna", "video", 500_000)
    publication.start([VP8])
    publication.enabled = False
    return publication


async def test_a_recent_keyframe_is_given_with_what_followed_it() -> None:
    publication = disabled_video()
    publication.on_rtp(vp8_packet(65534, keyframe=False), 0)
    for seq in (65535, 0, 1, 2):  # a keyframe across the wrap, then more
        publication.on_rtp(vp8_packet(seq, keyframe=seq == 65535), 0)
    now = publication._keyframe_start[1] if publication._keyframe_start else 0.0
    caught_up = publication.keyframe_in_ring(3, now)
    assert caught_up is not None
    assert [packet.seq for packet in caught_up] == [65535, 0, 1, 2]
    assert caught_up[0].keyframe
    publication.close()


async def test_an_old_keyframe_a_gap_or_a_later_keyframe_gives_nothing() -> None:
    publication = disabled_video()
    for seq in range(10, 14):
        publication.on_rtp(vp8_packet(seq, keyframe=seq == 10), 0)
    assert publication._keyframe_start is not None
    arrived = publication._keyframe_start[1]
    assert publication.keyframe_in_ring(14, arrived + KEYFRAME_CATCH_UP + 0.01) is None
    assert publication.keyframe_in_ring(10, arrived) is None  # the keyframe itself is next
    assert publication.keyframe_in_ring(9, arrived) is None  # before the keyframe
    publication.on_rtp(vp8_packet(15, keyframe=False), 0)  # 14 never came
    assert publication.keyframe_in_ring(16, arrived) is None
    assert publication.keyframe_in_ring(14, arrived) is not None
    publication.close()  # its timer that would ask for 14 again


async def test_a_subscriber_resuming_just_after_a_keyframe_starts_from_it(room: Room) -> None:
    """cees stops showing anna, anna sends a keyframe (bram's request), and cees
    shows her again a moment later: cees's stream starts at that keyframe, from
    the ring, at the next packet of anna's, and anna is not asked for another."""
    for name in ("anna", "bram", "cees"):
        await room.join(name, LUMA[name])
    assert await eventually(lambda: sees(room, "cees", "anna") and sees(room, "bram", "anna"))
    publication = room.forwarder.peers["anna"].publications["video"]
    slot = room.forwarder.peers["cees"].slot_of("anna")
    assert slot is not None and slot.video.subscription is not None
    subscription = slot.video.subscription
    given: list[list[ForwardedPacket]] = []
    real_keyframe_in_ring = publication.keyframe_in_ring

    def recording_keyframe_in_ring(before_seq: int, now: float) -> list[ForwardedPacket] | None:
        packets = real_keyframe_in_ring(before_seq, now)
        if packets is not None:
            given.append(packets)
        return packets

    publication.keyframe_in_ring = recording_keyframe_in_ring  # type: ignore[method-assign]
    room.forwarder.set_visible_video("cees", frozenset({"bram"}))
    await asyncio.sleep(0.3)  # past the interval between two keyframe requests
    before = publication._keyframe_start
    publication.request_keyframe()
    assert await eventually(lambda: publication._keyframe_start != before, 5)
    keyframe = publication._keyframe_start
    assert keyframe is not None
    await asyncio.sleep(0.05)  # a frame or two after the keyframe
    requests = publication.keyframe_requests_sent
    room.forwarder.set_visible_video("cees", frozenset({"anna", "bram"}))
    assert await eventually(lambda: not subscription.waiting_for_keyframe, 5)
    assert given, "cees waited for a new keyframe instead"
    assert given[0][0].seq == keyframe[0] and given[0][0].keyframe
    # Nobody was asked for another keyframe for cees (not even once the interval
    # between two requests had passed).
    await asyncio.sleep(0.4)
    assert publication.keyframe_requests_sent == requests
    assert publication._keyframe_request_timer is None
    frames = room.participants["cees"].received[room.mid("cees", "anna", "video")].frames
    assert await eventually(
        lambda: (
            room.participants["cees"].received[room.mid("cees", "anna", "video")].frames
            >= frames + 10
        )
    )
    luma = room.participants["cees"].received[room.mid("cees", "anna", "video")].luma
    assert luma is not None and abs(luma - LUMA["anna"]) < 8


async def test_a_new_gap_is_asked_for_when_older_packets_are_given_up() -> None:
    """A packet still missing 1,000 packets later is given up (the publisher keeps
    no more), which asks for a keyframe; a gap the same packet shows is still
    asked for at once."""
    publication = disabled_video()
    asked: list[list[int]] = []
    keyframe_requests: list[bool] = []

    async def recording_nack(lost: list[int]) -> None:
        asked.append(lost)

    publication._send_nack = recording_nack  # type: ignore[method-assign]
    publication.request_keyframe = lambda: keyframe_requests.append(True)  # type: ignore[method-assign]
    publication.on_rtp(vp8_packet(100, keyframe=False), 0)
    publication.on_rtp(vp8_packet(102, keyframe=False), 0)  # 101 is missing
    for seq in range(103, 1202):
        publication.on_rtp(vp8_packet(seq, keyframe=False), 0)
    assert keyframe_requests == []
    publication.on_rtp(vp8_packet(1203, keyframe=False), 0)  # 101 far behind; 1202 missing
    await asyncio.sleep(0)
    assert keyframe_requests == [True]
    assert asked == [[101], [1202]]
    publication.close()
