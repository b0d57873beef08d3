from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from grouproom.media.contract import Kind, MediaSettings
from grouproom.media.forwarder import Forwarder
from grouproom.media.room_worker import RoomWorker, open_media_room
from tests.media.peers import TestParticipant

SLOTS = 3


@dataclass
class RecordedEvents:
    """ForwarderEvents that remember what they were told."""

    published: dict[tuple[str, str, Kind], str] = field(default_factory=dict)
    removed: list[tuple[str, str, Kind, str]] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    quality: list[tuple[str, str, str]] = field(default_factory=list)  # who, level, way

    def track_published(self, subscriber_id: str, publisher_id: str, kind: Kind, mid: str) -> None:
        self.published[(subscriber_id, publisher_id, kind)] = mid

    def track_removed(self, subscriber_id: str, publisher_id: str, kind: Kind, mid: str) -> None:
        self.published.pop((subscriber_id, publisher_id, kind), None)
        self.removed.append((subscriber_id, publisher_id, kind, mid))

    def connection_lost(self, participant_id: str) -> None:
        self.lost.append(participant_id)

    def connection_quality(self, participant_id: str, quality: str, direction: str) -> None:
        self.quality.append((participant_id, quality, direction))


class Room:
    """A forwarder and the real aiortc participants connected to it."""

    def __init__(self, forwarder: Forwarder, events: RecordedEvents) -> None:
        self.forwarder = forwarder
        self.events = events
        self.participants: dict[str, TestParticipant] = {}

    async def join(
        self,
        name: str,
        luma: int,
        slots: int = SLOTS,
        video_codec: str = "video/VP8",
        publishes: bool = True,
    ) -> TestParticipant:
        participant = TestParticipant(name, luma, slots, video_codec)
        answer = await self.forwarder.connect(name, await participant.make_offer(), publishes)
        await participant.accept_answer(answer)
        self.participants[name] = participant
        return participant

    async def leave(self, name: str) -> None:
        participant = self.participants.pop(name)
        await self.forwarder.disconnect(name)
        await participant.close()

    def mid(self, subscriber: str, publisher: str, kind: Kind) -> str:
        return self.events.published[(subscriber, publisher, kind)]


@pytest.fixture
async def room() -> AsyncIterator[Room]:
    events = RecordedEvents()
    forwarder = Forwarder(MediaSettings(ice_addresses=("127.0.0.1",), receive_slots=SLOTS), events)
    room = Room(forwarder, events)
    yield room
    for participant in list(room.participants.values()):
        await participant.close()
    await forwarder.close()


@pytest.fixture
async def worker() -> AsyncIterator[tuple[RoomWorker, RecordedEvents, list[TestParticipant]]]:
    """A room's media in a worker process, and the participants a test connects."""
    events = RecordedEvents()
    room = open_media_room(
        MediaSettings(ice_addresses=("127.0.0.1",), receive_slots=SLOTS), events, own_process=True
    )
    assert isinstance(room, RoomWorker)
    participants: list[TestParticipant] = []
    yield room, events, participants
    for participant in participants:
        await participant.close()
    await room.close()
