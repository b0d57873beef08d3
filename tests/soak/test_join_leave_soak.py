"""500 join/leave cycles of real aiortc bots through real signalling, then the
server's resources must be back where they were.

The server runs in the test's process, so the measures count both ends; every
bot closes its own peer connection, so whatever stays is the server's. Bots run a
few at a time (WORKERS, two per room, so that rooms open, fill and empty, and
slots are bound and released). The mix, drawn with a fixed seed:
- most join, connect a peer connection (ICE + DTLS, no media) and `leave`;
- some publish audio and video until the server has received their video;
- some only join and leave, without an offer;
- some drop: their socket closes without `leave`, or their peer connection goes
  while the socket stays (the server must notice and close the socket itself).

Measured after a warm-up and again after the cycles, once the server has had time
to clean up and after gc.collect(): open file descriptors, asyncio tasks, threads,
live RTCPeerConnection objects (and grouproom's Peer, Publication, Subscription
and Outbox objects), the rooms, forwarders and sockets in the server's registries,
and the process's resident memory.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient
from aiortc import RTCPeerConnection

from grouproom.app import create_app, registry_key, switchboard_key
from grouproom.settings import Settings
from tests.media.peers import TestParticipant
from tests.protocol.conftest import AiohttpClient, loopback_only
from tests.protocol.signaling_client import SignalingClient
from tests.soak.bots import CONNECT_TIMEOUT, connect_media
from tests.soak.resources import RSS_SLACK_KIB, process_measures

__all__ = ["loopback_only"]

CYCLES = 500
WARM_UP = 16
WORKERS = 8
ROOMS = 4
SLOTS = 3  # rooms of four: the two bots of a room, with room to spare
CLEANUP_TIMEOUT = 60.0
KINDS = ("join_leave", "publish", "signal_only", "drop_socket", "drop_peer")
WEIGHTS = (55, 15, 10, 10, 10)


class Bot:
    """One participant's life: a socket and (usually) a peer connection."""

    def __init__(
        self, client: TestClient[Any, Any], session: ClientSession, room: str, name: str
    ) -> None:
        self.client = client
        # Not client.ws_connect: the test client keeps every socket it opened.
        self.session = session
        self.room = room
        self.name = name
        self.pc: RTCPeerConnection | None = None
        self.participant: TestParticipant | None = None

    async def _join(self) -> tuple[SignalingClient, str]:
        signaling = SignalingClient(await self.session.ws_connect(self.client.make_url("/ws")))
        joined = await signaling.join(self.room, self.name)
        return signaling, str(joined["participant_id"])

    async def _connect(self, signaling: SignalingClient, publish: bool) -> RTCPeerConnection:
        if publish:
            self.participant = TestParticipant(self.name, 90, SLOTS)
        self.pc = await connect_media(signaling, SLOTS, self.participant)
        return self.pc

    async def live(self, kind: str, server_forwarders: Callable[[], dict[str, Any]]) -> None:
        signaling, participant_id = await self._join()
        try:
            if kind == "signal_only":
                await signaling.expect("leave")
                assert await signaling.closed() == 1000
                return
            pc = await self._connect(signaling, publish=kind == "publish")
            if kind == "publish":
                peer = server_forwarders()[self.room].peers[participant_id]
                video = peer.publications["video"]
                deadline = time.monotonic() + CONNECT_TIMEOUT
                while video.packets_received == 0:
                    assert time.monotonic() < deadline, "the server got no video"
                    await asyncio.sleep(0.02)
            if kind == "drop_socket":
                await signaling.ws.close()  # no leave; the peer goes afterwards
            elif kind == "drop_peer":
                await pc.close()  # the media connection goes, the socket stays
                assert await signaling.closed(CONNECT_TIMEOUT) == 1000
            else:
                await signaling.expect("leave")
                assert await signaling.closed() == 1000
        finally:
            await self.close(signaling)

    async def close(self, signaling: SignalingClient) -> None:
        if self.participant is not None:
            await self.participant.close()
        elif self.pc is not None:
            await self.pc.close()
        await signaling.ws.close()


def measure(client: TestClient[Any, Any]) -> dict[str, int]:
    switchboard = client.app[switchboard_key]
    return {
        **process_measures(),
        "rooms": len(client.app[registry_key]),
        "forwarders": len(switchboard.forwarders),
        "participants": len(switchboard._outboxes),
        "sockets": len(switchboard._sockets),
    }


async def run_cycles(
    client: TestClient[Any, Any], session: ClientSession, kinds: list[str]
) -> None:
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for number, kind in enumerate(kinds):
        queue.put_nowait((number, kind))

    def forwarders() -> dict[str, Any]:
        found: dict[str, Any] = client.app[switchboard_key].forwarders
        return found

    async def worker(index: int) -> None:
        room = f"soak-{index % ROOMS}"
        while not queue.empty():
            number, kind = queue.get_nowait()
            await Bot(client, session, room, f"Bot {number}").live(kind, forwarders)

    await asyncio.gather(*(worker(index) for index in range(WORKERS)))


async def back_to(client: TestClient[Any, Any], baseline: dict[str, int]) -> dict[str, int]:
    """Measure until everything but memory is back at the baseline (or the time is up)."""
    deadline = time.monotonic() + CLEANUP_TIMEOUT
    while True:
        now = measure(client)
        settled = all(now[k] <= baseline[k] for k in now if k != "rss_kib")
        if settled or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.5)


@pytest.fixture
def soak_settings(settings: Settings) -> Settings:
    return replace(settings, max_participants=SLOTS + 1)


async def test_500_join_leave_cycles_leave_nothing_behind(
    aiohttp_client: AiohttpClient, soak_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    client = await aiohttp_client(create_app(soak_settings))
    async with ClientSession() as session:
        await soak(client, session)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def soak(client: TestClient[Any, Any], session: ClientSession) -> None:
    plan = random.Random(6).choices(KINDS, WEIGHTS, k=CYCLES)
    assert set(plan) == set(KINDS)

    await run_cycles(client, session, random.Random(7).choices(KINDS, WEIGHTS, k=WARM_UP))
    empty = {"rooms": 0, "forwarders": 0, "participants": 0, "sockets": 0, "Peer": 0}
    warm = await back_to(client, {**measure(client), **empty})
    assert {k: warm[k] for k in empty} == empty, warm
    baseline = measure(client)

    started = time.monotonic()
    await run_cycles(client, session, plan)
    took = time.monotonic() - started
    after = await back_to(client, baseline)
    print(f"soak: {CYCLES} cycles in {took:.0f} s; baseline {baseline}; after {after}")

    for key in after:
        if key != "rss_kib":
            assert after[key] <= baseline[key], (key, baseline, after)
    assert after["rss_kib"] - baseline["rss_kib"] <= RSS_SLACK_KIB, (baseline, after)
