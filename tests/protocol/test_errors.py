"""Every error code over the real WebSocket; one client's fault never disturbs another."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace

import pytest

from grouproom.app import create_app
from grouproom.protocol import MAX_FRAME_BYTES
from grouproom.settings import Settings
from grouproom.signaling.switchboard import Switchboard
from tests.protocol.conftest import AiohttpClient, Connect
from tests.protocol.signaling_client import SignalingClient


async def error_for(client: SignalingClient, raw: str | bytes) -> dict[str, object]:
    await client.send_frame(raw)
    frame = await client.receive()
    assert frame["type"] == "error", frame
    data: dict[str, object] = frame["data"]
    data["id"] = frame["id"]
    return data


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "bad_json"),
        ("[1]", "bad_json"),
        (b'{"v": 1, "type": "ping", "id": "1", "data": {}}', "bad_json"),
        ('{"type": "ping", "id": "1", "data": {}}', "bad_envelope"),
        ('{"v": 1, "type": "ping", "data": {}}', "bad_envelope"),
        ('{"v": 1, "type": "ping", "id": "1", "data": []}', "bad_envelope"),
        ('{"v": 1, "type": "shout", "id": "1", "data": {}}', "unknown_type"),
        ('{"v": 1, "type": "join", "id": "1", "data": {"room": "demo"}}', "invalid_data"),
    ],
)
async def test_malformed_frames_get_an_error_and_the_socket_stays_open(
    connect: Connect, raw: str | bytes, code: str
) -> None:
    client = await connect()
    error = await error_for(client, raw)
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    assert await client.expect("ping") == {}


async def test_errors_echo_the_request_id(connect: Connect) -> None:
    client = await connect()
    error = await error_for(client, '{"v": 1, "type": "shout", "id": "abc", "data": {}}')
    assert error["id"] == "abc"
    error = await error_for(client, "not json")
    assert error["id"] is None


async def test_invalid_data_names_the_field(connect: Connect) -> None:
    client = await connect()
    error = await client.error("join", {"room": "demo", "name": "x" * 41})
    assert error["code"] == "invalid_data"
    assert "name" in str(error["message"])
    error = await client.error("join", {"room": "demo", "name": "Anna", "audio_muted": 0})
    assert "audio_muted" in str(error["message"])


async def test_an_unsupported_version_closes_the_socket_with_4001(connect: Connect) -> None:
    client = await connect()
    error = await error_for(client, '{"v": 2, "type": "ping", "id": "1", "data": {}}')
    assert error["code"] == "unsupported_version"
    assert error["id"] == "1"
    assert await client.closed() == 4001
    assert client.events == []


async def test_an_oversized_frame_is_answered_then_closed_with_1009(connect: Connect) -> None:
    client = await connect()
    await client.join()
    pad = "x" * MAX_FRAME_BYTES
    error = await error_for(
        client, json.dumps({"v": 1, "type": "ping", "id": "1", "data": {"p": pad}})
    )
    assert error["code"] == "too_large"
    assert await client.closed() == 1009


async def test_a_frame_of_exactly_64_kib_is_accepted(connect: Connect) -> None:
    client = await connect()
    base = json.dumps({"v": 1, "type": "ping", "id": "1", "data": {"p": ""}})
    raw = json.dumps(
        {"v": 1, "type": "ping", "id": "1", "data": {"p": "x" * (MAX_FRAME_BYTES - len(base))}}
    )
    assert len(raw) == MAX_FRAME_BYTES
    await client.send_frame(raw)
    assert (await client.receive())["type"] == "pong"


@pytest.mark.parametrize(
    ("message_type", "data"),
    [
        ("offer", {"sdp": "v=0"}),
        ("ice_candidate", {"candidate": None}),
        ("set_media_state", {"audio_muted": True, "video_muted": True}),
        ("leave", {}),
    ],
)
async def test_requests_before_join_are_not_joined(
    connect: Connect, message_type: str, data: dict[str, object]
) -> None:
    client = await connect()
    assert (await client.error(message_type, data))["code"] == "not_joined"
    assert (await client.join())["participants"] == []


async def test_a_second_join_is_already_joined(connect: Connect) -> None:
    client = await connect()
    await client.join("demo", "Anna")
    assert (await client.error("join", {"room": "other", "name": "Anna"}))["code"] == (
        "already_joined"
    )
    # Still in the first room, once.
    bram = await (await connect()).join("demo", "Bram")
    assert [p["name"] for p in bram["participants"]] == ["Anna"]


async def test_a_full_room_is_room_full(aiohttp_client: AiohttpClient, settings: Settings) -> None:
    http = await aiohttp_client(create_app(replace(settings, max_participants=2)))

    async def connect() -> SignalingClient:
        return SignalingClient(await http.ws_connect("/ws"))

    anna, bram, cor = await connect(), await connect(), await connect()
    await anna.join("demo", "Anna")
    assert (await bram.join("demo", "Bram"))["receive_slots"] == 1
    error = await cor.error("join", {"room": "demo", "name": "Cor"})
    assert error["code"] == "room_full"
    # Another room is not full, and a freed place can be taken.
    assert (await (await connect()).join("other", "Dirk"))["participants"] == []
    await anna.expect("leave")
    await anna.closed()
    assert [p["name"] for p in (await cor.join("demo", "Cor"))["participants"]] == ["Bram"]


async def test_a_malformed_message_does_not_disturb_the_other(connect: Connect) -> None:
    anna, bram = await connect(), await connect()
    await anna.join("demo", "Anna")
    bram_id = (await bram.join("demo", "Bram"))["participant_id"]
    await anna.event("participant_joined")
    for raw in ["{", '{"v": 1, "type": "join", "id": "x", "data": 5}', "x" * 70_000]:
        await bram.send_frame(raw)
    assert await bram.closed() == 1009  # the oversized frame ended bram's socket
    left = await anna.event("participant_left")
    assert left["data"] == {"participant_id": bram_id, "cause": "connection_lost"}
    # Anna's next requests still work, and she saw nothing of bram's errors.
    assert await anna.expect("set_media_state", {"audio_muted": True, "video_muted": True}) == {}
    assert await anna.expect("ping") == {}
    assert all(e["type"] != "error" for e in anna.events)


async def test_an_internal_error_is_a_reply_not_a_crash(
    connect: Connect, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    text = "a fault mentioning " + "Anna"

    def broken(*args: object) -> None:
        raise RuntimeError(text)

    anna, bram = await connect(), await connect()
    await anna.join("demo", "Anna")
    await bram.join("demo", "Bram")
    monkeypatch.setattr(Switchboard, "set_media_state", broken)
    with caplog.at_level(logging.INFO):
        error = await anna.error("set_media_state", {"audio_muted": True, "video_muted": True})
    assert error["code"] == "internal_error"
    assert "internal error (RuntimeError)" in caplog.text
    assert "Anna" not in caplog.text and "Bram" not in caplog.text
    monkeypatch.undo()
    assert await anna.expect("set_media_state", {"audio_muted": True, "video_muted": True}) == {}
    assert (await bram.event("media_state"))["data"]["audio_muted"] is True
    assert await bram.expect("ping") == {}


async def test_an_idle_socket_is_closed(aiohttp_client: AiohttpClient, settings: Settings) -> None:
    http = await aiohttp_client(create_app(settings, idle_timeout=0.3))
    client = SignalingClient(await http.ws_connect("/ws"))
    await client.join()
    assert await client.closed() == 1000
    assert client.events[-1] == {"v": 1, "type": "closing", "id": None, "data": {"cause": "idle"}}


async def test_requests_keep_a_socket_alive(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    http = await aiohttp_client(create_app(settings, idle_timeout=0.4))
    client = SignalingClient(await http.ws_connect("/ws"))
    for _ in range(6):
        assert await client.expect("ping") == {}
        await asyncio.sleep(0.15)
    assert not client.ws.closed


async def test_shutdown_says_closing_to_every_socket(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    from grouproom.app import switchboard_key

    http = await aiohttp_client(create_app(settings))
    joined = SignalingClient(await http.ws_connect("/ws"))
    waiting = SignalingClient(await http.ws_connect("/ws"))
    await joined.join()
    assert await waiting.expect("ping") == {}
    await http.server.close()
    for client in (joined, waiting):
        assert await client.closed() == 1001
        assert client.events[-1]["data"] == {"cause": "shutdown"}
    assert http.app[switchboard_key].forwarders == {}
