"""Limits per client: messages per second on one socket, open sockets per address
(also behind a trusted proxy). Going over gives a clear error code to that client
and nobody else notices."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import WSMsgType

from grouproom.app import create_app
from grouproom.settings import Settings
from tests.protocol.conftest import AiohttpClient
from tests.protocol.signaling_client import SignalingClient


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, messages_per_second=5, connections_per_address=3)


async def test_too_many_messages_are_refused_and_the_others_do_not_notice(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    flooder = SignalingClient(await client.ws_connect("/ws"))
    bystander = SignalingClient(await client.ws_connect("/ws"))
    await flooder.join("demo", "Flo")
    await bystander.join("demo", "Bea")
    for index in range(40):  # at once: the burst is 10
        await flooder.send_frame({"v": 1, "type": "ping", "id": f"p{index}", "data": {}})
    replies: list[dict[str, Any]] = []
    while len(replies) < 40:
        frame = await flooder.receive()
        if frame["id"] is None and frame["type"] != "error":
            continue  # an event (Bea joined)
        replies.append(frame)
    by_id = {reply["id"]: reply for reply in replies}
    assert set(by_id) == {f"p{index}" for index in range(40)}  # every request answered
    refused = [r for r in replies if r["type"] == "error"]
    assert refused and all(r["data"]["code"] == "rate_limited" for r in refused)
    assert 8 <= len(replies) - len(refused) <= 14  # the burst, and what trickled in
    # The bystander in the same room is served at once, and the flooder, after a
    # pause, again.
    assert (await bystander.request("ping"))["type"] == "pong"
    await asyncio.sleep(1.0)
    assert (await flooder.request("ping"))["type"] == "pong"
    assert not [e for e in bystander.events if e["type"] == "participant_left"]


async def test_open_sockets_per_address_are_limited(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    sockets = [await client.ws_connect("/ws") for _ in range(3)]
    for ws in sockets:
        await ws.send_str(json.dumps({"v": 1, "type": "ping", "id": "1", "data": {}}))
        assert json.loads((await ws.receive(timeout=5)).data)["type"] == "pong"
    fourth = await client.ws_connect("/ws")
    message = await fourth.receive(timeout=5)
    assert message.type is WSMsgType.TEXT
    assert json.loads(message.data)["data"]["code"] == "too_many_connections"
    assert (await fourth.receive(timeout=5)).type is WSMsgType.CLOSE
    assert fourth.close_code == 1008
    await sockets[0].close()
    await asyncio.sleep(0.2)
    again = SignalingClient(await client.ws_connect("/ws"))
    assert (await again.request("ping"))["type"] == "pong"


async def test_behind_a_trusted_proxy_each_client_address_counts(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    trusting = replace(settings, connections_per_address=1, trusted_proxies=("127.0.0.1",))
    client = await aiohttp_client(create_app(trusting))

    async def connect(forwarded_for: str) -> SignalingClient:
        headers = {"X-Forwarded-For": forwarded_for}
        return SignalingClient(await client.ws_connect("/ws", headers=headers))

    first = await connect("192.0.2.10")
    second = await connect("198.51.100.7, 192.0.2.11")  # the proxy appends the last one
    for socket in (first, second):
        assert (await socket.request("ping"))["type"] == "pong"
    third = await connect("192.0.2.10")
    assert (await third.receive())["data"]["code"] == "too_many_connections"


async def test_an_untrusted_forwarded_header_is_ignored(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(replace(settings, connections_per_address=1)))
    first = SignalingClient(await client.ws_connect("/ws"))
    assert (await first.request("ping"))["type"] == "pong"
    forged = SignalingClient(
        await client.ws_connect("/ws", headers={"X-Forwarded-For": "192.0.2.99"})
    )
    assert (await forged.receive())["data"]["code"] == "too_many_connections"


async def test_open_rooms_can_be_switched_off(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(replace(settings, open_rooms=False)))
    assert (await client.get("/r/demo")).status == 404
    index = await client.get("/", allow_redirects=False)
    assert index.status == 302 and index.headers["Location"] == "/login"
    socket = SignalingClient(await client.ws_connect("/ws"))
    refused = await socket.error("join", {"room": "demo", "name": "Eve"})
    assert refused["code"] == "not_allowed" and "open rooms" in refused["message"]
    assert (await socket.request("ping"))["type"] == "pong"


async def test_a_frame_over_a_mebibyte_closes_only_its_socket(
    aiohttp_client: AiohttpClient, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(settings))
    sender = await client.ws_connect("/ws")
    bystander = SignalingClient(await client.ws_connect("/ws"))
    await sender.send_str("x" * (2 * 1024 * 1024))
    message = await sender.receive(timeout=10)
    assert message.type is WSMsgType.CLOSE and message.data == 1009
    assert (await bystander.request("ping"))["type"] == "pong"
