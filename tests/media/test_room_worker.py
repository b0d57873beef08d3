"""A room's media in a worker process: real aiortc participants, a real child
process, the same behaviour as a Forwarder in the server's own process."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from grouproom.media.contract import CandidateError, MediaSettings, OfferError
from grouproom.media.room_worker import RoomWorker, WorkerGone
from tests.media.conftest import SLOTS, RecordedEvents
from tests.media.peers import TestParticipant
from tests.media.test_forwarding import LUMA, eventually


async def join(room: RoomWorker, participants: list[TestParticipant], name: str) -> TestParticipant:
    participant = TestParticipant(name, LUMA[name], SLOTS)
    participants.append(participant)
    answer = await room.connect(name, await participant.make_offer())
    await participant.accept_answer(answer)
    return participant


def sees(events: RecordedEvents, subscriber: TestParticipant, publisher: str) -> bool:
    mid = events.published.get((subscriber.name, publisher, "video"))
    received = subscriber.received.get(mid) if mid else None
    return bool(
        received
        and received.frames >= 10
        and received.luma is not None
        and abs(received.luma - LUMA[publisher]) < 8
    )


async def test_members_see_each_other_through_a_worker_process(
    worker: tuple[RoomWorker, RecordedEvents, list[TestParticipant]],
) -> None:
    room, events, participants = worker
    anna = await join(room, participants, "anna")
    bram = await join(room, participants, "bram")
    assert room.pid is not None and room.pid != os.getpid()
    assert await eventually(lambda: sees(events, anna, "bram") and sees(events, bram, "anna"), 20)

    room.set_forwarding("anna", "audio", False)  # a muted member: no audio leaves the worker
    stats = await room.stats("anna", "audio")
    assert stats["subscriptions"] == 1 and stats["packets_received"] > 0

    await room.disconnect("bram")
    assert await eventually(lambda: ("anna", "bram", "video") not in events.published)
    assert ("anna", "bram", "video", events.removed[-1][3]) in events.removed


async def test_bad_offers_and_candidates_keep_their_errors(
    worker: tuple[RoomWorker, RecordedEvents, list[TestParticipant]],
) -> None:
    room, _, _ = worker
    with pytest.raises(OfferError, match=r"cannot be parsed|needs an audio"):
        await room.connect("anna", "this is not SDP")
    with pytest.raises(CandidateError, match="before the offer"):
        await room.add_ice_candidate("anna", "candidate:1 1 udp 1 127.0.0.1 9 typ host", "0", 0)


async def test_a_worker_that_dies_reports_its_members_lost(
    worker: tuple[RoomWorker, RecordedEvents, list[TestParticipant]],
) -> None:
    room, events, participants = worker
    await join(room, participants, "anna")
    await join(room, participants, "bram")
    assert room.pid is not None
    os.kill(room.pid, signal.SIGKILL)
    assert await eventually(lambda: sorted(events.lost) == ["anna", "bram"])
    with pytest.raises(WorkerGone):
        await room.connect("cees", "v=0")


async def test_a_worker_runs_on_the_servers_event_loop() -> None:
    # GROUPROOM_EVENT_LOOP=uvloop holds for the rooms' worker processes too.
    events = RecordedEvents()
    settings = MediaSettings(ice_addresses=("127.0.0.1",), receive_slots=SLOTS, event_loop="uvloop")
    room = RoomWorker(settings, events)
    participants: list[TestParticipant] = []
    try:
        anna = await join(room, participants, "anna")
        bram = await join(room, participants, "bram")
        assert room.pid is not None
        maps = await asyncio.to_thread(Path(f"/proc/{room.pid}/maps").read_text)
        assert "uvloop" in maps  # the child loaded uvloop's extension
        assert await eventually(
            lambda: sees(events, anna, "bram") and sees(events, bram, "anna"), 20
        )
    finally:
        for participant in participants:
            await participant.close()
        await room.close()
