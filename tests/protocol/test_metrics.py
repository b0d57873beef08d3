"""The Prometheus endpoint: off by default, on a port of its own when set, counting
what real peers send through a room worker, and naming nobody."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from grouproom.app import create_app, media_ports_key
from grouproom.settings import Settings
from tests.media.test_udp_mux import candidate_ports
from tests.protocol.conftest import AiohttpClient
from tests.protocol.rtc_client import RtcClient
from tests.protocol.signaling_client import SignalingClient
from tests.protocol.test_cli import free_port

ROOM = "dinsdaggroep-schematherapie"
NAMES = ("Annabel Verhoeven", "Bram de Wit")


async def scrape(port: int) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        text = await response.text()
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return text, values


def forwarded(values: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return sum(
        value for (name, _), value in values.items() if name == "grouproom_forwarded_packets_total"
    )


async def test_metrics_count_forwarding_and_name_nobody(
    aiohttp_client: AiohttpClient,
    settings: Settings,
    rtc_clients: Callable[[int], RtcClient],
) -> None:
    port = free_port()
    app = create_app(replace(settings, metrics_port=port, room_workers=True))
    http: TestClient[Any, Any] = await aiohttp_client(app)
    members = []
    for name in NAMES:
        signaling = SignalingClient(await http.ws_connect("/ws"))
        joined = await signaling.join(ROOM, name)
        rtc = rtc_clients(joined["receive_slots"])
        answer = await signaling.expect("offer", {"sdp": await rtc.offer()})
        await rtc.accept(answer["sdp"])
        members.append((signaling, joined["participant_id"]))
        worker_ports = candidate_ports(answer["sdp"])

    async def forwarded_at_least(count: float) -> dict[Any, float]:
        for _ in range(100):
            _, values = await scrape(port)
            if forwarded(values) >= count:
                return values
            await asyncio.sleep(0.1)
        raise AssertionError(f"fewer than {count} packets forwarded")

    first = await forwarded_at_least(50)
    # Strangers' datagrams on the media ports, the room worker's and the server's
    # own, are dropped and counted.
    (worker_port,) = worker_ports
    dropped = ("grouproom_media_datagrams_dropped_total", ())
    # The server's own count is process-wide: other tests' strangers are in it.
    before = first[dropped]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
        for port_hit, count in ((worker_port, 3), (app[media_ports_key][0], 2)):
            for _ in range(count):
                stranger.sendto(b"\x80\x60" + bytes(100), ("127.0.0.1", port_hit))
    for _ in range(100):
        _, values = await scrape(port)
        if values[dropped] >= before + 5:
            break
        await asyncio.sleep(0.1)
    assert values[dropped] == before + 5
    second = await forwarded_at_least(forwarded(first) + 50)
    text, values = await scrape(port)
    assert values[("grouproom_participants", ())] == 2
    assert values[("grouproom_rooms", (("kind", "room"),))] == 1
    assert values[("grouproom_forwarded_packets_total", (("kind", "video"),))] > 0
    assert values[("grouproom_forwarded_packets_total", (("kind", "audio"),))] > 0
    assert any(name == "grouproom_room_worker_cpu_seconds_total" for name, _ in values)
    # Counted by the room worker too (nothing is lost on loopback).
    assert values[("grouproom_packets_not_recovered_total", ())] == 0
    assert values[("grouproom_congestion_limits_total", ())] == 0
    assert values[("grouproom_connection_worsened_total", ())] == 0  # loopback is no weak line
    assert values[("grouproom_incoming_over_budget_total", ())] == 0  # members within theirs
    for secret in (ROOM, *NAMES, *(participant_id for _, participant_id in members)):
        assert secret not in text
        assert secret.split()[0] not in text

    # Bram leaves, then the room closes: the totals stay where they were.
    await members[1][0].expect("leave", {})
    await members[0][0].expect("leave", {})
    await asyncio.sleep(0.5)
    _, after = await scrape(port)
    assert forwarded(after) >= forwarded(second)
    assert after[dropped] == before + 5  # the worker has ended; what it counted stays
    assert after[("grouproom_participants", ())] == 0


async def test_no_metrics_unless_asked(http: TestClient[Any, Any], settings: Settings) -> None:
    assert settings.metrics_port == 0
    response = await http.get("/metrics")
    assert response.status == 404
