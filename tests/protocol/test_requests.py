"""Requests without media over the real WebSocket: join, state, leave, ping."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import replace
from typing import Any

from aiohttp.test_utils import TestClient

from grouproom.app import create_app
from grouproom.settings import Settings
from tests.protocol.conftest import AiohttpClient, Connect
from tests.protocol.signaling_client import SignalingClient


async def test_ping_works_before_join(connect: Connect) -> None:
    client = await connect()
    assert await client.expect("ping") == {}


async def test_joined_describes_the_room(connect: Connect) -> None:
    client = await connect()
    joined = await client.join("demo", "  Anna ")
    assert joined == {
        "participant_id": joined["participant_id"],
        "room": {"id": "demo"},
        "participants": [],
        "receive_slots": 11,
        "ice_servers": [],
        "video": {"max_width": 640, "max_height": 360, "max_framerate": 25, "max_bitrate": 500_000},
        "rejoin_token": joined["rejoin_token"],
    }
    assert len(joined["participant_id"]) >= 22
    assert len(joined["rejoin_token"]) == 32


async def test_the_second_participant_sees_the_first(connect: Connect) -> None:
    anna = await connect()
    bram = await connect()
    anna_joined = await anna.join("demo", "Anna", audio_muted=True)
    bram_joined = await bram.join("demo", "Bram", video_muted=True)
    assert bram_joined["participants"] == [
        {
            "id": anna_joined["participant_id"],
            "name": "Anna",
            "audio_muted": True,
            "video_muted": False,
            "connection": "good",
            "connection_direction": None,
        }
    ]
    event = await anna.event("participant_joined")
    assert event["data"] == {
        "participant": {
            "id": bram_joined["participant_id"],
            "name": "Bram",
            "audio_muted": False,
            "video_muted": True,
            "connection": "good",
            "connection_direction": None,
        }
    }


async def test_participants_are_listed_in_join_order(connect: Connect) -> None:
    names = ["Anna", "Bram", "Cor"]
    ids = []
    for name in names:
        ids.append((await (await connect()).join("demo", name))["participant_id"])
    dirk = await (await connect()).join("demo", "Dirk")
    assert [p["id"] for p in dirk["participants"]] == ids
    assert [p["name"] for p in dirk["participants"]] == names


async def test_rooms_are_separate(connect: Connect) -> None:
    anna = await connect()
    await anna.join("group-a", "Anna")
    bram = await connect()
    assert (await bram.join("group-b", "Bram"))["participants"] == []
    assert await anna.expect("ping") == {}
    assert anna.events == []


async def test_media_state_reaches_the_others(connect: Connect) -> None:
    anna, bram = await connect(), await connect()
    anna_id = (await anna.join("demo", "Anna"))["participant_id"]
    await bram.join("demo", "Bram")
    assert await anna.expect("set_media_state", {"audio_muted": True, "video_muted": False}) == {}
    event = await bram.event("media_state")
    assert event["data"] == {"participant_id": anna_id, "audio_muted": True, "video_muted": False}
    # The newest state is what a newcomer sees.
    cor = await (await connect()).join("demo", "Cor")
    assert cor["participants"][0]["audio_muted"] is True
    assert all(e["type"] != "media_state" for e in anna.events)


async def test_leave_acks_closes_and_tells_the_others(connect: Connect) -> None:
    anna, bram = await connect(), await connect()
    anna_id = (await anna.join("demo", "Anna"))["participant_id"]
    await bram.join("demo", "Bram")
    assert await anna.expect("leave") == {}
    assert await anna.closed() == 1000
    event = await bram.event("participant_left")
    assert event["data"] == {"participant_id": anna_id, "cause": "left"}


async def test_closing_the_socket_is_a_lost_connection(connect: Connect) -> None:
    anna, bram = await connect(), await connect()
    anna_id = (await anna.join("demo", "Anna"))["participant_id"]
    await bram.join("demo", "Bram")
    await anna.ws.close()
    event = await bram.event("participant_left")
    assert event["data"] == {"participant_id": anna_id, "cause": "connection_lost"}


async def test_an_emptied_room_is_dropped_with_its_forwarder(
    http: TestClient[Any, Any], connect: Connect
) -> None:
    from grouproom.app import registry_key, switchboard_key

    anna = await connect()
    await anna.join("demo", "Anna")
    assert http.app[registry_key].get("demo") is not None
    assert "demo" in http.app[switchboard_key].forwarders
    await anna.expect("leave")
    await anna.closed()
    assert http.app[registry_key].get("demo") is None
    assert "demo" not in http.app[switchboard_key].forwarders
    # The same link opens a fresh room.
    bram = await connect()
    assert (await bram.join("demo", "Bram"))["participants"] == []


async def test_ice_servers_carry_turn_rest_credentials(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    settings = replace(
        settings,
        stun_urls=("stun:stun.example.org:3478",),
        turn_urls=("turn:turn.example.org:3478", "turns:turn.example.org:5349"),
        turn_secret="geheim",
        turn_credential_ttl=3600,
    )
    http = await aiohttp_client(create_app(settings))
    client = SignalingClient(await http.ws_connect("/ws"))
    before = int(time.time())
    joined = await client.join("demo", "Anna")
    stun, turn = joined["ice_servers"]
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    assert turn["urls"] == ["turn:turn.example.org:3478", "turns:turn.example.org:5349"]
    expiry, participant = turn["username"].split(":")
    assert participant == joined["participant_id"]
    assert before + 3600 <= int(expiry) <= int(time.time()) + 3600
    digest = hmac.new(b"geheim", turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(digest).decode()


async def test_receive_slots_follow_the_room_size(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    settings = replace(settings, max_participants=5)
    http = await aiohttp_client(create_app(settings))
    client = SignalingClient(await http.ws_connect("/ws"))
    assert (await client.join())["receive_slots"] == 4
