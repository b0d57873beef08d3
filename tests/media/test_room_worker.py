"""A room's media in a worker process: real aiortc participants, a real child
process, the same behaviour as a Forwarder in the server's own process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import pytest

from grouproom.media.contract import CandidateError, MediaSettings, OfferError
from grouproom.media.room_worker import RoomWorker, WorkerGone, WorkerPool
from grouproom.pseudonym import KEY_VARIABLE
from tests.media.conftest import SLOTS, RecordedEvents
from tests.media.peers import TestParticipant
from tests.media.test_forwarding import LUMA, eventually
from tests.media.test_udp_mux import candidate_ports, free_udp_port


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
        # It was given the server's key for log pseudonyms (tests/unit/test_pseudonym.py).
        environ = await asyncio.to_thread(Path(f"/proc/{room.pid}/environ").read_bytes)
        assert f"{KEY_VARIABLE}=".encode() in environ
        assert await eventually(
            lambda: sees(events, anna, "bram") and sees(events, bram, "anna"), 20
        )
    finally:
        for participant in participants:
            await participant.close()
        await room.close()


async def test_rooms_share_the_pools_processes() -> None:
    # A process per core, not per room: with one core's worth of pool, two rooms
    # run in one process, each with its own members and events.
    pool = WorkerPool(size=1)
    settings = MediaSettings(ice_addresses=("127.0.0.1",), receive_slots=SLOTS)
    first_events, second_events = RecordedEvents(), RecordedEvents()
    first = RoomWorker(settings, first_events, pool)
    second = RoomWorker(settings, second_events, pool)
    participants: list[TestParticipant] = []
    try:
        anna = await join(first, participants, "anna")
        bram = await join(first, participants, "bram")
        cees = await join(second, participants, "cees")
        assert first.pid is not None and first.pid == second.pid
        assert await eventually(lambda: sees(first_events, anna, "bram"), 20)
        assert await eventually(lambda: sees(first_events, bram, "anna"), 20)
        assert not any("cees" in key for key in first_events.published)
        assert not second_events.published  # cees is alone in his room
        assert all(received.frames == 0 for received in cees.received.values())

        pid = first.pid
        await first.close()  # the process stays for the other room
        assert second.running and second.pid == pid
        assert (await second.stats("cees", "video"))["subscriptions"] == 0
        await second.close()  # its last room: the process ends
        assert pool.processes == [] and second.worker is not None
        assert second.worker.process is not None
        assert second.worker.process.returncode is not None
    finally:
        for participant in participants:
            await participant.close()
        await first.close()
        await second.close()


async def test_a_pool_starts_up_to_its_size_and_reports_a_death_to_every_room() -> None:
    pool = WorkerPool(size=2)
    settings = MediaSettings(ice_addresses=("127.0.0.1",), receive_slots=SLOTS)
    events = [RecordedEvents() for _ in range(3)]
    rooms = [RoomWorker(settings, recorded, pool) for recorded in events]
    participants: list[TestParticipant] = []
    try:
        for room in rooms:
            await room.start()
        pids = [room.pid for room in rooms]
        assert len(set(pids)) == 2  # the third room shares a process
        shared = next(pid for pid in pids if pids.count(pid) == 2)
        assert shared is not None
        on_shared = [index for index, pid in enumerate(pids) if pid == shared]
        for index, name in zip(on_shared, ("anna", "bram"), strict=True):
            await join(rooms[index], participants, name)
        os.kill(shared, signal.SIGKILL)
        assert await eventually(lambda: [events[i].lost for i in on_shared] == [["anna"], ["bram"]])
        alone = next(index for index in range(3) if index not in on_shared)
        assert rooms[alone].running and events[alone].lost == []
        with pytest.raises(WorkerGone):
            await rooms[on_shared[0]].connect("cees", "v=0")
    finally:
        for participant in participants:
            await participant.close()
        for room in rooms:
            await room.close()


def free_port_run(length: int) -> int:
    """A port P with P .. P + length - 1 all free for UDP on loopback (now)."""
    for _ in range(50):
        base = free_udp_port()
        if base + length >= 65536:
            continue
        taken = []
        try:
            for offset in range(length):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                taken.append(s)
                s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for s in taken:
                s.close()
    raise RuntimeError("no run of free UDP ports")


async def test_each_worker_process_has_its_own_media_port() -> None:
    # The server's media port is P; its worker processes take P + 1, P + 2, ...
    # (a firewall opens P to P + cores), and a process that ended frees its port
    # for the next one.
    base = free_port_run(3)
    pool = WorkerPool(size=2)
    settings = MediaSettings(ice_addresses=("127.0.0.1",), receive_slots=SLOTS, media_port=base)
    first = RoomWorker(settings, RecordedEvents(), pool)
    second = RoomWorker(settings, RecordedEvents(), pool)
    participants: list[TestParticipant] = []

    async def port_seen_by(room: RoomWorker, name: str) -> int:
        participant = TestParticipant(name, LUMA[name], SLOTS)
        participants.append(participant)
        answer = await room.connect(name, await participant.make_offer())
        await participant.accept_answer(answer)
        (port,) = candidate_ports(answer)
        return port

    try:
        assert await port_seen_by(first, "anna") == base + 1
        assert await port_seen_by(second, "bram") == base + 2
        await first.close()
        third = RoomWorker(settings, RecordedEvents(), pool)
        try:
            assert await port_seen_by(third, "cees") == base + 1
        finally:
            await third.close()
    finally:
        for participant in participants:
            await participant.close()
        await first.close()
        await second.close()


async def test_a_worker_whose_port_is_taken_does_not_start() -> None:
    base = free_port_run(2)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", base + 1))
        settings = MediaSettings(ice_addresses=("127.0.0.1",), receive_slots=SLOTS, media_port=base)
        room = RoomWorker(settings, RecordedEvents(), WorkerPool(size=1))
        try:
            with pytest.raises(WorkerGone):
                await room.start()
        finally:
            await room.close()
