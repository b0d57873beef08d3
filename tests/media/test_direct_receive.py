"""The forwarder's RTP takes the direct path (direct_receive), never aioice's queue,
and only the forwarder's own connections do."""

from __future__ import annotations

from typing import Any

from aiortc.rtp import is_rtcp

from grouproom.media.hooks import DIRECT_RTP_HANDLER
from tests.media.conftest import Room
from tests.media.test_forwarding import LUMA, eventually, sees


def server_connection(room: Room, participant_id: str) -> Any:
    pc = room.forwarder.peers[participant_id].pc
    return pc.getTransceivers()[0].receiver.transport.transport._connection


def client_connection(room: Room, participant_id: str) -> Any:
    pc = room.participants[participant_id].pc
    return pc.getTransceivers()[0].receiver.transport.transport._connection


async def test_publishers_rtp_is_handled_in_the_datagram_callback(room: Room) -> None:
    await room.join("anna", LUMA["anna"])
    await room.join("bram", LUMA["bram"])
    assert await eventually(lambda: sees(room, "anna", "bram") and sees(room, "bram", "anna"))
    connection = server_connection(room, "anna")
    handler = getattr(connection, DIRECT_RTP_HANDLER)
    handled: list[bool] = []
    queued_rtp: list[bytes] = []

    def counting_handler(data: bytes) -> bool:
        result = bool(handler(data))
        handled.append(result)
        return result

    original_data_received = connection.data_received

    def data_received(data: bytes, component: int) -> None:
        if 127 < data[0] < 192 and not is_rtcp(data):
            queued_rtp.append(data)
        original_data_received(data, component)

    setattr(connection, DIRECT_RTP_HANDLER, counting_handler)
    connection.data_received = data_received
    received_before = room.forwarder.publication_stats("anna", "video")["packets_received"]
    frames_before = room.participants["bram"].received[room.mid("bram", "anna", "video")].frames
    assert await eventually(
        lambda: (
            room.participants["bram"].received[room.mid("bram", "anna", "video")].frames
            >= frames_before + 10
        )
    )
    received = room.forwarder.publication_stats("anna", "video")["packets_received"]
    assert received > received_before
    assert handled.count(True) >= received - received_before
    assert queued_rtp == []  # RTP never went through aioice's queue
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
