"""One UDP port for every participant's media (udp_mux.py), with real aiortc
participants over loopback and hand-made datagrams from strangers."""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import types
from typing import Any

import aioice.ice
import pytest
import uvloop
from aioice import stun
from aiortc.sdp import SessionDescription

from grouproom.media import udp_mux
from grouproom.media.consent import keep_consent
from grouproom.media.contract import MediaSettings
from grouproom.media.forwarder import Forwarder
from grouproom.media.udp_mux import MediaPortError, MuxedProtocol, is_stun, stun_username
from tests.media.conftest import SLOTS, RecordedEvents, Room
from tests.media.peers import TestParticipant
from tests.media.test_forwarding import LUMA, eventually, sees


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def candidate_ports(answer_sdp: str) -> set[int]:
    description = SessionDescription.parse(answer_sdp)
    return {c.port for media in description.media for c in media.ice_candidates}


def answer_of(participant: TestParticipant) -> str:
    description = participant.pc.remoteDescription
    assert description is not None
    return str(description.sdp)


def server_protocols(forwarder: Forwarder, name: str) -> list[object]:
    peer = forwarder.peers[name]
    transport = peer.pc.getTransceivers()[0].receiver.transport.transport
    return list(transport.iceGatherer._connection._protocols)


async def test_every_participant_meets_the_server_on_one_fixed_port() -> None:
    port = free_udp_port()
    events = RecordedEvents()
    forwarder = Forwarder(
        MediaSettings(ice_addresses=("127.0.0.1",), receive_slots=SLOTS, media_port=port), events
    )
    room = Room(forwarder, events)
    try:
        for name, luma in LUMA.items():
            await room.join(name, luma)
        pairs = [(s, p) for s in LUMA for p in LUMA if s != p]
        assert await eventually(lambda: all(sees(room, s, p) for s, p in pairs), within=15)
        answers = [answer_of(participant) for participant in room.participants.values()]
        assert [candidate_ports(answer) for answer in answers] == [{port}] * 3
        for name in LUMA:
            protocols = server_protocols(forwarder, name)
            assert protocols and all(type(p) is MuxedProtocol for p in protocols)
        # One socket for all three, on the configured port.
        assert forwarder.mux is not None and forwarder.mux.ports == [port]
    finally:
        for participant in list(room.participants.values()):
            await participant.close()
        await forwarder.close()
    # The last user closed the mux: the port is free again.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as again:
        again.bind(("127.0.0.1", port))


async def test_two_rooms_of_one_process_share_the_port() -> None:
    settings = MediaSettings(ice_addresses=("127.0.0.1",), receive_slots=SLOTS, media_port=0)
    rooms = []
    for _ in range(2):
        events = RecordedEvents()
        rooms.append(Room(Forwarder(settings, events), events))
    try:
        for room, (first, second) in zip(rooms, (("anna", "bram"), ("cees", "dirk")), strict=True):
            await room.join(first, 60)
            await room.join(second, 180)
        for room, (first, second) in zip(rooms, (("anna", "bram"), ("cees", "dirk")), strict=True):

            def both_see(room: Room = room, first: str = first, second: str = second) -> bool:
                return sees(room, first, second) and sees(room, second, first)

            assert await eventually(both_see, within=15)
        assert rooms[0].forwarder.mux is rooms[1].forwarder.mux
        # Closing one room leaves the other's media running on the shared socket.
        mux = rooms[0].forwarder.mux
        assert mux is not None
        await rooms[0].leave("anna")
        await rooms[0].leave("bram")
        await rooms[0].forwarder.close()
        before = rooms[1].participants["cees"].received[rooms[1].mid("cees", "dirk", "video")]
        frames = before.frames
        assert await eventually(lambda: before.frames > frames + 10)
        assert all(not shared.transport.is_closing() for shared in mux.shared.values())  # type: ignore[union-attr]
    finally:
        for room in rooms:
            for participant in list(room.participants.values()):
                await participant.close()
            await room.forwarder.close()


async def three_members_on_the_mux(room: Room) -> tuple[udp_mux.UdpMux, udp_mux.SharedSocket]:
    """Everyone of LUMA joined and seen; the room's mux and its one shared socket."""
    for name, luma in LUMA.items():
        await room.join(name, luma)
    assert await eventually(lambda: sees(room, "anna", "bram") and sees(room, "cees", "anna"))
    mux = room.forwarder.mux
    assert mux is not None
    (shared,) = mux.shared.values()
    return mux, shared


async def test_srtp_from_a_learnt_address_takes_the_compiled_step_on_uvloop(room: Room) -> None:
    """On uvloop (which reads the socket itself) the shared socket's
    datagram_received is the compiled step; SRTP from a member's address that
    fails authentication, is too long for SRTP or is RTCP junk goes nowhere
    and ends nothing, and the members' media goes on through it."""
    mux, shared = await three_members_on_the_mux(room)
    compiled = isinstance(shared.datagram_received, types.BuiltinFunctionType)
    assert compiled == (not shared.reads_one_at_a_time)
    assert compiled == isinstance(asyncio.get_running_loop(), uvloop.Loop)
    learnt = next(
        address
        for address, protocol in shared.by_address.items()
        if protocol in server_protocols(room.forwarder, "bram")
    )
    dropped = mux.dropped
    for junk in (
        b"\x80\x60" + os.urandom(200),  # fails SRTP
        b"\x80\x60" + os.urandom(1600),  # longer than SRTP's buffer: would end DTLS
        b"\x80\xc8" + os.urandom(60),  # RTCP-looking, fails SRTCP
        b"\x80",  # one byte
    ):
        shared.datagram_received(junk, learnt)
        shared.datagram_received(junk, (*learnt, 0, 0))  # an IPv6-style address tuple
    assert mux.dropped == dropped  # a learnt address: not counted as a stranger's
    videos = [
        room.participants[name].received[room.mid(name, "bram", "video")]
        for name in ("anna", "cees")
    ]
    frames = [video.frames for video in videos]
    assert await eventually(
        lambda: all(
            video.frames > before + 10 for video, before in zip(videos, frames, strict=True)
        )
    )


async def test_strangers_datagrams_are_dropped_and_the_room_goes_on(room: Room) -> None:
    mux, shared = await three_members_on_the_mux(room)
    target = shared.address
    ufrag = next(iter(shared.by_ufrag))
    known_addresses = set(shared.by_address)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.bind(("127.0.0.1", 0))
        # SRTP-looking, DTLS-looking, empty, random: nobody proved this address.
        for junk in (b"\x80\x60" + os.urandom(200), b"\x16\xfe\xfd" + os.urandom(60), b"", b"x"):
            stranger.sendto(junk, target)
        # A binding request for a live connection, without the right password:
        # aioice refuses it (401), and the address is not learnt.
        forged = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        forged.attributes["USERNAME"] = f"{ufrag}:abcd"
        forged.attributes["PRIORITY"] = 1
        forged.add_message_integrity(b"not the password")
        stranger.sendto(bytes(forged), target)
        stranger.setblocking(False)
        loop = asyncio.get_running_loop()
        reply = stun.parse_message(await asyncio.wait_for(loop.sock_recv(stranger, 1500), 5))
        assert reply.message_class == stun.Class.ERROR
        assert reply.attributes["ERROR-CODE"][0] == 401
        # A request for a ufrag nobody has: no answer at all.
        unknown = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        unknown.attributes["USERNAME"] = "zzzz:abcd"
        unknown.add_message_integrity(b"x")
        stranger.sendto(bytes(unknown), target)
        stranger_address = stranger.getsockname()
        stranger.sendto(b"\x80\x60" + os.urandom(200), target)
        assert await eventually(lambda: mux.dropped >= 6)
    assert stranger_address not in shared.by_address
    assert set(shared.by_address) == known_addresses
    video = room.participants["anna"].received[room.mid("anna", "bram", "video")]
    frames = video.frames
    assert await eventually(lambda: video.frames > frames + 10)


async def test_a_wake_up_reads_what_waits_in_the_socket() -> None:
    """A busy server must not fall behind its socket, or the consent checks waiting
    behind a flood are answered too late: one wake-up reads up to READ_BATCH waiting
    datagrams, not one. uvloop does so itself; on asyncio's own loop, whose transport
    reads one datagram per turn, the mux reads the rest."""
    mux = udp_mux.acquire(("127.0.0.1",), 0)
    try:
        await mux.start()
        shared = mux.shared["127.0.0.1"]
        on_uvloop = isinstance(asyncio.get_running_loop(), uvloop.Loop)
        assert shared.reads_one_at_a_time is not on_uvloop
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
            stranger.bind(("127.0.0.1", 0))
            waiting = udp_mux.READ_BATCH + 8
            for _ in range(waiting):  # all queued before the loop gets to the socket
                stranger.sendto(b"\x80\x60" + os.urandom(100), shared.address)
            # The first turn resumes this task before the socket's callback runs.
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            # At least one wake-up's worth: not just one datagram, as asyncio's
            # transport reads (uvloop may have polled twice meanwhile).
            assert shared.dropped >= udp_mux.READ_BATCH > 1
            assert await eventually(lambda: shared.dropped == waiting)
    finally:
        await udp_mux.release(mux)


async def test_the_server_stays_the_controlled_agent(room: Room) -> None:
    """A binding request with the right password (someone who read the SDP) that
    claims the controlled role with tie-breaker 0 made aioice switch the server to
    controlling while the client controls too. It is refused with 487; the server
    stays controlled and the room goes on."""
    _mux, shared = await three_members_on_the_mux(room)
    peer = room.forwarder.peers["anna"]
    transport = peer.pc.getTransceivers()[0].receiver.transport.transport
    connection = transport.iceGatherer._connection
    assert connection.ice_controlling is False
    # Its consent freshness is consent.py's, which a slow line keeps.
    assert isinstance(connection.query_consent, functools.partial)
    assert connection.query_consent.func is keep_consent
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    request.attributes["USERNAME"] = f"{connection.local_username}:{connection.remote_username}"
    request.attributes["PRIORITY"] = 1
    request.attributes["ICE-CONTROLLED"] = 0
    request.add_message_integrity(connection.local_password.encode("utf8"))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.setblocking(False)
        stranger.sendto(bytes(request), shared.address)
        loop = asyncio.get_running_loop()
        reply = stun.parse_message(await asyncio.wait_for(loop.sock_recv(stranger, 1500), 5))
    assert reply.message_class == stun.Class.ERROR
    assert reply.attributes["ERROR-CODE"][0] == 487
    assert connection.ice_controlling is False
    video = room.participants["bram"].received[room.mid("bram", "anna", "video")]
    frames = video.frames
    assert await eventually(lambda: video.frames > frames + 10)


async def test_a_leaver_gives_up_its_addresses_and_ufrag(room: Room) -> None:
    _mux, shared = await three_members_on_the_mux(room)
    bram_protocols = set(server_protocols(room.forwarder, "bram"))
    assert any(p in bram_protocols for p in shared.by_address.values())
    await room.leave("bram")
    assert not any(p in bram_protocols for p in shared.by_address.values())
    assert not any(p in bram_protocols for p in shared.by_ufrag.values())
    assert len(shared.protocols) == 2
    video = room.participants["cees"].received[room.mid("cees", "anna", "video")]
    frames = video.frames
    assert await eventually(lambda: video.frames > frames + 10)


async def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(MediaPortError, match=f"UDP port {port} .*GROUPROOM_MEDIA_PORT"):
            udp_mux.acquire(("127.0.0.1",), port)
        # Nothing half-open is left behind: the next try opens a fresh mux.
        mux = udp_mux.acquire(("127.0.0.1",), 0)
        assert mux.users == 1 and mux.ports != [port]
        await udp_mux.release(mux)


async def test_a_ufrag_already_on_the_mux_is_replaced_before_the_answer(
    room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    await room.join("anna", 40)
    mux = room.forwarder.mux
    assert mux is not None
    taken = next(iter(next(iter(mux.shared.values())).by_ufrag))
    # The next connection happens to draw the same four random characters.
    original_init = aioice.ice.Connection.__init__

    def same_ufrag(self: aioice.ice.Connection, *args: Any, **kwargs: Any) -> None:
        kwargs["local_username"] = taken
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(aioice.ice.Connection, "__init__", same_ufrag)
    participant = await room.join("bram", 120)
    monkeypatch.undo()
    media = SessionDescription.parse(answer_of(participant)).media
    ufrags = {m.ice.usernameFragment for m in media if m.ice is not None}
    assert ufrags and taken not in ufrags
    assert await eventually(lambda: sees(room, "anna", "bram") and sees(room, "bram", "anna"))


def test_stun_username_and_recognition() -> None:
    message = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    message.attributes["PRIORITY"] = 5
    message.attributes["USERNAME"] = "ab12:cd34"
    data = bytes(message)
    assert is_stun(data)
    assert stun_username(data) == "ab12:cd34"
    # Cut inside the USERNAME attribute: no username, no exception.
    short = data[:-4]
    short = short[:2] + (len(short) - 20).to_bytes(2, "big") + short[4:]
    assert stun_username(short) is None
    assert not is_stun(b"\x00\x01" + bytes(18))  # no magic cookie
    assert not is_stun(b"\x80" + bytes(30))  # RTP
    assert not is_stun(b"")


async def test_connections_outside_the_forwarder_keep_their_own_sockets() -> None:
    # aiortc peers that are not the forwarder's (the tests' participants, the
    # bench's bots) gather as aioice does: a socket each, on a port of their own.
    udp_mux.install_gathering()
    participant = TestParticipant("anna", 40, SLOTS)
    try:
        offer = await participant.make_offer()
        ports = {c.port for m in SessionDescription.parse(offer).media for c in m.ice_candidates}
        assert len(ports) == 1
        transport = participant.pc.getTransceivers()[0].sender.transport.transport
        protocols = transport.iceGatherer._connection._protocols
        assert protocols and not any(isinstance(p, MuxedProtocol) for p in protocols)
    finally:
        await participant.close()
    await asyncio.sleep(0)


async def test_a_bind_address_other_than_the_offered_one() -> None:
    # A container whose UDP port is published: the socket is bound to every
    # address inside, browsers are offered the address outside (here both reach
    # loopback).
    events = RecordedEvents()
    forwarder = Forwarder(
        MediaSettings(
            ice_addresses=("127.0.0.1",),
            receive_slots=SLOTS,
            media_port=0,
            media_bind_address="0.0.0.0",
        ),
        events,
    )
    room = Room(forwarder, events)
    try:
        await room.join("anna", 40)
        await room.join("bram", 120)
        assert await eventually(lambda: sees(room, "anna", "bram") and sees(room, "bram", "anna"))
        assert forwarder.mux is not None
        (shared,) = forwarder.mux.shared.values()
        assert shared.address[0] == "0.0.0.0" and shared.candidate_host == "127.0.0.1"
        anna = room.participants["anna"].pc.remoteDescription
        assert anna is not None
        hosts = {c.ip for m in SessionDescription.parse(anna.sdp).media for c in m.ice_candidates}
        assert hosts == {"127.0.0.1"}
    finally:
        for participant in list(room.participants.values()):
            await participant.close()
        await forwarder.close()
