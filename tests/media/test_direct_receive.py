"""The forwarder's RTP takes the direct path (direct_receive), never aioice's queue,
and only the forwarder's own connections do; malformed RTP is dropped there."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import types
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import pylibsrtp
import pytest
from aiortc.rtp import RtpPacket, is_rtcp

from grouproom.media import copy_step, direct_receive
from grouproom.media.hooks import DIRECT_RTP_HANDLER
from grouproom.media.incoming_budget import IncomingBudget
from grouproom.media.rtp_parse import negotiated_ids
from grouproom.pseudonym import pseudonym
from tests.media.conftest import Room
from tests.media.test_forwarding import (
    LUMA,
    eventually,
    eventually_async,
    inbound_rtp,
    sees,
    video_sender,
)


@pytest.fixture(autouse=True, params=["compiled", "python"])
def receive_step(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test with the compiled receive step and with Python's handler; the
    compiled one's absence is a failure (the test command installs a compiler)."""
    assert copy_step.receive_handler is not None, copy_step.description
    if request.param == "python":
        monkeypatch.setattr(copy_step, "receive_handler", None)
    return str(request.param)


def server_connection(room: Room, participant_id: str) -> Any:
    pc = room.forwarder.peers[participant_id].pc
    return pc.getTransceivers()[0].receiver.transport.transport._connection


def client_connection(room: Room, participant_id: str) -> Any:
    pc = room.participants[participant_id].pc
    return pc.getTransceivers()[0].receiver.transport.transport._connection


async def test_rtp_and_rtcp_are_handled_in_the_datagram_callback(
    room: Room, receive_step: str
) -> None:
    await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "anna", "bram") and sees(room, "bram", "anna"))
    connection = server_connection(room, "anna")
    handler = getattr(connection, DIRECT_RTP_HANDLER)
    assert isinstance(handler, types.BuiltinFunctionType) == (receive_step == "compiled")
    handled: list[bool] = []
    rtcp_handled: list[bytes] = []
    queued: list[bytes] = []

    def counting_handler(data: bytes) -> bool:
        result = bool(handler(data))
        handled.append(result)
        if is_rtcp(data) and result:
            rtcp_handled.append(data)
        return result

    original_data_received = connection.data_received

    def data_received(data: bytes, component: int) -> None:
        if 127 < data[0] < 192:
            queued.append(data)
        original_data_received(data, component)

    setattr(connection, DIRECT_RTP_HANDLER, counting_handler)
    connection.data_received = data_received
    # The compiled step hands the Python functions of its state only what is not
    # the usual case: once anna's sources are known, no RTP datagram of hers.
    python_steps: list[str] = []
    if receive_step == "compiled":
        state = handler.__self__
        assert isinstance(state, direct_receive.DirectReceiveState)
        handle, after, route = state.handle, state.after_unprotect, state.route_and_deliver

        def python_handle(data: bytes) -> bool:
            if not is_rtcp(data):
                python_steps.append("handle")
            return handle(data)

        def python_after(data: bytes, arrival_time_ms: int) -> bool:
            python_steps.append("after_unprotect")
            return after(data, arrival_time_ms)

        def python_route(packet: RtpPacket, arrival_time_ms: int) -> None:
            python_steps.append("route_and_deliver")
            route(packet, arrival_time_ms)

        state.handle = python_handle
        state.after_unprotect = python_after
        state.route_and_deliver = python_route
    received_before = room.forwarder.publication_stats("anna", "video")["packets_received"]
    frames_before = room.participants["bram"].received[room.mid("bram", "anna", "video")].frames
    # anna's receiver reports on bram's streams, and her sender reports on her own,
    # come about once a second per stream.
    assert await eventually(
        lambda: (
            room.participants["bram"].received[room.mid("bram", "anna", "video")].frames
            >= frames_before + 10
            and len(rtcp_handled) >= 4
        )
    )
    received = room.forwarder.publication_stats("anna", "video")["packets_received"]
    assert received > received_before
    assert handled.count(True) >= received - received_before
    assert queued == []  # neither RTP nor RTCP went through aioice's queue
    assert python_steps == []
    # What the RTCP carried arrived: anna's round trip, measured from her receiver
    # reports on the server's sender reports.
    assert await eventually(lambda: room.forwarder.peers["anna"].round_trip.measured is not None)
    # A participant's own (client) connection keeps aiortc's path.
    assert getattr(client_connection(room, "anna"), DIRECT_RTP_HANDLER, None) is None


async def test_leaving_removes_the_handler(room: Room) -> None:
    await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "bram", "anna"))
    connection = server_connection(room, "anna")
    assert getattr(connection, DIRECT_RTP_HANDLER, None) is not None
    await room.leave("anna")
    assert getattr(connection, DIRECT_RTP_HANDLER, None) is None


async def test_malformed_rtp_from_a_publisher_is_dropped_quietly(
    room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    """A publisher's packets that pass SRTP but are malformed RTP inside (an
    abs-send-time extension of two bytes, whose parse in aiortc raised
    struct.error out of the datagram callback; a mid that is not UTF-8; padding
    longer than the payload) are dropped without an error
    logged, and the publisher's video goes on reaching the others."""
    await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "bram", "anna"))
    sender = video_sender(room.participants["anna"])
    transport = sender.transport
    ids = negotiated_ids(transport._rtp_header_extensions_map)
    abs_send_time_id, mid_id = ids.abs_send_time, ids.mid
    assert abs_send_time_id and mid_id
    original = transport._send_rtp
    malformed: list[bytes] = []

    def spoiled(data: bytes, kind: int) -> bytes:
        """A malformed copy of `data`, under another SSRC: SRTP takes it as a
        stream of its own (so the real packet still passes, not a replay)."""
        fixed = bytearray(data[:12])
        fixed[8:12] = (sender._ssrc ^ 1).to_bytes(4, "big")
        payload = RtpPacket.parse(data, transport._rtp_header_extensions_map).payload
        if kind == 0:  # abs-send-time of two bytes
            fixed[0] = 0x90
            block = struct.pack("!HH", 0xBEDE, 1) + bytes([abs_send_time_id << 4 | 1, 1, 2, 0])
            return bytes(fixed) + block + payload
        if kind == 1:  # a mid that is not UTF-8
            fixed[0] = 0x90
            block = struct.pack("!HH", 0xBEDE, 1) + bytes([mid_id << 4 | 1, 0xFF, 0xFE, 0])
            return bytes(fixed) + block + payload
        fixed[0] = 0xA0  # padding: the last byte claims more than the payload
        return bytes(fixed) + payload[:-1] + b"\xff"

    async def spoiling_send(data: bytes) -> None:
        if (
            len(malformed) < 9
            and not is_rtcp(data)
            and int.from_bytes(data[8:12], "big") == sender._ssrc
            and int.from_bytes(data[2:4], "big") % 5 == 0
        ):
            malformed.append(spoiled(data, len(malformed) % 3))
            await original(malformed[-1])
        await original(data)

    publication = room.forwarder.peers["anna"].publications["video"]
    transport._send_rtp = spoiling_send  # type: ignore[method-assign]
    caplog.set_level(logging.WARNING)
    assert await eventually(lambda: len(malformed) == 9)
    video = room.participants["bram"].received[room.mid("bram", "anna", "video")]
    frames = video.frames
    received = publication.packets_received
    assert await eventually(lambda: video.frames >= frames + 25, 20)
    assert publication.packets_received > received
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []


async def test_packets_under_too_many_ssrcs_are_dropped_and_forgotten(
    room: Room, caplog: pytest.LogCaptureFixture
) -> None:
    """anna's connection sends video packets under 300 new SSRCs. Up to the bound
    the server takes them (a browser may use several); beyond it libsrtp's stream
    for each is removed again and aiortc's router does not learn it, so neither
    grows with the flood; one warning says so, and anna's own video goes on."""
    await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "bram", "anna"))
    sender = video_sender(room.participants["anna"])
    transport = sender.transport
    server_dtls = room.forwarder.peers["anna"].pc.getTransceivers()[0].receiver.transport
    limit = direct_receive.source_limit(server_dtls)
    flood = [0x5EED0000 + number for number in range(300)]
    caplog.set_level(logging.WARNING)
    for number, ssrc in enumerate(flood):
        header = struct.pack("!BBHII", 0x80, 96, number, number * 3000, ssrc)
        await transport._send_rtp(header + bytes(100))
    video = room.participants["bram"].received[room.mid("bram", "anna", "video")]
    frames = video.frames
    assert await eventually(lambda: video.frames >= frames + 10)
    learnt = [ssrc for ssrc in flood if ssrc in server_dtls._rtp_router.ssrc_table]
    assert 0 < len(learnt) < limit  # anna's real SSRCs took some of the room
    refused = [ssrc for ssrc in flood if ssrc not in learnt]
    assert len(refused) > 300 - limit
    # libsrtp has no stream left for a refused SSRC (removing it again fails) ...
    for ssrc in refused[-3:]:
        with pytest.raises(pylibsrtp.Error):
            server_dtls._rx_srtp.remove_stream(ssrc)
    # ... and still has one for an accepted SSRC.
    server_dtls._rx_srtp.remove_stream(learnt[0])
    warnings = [r for r in caplog.records if "more than" in r.getMessage()]
    assert len(warnings) == 1


async def at_least(count: Callable[[], Awaitable[int]], wanted: int) -> bool:
    return await count() >= wanted


async def settled_drops(budget: IncomingBudget, quiet: float = 0.5, limit: float = 15) -> int:
    """The budget's drop count once it has not changed for `quiet` seconds."""
    deadline = time.monotonic() + limit
    last = budget.dropped
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet)
        if budget.dropped == last:
            return last
        last = budget.dropped
    raise AssertionError(f"still dropping after {limit} s ({last} dropped)")


class RecordingBudget(IncomingBudget):
    """An IncomingBudget that notes each datagram it allows (`taken`). Being of
    another class, it is not one the compiled receive step takes from in place:
    every datagram goes through `allows`."""

    __slots__ = ()
    taken: ClassVar[list[tuple[float, int]]] = []

    def allows(self, size: int, now: float) -> bool:
        allowed = super().allows(size, now)
        if allowed:
            self.taken.append((now, size))
        return allowed


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "in-place"])
async def test_a_connection_sending_beyond_its_budget_is_cut_back_to_it(
    room: Room, caplog: pytest.LogCaptureFixture, recorded: bool
) -> None:
    """anna's connection sends 2.2 MB of extra SRTP in well under a second, ten
    times what a member sends. What the server takes of it stays within her
    budget (one second's worth plus its rate), the rest is dropped and counted,
    one warning says so, and once the flood is over her video goes on reaching
    bram. Members who send as members do lose nothing to the budget. Recorded,
    every datagram is checked in Python's `allows` and what it takes is
    counted; in place, the compiled receive step takes what fits."""
    await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "bram", "anna") and sees(room, "anna", "bram"))
    assert room.forwarder.counters()["incoming_over_budget"] == 0
    budget = room.forwarder.peers["anna"].incoming
    taken: list[tuple[float, int]] = []
    if recorded:
        budget.__class__ = RecordingBudget
        RecordingBudget.taken = taken
    sender = video_sender(room.participants["anna"])
    transport = sender.transport
    caplog.set_level(logging.WARNING)
    started = time.monotonic()
    for number in range(2_000):
        # Under an SSRC of its own and a payload type nobody negotiated: the
        # server authenticates it (and charges it) but routes it nowhere.
        header = struct.pack("!BBHII", 0x80, 120, number, number * 3000, sender._ssrc ^ 1)
        await transport._send_rtp(header + bytes(1_088))
        if number % 10 == 9:
            await asyncio.sleep(0)  # the server reads its socket
    await asyncio.sleep(0.05)
    ended = time.monotonic()
    during = sum(size for at, size in taken if started <= at <= ended)
    assert budget.dropped > 500
    assert during <= budget.bytes_per_second * (1 + (ended - started)) + 2_000
    assert bool(taken) == recorded
    assert room.forwarder.counters()["incoming_over_budget"] == budget.dropped
    warnings = [r.getMessage() for r in caplog.records if "allowance" in r.getMessage()]
    assert len(warnings) == 1
    assert f"participant {pseudonym('anna')}'s connection" in warnings[0]  # not her id
    # On a loaded machine the server may still be reading the flood from its socket
    # (one CI run dropped 460 more after the snapshot): wait until it has.
    dropped = await settled_drops(budget)

    # Her video reaches bram again. Counted in packets, not decoded frames: a packet
    # of hers that the budget dropped and that her retransmissions (all within the
    # flood) did not bring back stalls aiortc's receiver until 512 packets fill its
    # jitter buffer, about 20 s (a browser goes on from the keyframe the server asks
    # for); under load that failed now and then.
    async def packets_from_anna() -> int:
        return int((await inbound_rtp(room, "bram", "anna", "video")).packetsReceived)

    before = await packets_from_anna()
    assert await eventually_async(lambda: at_least(packets_from_anna, before + 25), 10)
    assert budget.dropped == dropped  # her own media fits again
    assert room.forwarder.peers["bram"].incoming.dropped == 0
