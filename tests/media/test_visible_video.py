"""Video a subscriber does not show is not forwarded (set_visible_video), with real
aiortc participants: in the server's process and in a room worker."""

from __future__ import annotations

import asyncio

from grouproom.media.contract import Kind
from grouproom.media.room_worker import RoomWorker
from tests.media.conftest import RecordedEvents, Room
from tests.media.peers import TestParticipant
from tests.media.test_forwarding import LUMA, eventually, sees
from tests.media.test_room_worker import join as join_worker
from tests.media.test_room_worker import sees as sees_in_worker


def frames(room: Room, subscriber: str, publisher: str, kind: Kind) -> int:
    mid = room.events.published.get((subscriber, publisher, kind))
    received = room.participants[subscriber].received.get(mid) if mid else None
    return received.frames if received else 0


def video_packets_sent(room: Room, subscriber: str, publisher: str) -> int:
    slot = room.forwarder.peers[subscriber].slot_of(publisher)
    assert slot is not None
    return slot.video.packets_sent


async def test_someone_who_joins_later_is_forwarded_once_listed(room: Room) -> None:
    await room.join("anna", LUMA["anna"])
    # Anna shows nobody (her page is hidden) before Bram arrives.
    room.forwarder.set_visible_video("anna", frozenset())
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "bram", "anna"))
    # Bram's audio reaches Anna; his video does not.
    assert await eventually(lambda: frames(room, "anna", "bram", "audio") > 25)
    assert video_packets_sent(room, "anna", "bram") == 0
    assert frames(room, "anna", "bram", "video") == 0

    requests = room.forwarder.publication_stats("bram", "video")["keyframe_requests_sent"]
    room.forwarder.set_visible_video("anna", frozenset({"bram", "nobody-here"}))
    assert await eventually(lambda: sees(room, "anna", "bram"))
    luma = room.participants["anna"].received[room.mid("anna", "bram", "video")].luma
    assert luma is not None and abs(luma - LUMA["bram"]) < 8
    assert room.forwarder.publication_stats("bram", "video")["keyframe_requests_sent"] > requests


async def test_only_the_unlisted_video_stops(room: Room) -> None:
    for name in ("anna", "bram", "cees"):
        await room.join(name, LUMA[name])
    pairs = [("anna", "bram"), ("anna", "cees"), ("bram", "anna")]
    assert await eventually(lambda: all(sees(room, s, p) for s, p in pairs), within=15)
    room.forwarder.set_visible_video("anna", frozenset({"cees"}))
    await asyncio.sleep(0.3)
    bram_to_anna = video_packets_sent(room, "anna", "bram")
    cees_to_anna = video_packets_sent(room, "anna", "cees")
    anna_to_bram = video_packets_sent(room, "bram", "anna")
    await asyncio.sleep(1.0)
    assert video_packets_sent(room, "anna", "bram") == bram_to_anna
    assert video_packets_sent(room, "anna", "cees") > cees_to_anna
    # What Anna shows is her own matter: Bram still gets her video.
    assert video_packets_sent(room, "bram", "anna") > anna_to_bram


async def test_a_muted_publisher_shown_again_stays_paused_until_unmuted(room: Room) -> None:
    await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "anna", "bram"))
    room.forwarder.set_visible_video("anna", frozenset())
    room.forwarder.set_forwarding("bram", "video", False)  # a therapist stopped his video
    room.forwarder.set_visible_video("anna", frozenset({"bram"}))
    await asyncio.sleep(0.3)
    stopped_at = video_packets_sent(room, "anna", "bram")
    await asyncio.sleep(1.0)
    assert video_packets_sent(room, "anna", "bram") == stopped_at
    room.forwarder.set_forwarding("bram", "video", True)
    assert await eventually(lambda: video_packets_sent(room, "anna", "bram") > stopped_at + 20)


async def test_the_list_is_forgotten_when_the_subscriber_leaves(room: Room) -> None:
    await room.join("anna", LUMA["anna"])
    room.forwarder.set_visible_video("anna", frozenset())
    room.forwarder.set_visible_video("olga", frozenset())  # sent before her offer
    assert set(room.forwarder.visible_video) == {"anna", "olga"}
    await room.leave("anna")
    await room.forwarder.disconnect("olga")
    assert room.forwarder.visible_video == {}


async def test_a_room_worker_forwards_only_the_listed_video(
    worker: tuple[RoomWorker, RecordedEvents, list[TestParticipant]],
) -> None:
    media, events, participants = worker
    # Sent before the worker process exists: it gets the list when it starts.
    media.set_visible_video("anna", frozenset())
    anna = await join_worker(media, participants, "anna")
    bram = await join_worker(media, participants, "bram")
    assert await eventually(lambda: sees_in_worker(events, bram, "anna"), 20)

    def received(kind: Kind) -> int:
        mid = events.published.get(("anna", "bram", kind))
        found = anna.received.get(mid) if mid else None
        return found.frames if found else 0

    assert await eventually(lambda: received("audio") > 25)
    assert received("video") == 0
    media.set_visible_video("anna", frozenset({"bram"}))
    assert await eventually(lambda: sees_in_worker(events, anna, "bram"), 20)
