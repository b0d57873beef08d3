"""Fixtures for talking to a real grouproom application over its WebSocket."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from grouproom.app import create_app
from grouproom.media.hooks import install_host_addresses
from grouproom.settings import Settings
from tests.protocol.rtc_client import RtcClient
from tests.protocol.signaling_client import SignalingClient

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@pytest.fixture(autouse=True)
def loopback_only() -> None:
    """Test peers offer loopback candidates only, even before the server's first
    forwarder exists (aioice's host addresses are process-wide)."""
    install_host_addresses(["127.0.0.1"])


@pytest.fixture
async def http(aiohttp_client: AiohttpClient, settings: Settings) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(settings))


Connect = Callable[[], Awaitable[SignalingClient]]


@pytest.fixture
def connect(http: TestClient[Any, Any]) -> Connect:
    """Open another signalling socket to the same server."""

    async def open_socket() -> SignalingClient:
        return SignalingClient(await http.ws_connect("/ws"))

    return open_socket


@pytest.fixture
async def rtc_clients() -> AsyncIterator[Callable[[int], RtcClient]]:
    """Real aiortc peers, closed after the test."""
    made: list[RtcClient] = []

    def make(receive_slots: int) -> RtcClient:
        client = RtcClient(receive_slots)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


class Member:
    """A signalling socket plus its peer connection."""

    def __init__(self, signaling: SignalingClient, rtc: RtcClient, joined: dict[str, Any]) -> None:
        self.signaling = signaling
        self.rtc = rtc
        self.joined = joined
        self.id: str = joined["participant_id"]

    async def publish(self) -> str:
        offer = await self.rtc.offer()
        answer = await self.signaling.expect("offer", {"sdp": offer})
        await self.rtc.accept(answer["sdp"])
        return str(answer["sdp"])

    async def track_events(self, event_type: str, count: int) -> dict[tuple[str, str], str]:
        """(participant id, kind) -> mid from the next `count` events of this type."""
        found = {}
        for _ in range(count):
            data = (await self.signaling.event(event_type))["data"]
            found[(data["participant_id"], data["kind"])] = data["mid"]
        return found


@pytest.fixture
def member(connect: Connect, rtc_clients: Callable[[int], RtcClient]) -> Callable[..., Any]:
    async def join(name: str, room: str = "demo") -> Member:
        signaling = await connect()
        joined = await signaling.join(room, name)
        return Member(signaling, rtc_clients(joined["receive_slots"]), joined)

    return join
