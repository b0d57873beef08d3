"""Prometheus metrics on a port of their own (off unless GROUPROOM_METRICS_PORT is set).

What an operator watches: open rooms and sessions, connected participants,
forwarded packets and bytes, retransmissions, NACKs and keyframe requests sent
to publishers, packets lost on the way from publishers, the event loop's lag,
the CPU of the server and of each room worker, and the datagrams the media ports
dropped (udp_mux). Labels come from small fixed sets
(kind, pid): no names, room names, group names or participant ids.

Counters are read when Prometheus scrapes: from each room's Forwarder, or over
the pipe from its worker process. The totals of rooms that closed are kept, so a
counter never goes backwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector

from grouproom.media import udp_mux
from grouproom.media.contract import COUNTERS, MediaRoom
from grouproom.media.room_worker import RoomWorker, WorkerGone, WorkerProcess
from grouproom.tasks import cancel_and_wait

LAG_INTERVAL = 0.5  # seconds between two event-loop lag probes
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

COUNTER_HELP = {
    "retransmitted_packets": "Packets sent again to subscribers after a NACK.",
    "nacks_sent": "NACKs sent to publishers for packets that did not arrive.",
    "keyframe_requests_sent": "Keyframe requests (PLI) sent to publishers.",
    "packets_lost": "Packets lost on the way from publishers to the server.",
    "packets_not_recovered": (
        "Lost video packets the server stopped asking publishers for (NACKed ten times,"
        " too old, or too many missing at once)."
    ),
    "congestion_limits": (
        "Times a subscriber's falling bandwidth estimate began holding a video it"
        " receives back to its share (a congested downlink), per video."
    ),
    "connection_worsened": (
        "Times the server judged a participant's line worse than before (good to weak,"
        " weak or good to bad): loss on her way up or down, or a long round trip."
    ),
    "incoming_over_budget": (
        "Packets from participants dropped because their connection sent more than"
        " four times what a member sends at most (the video cap, audio and RTCP)."
    ),
}


def worker_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class ServerMetrics:
    """Reads the live rooms (given by `rooms`, a function returning them by kind)
    when scraped, and keeps the totals of the rooms that have gone."""

    def __init__(
        self, rooms: Callable[[], dict[str, list[MediaRoom]]], participants: Callable[[], int]
    ) -> None:
        self.rooms = rooms
        self.participants = participants
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.registry.register(self)
        self.loop_lag = 0.0
        self.loop_lag_max = 0.0
        self._retired: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self._last_seen: dict[int, tuple[MediaRoom, dict[str, int]]] = {}
        self._totals: dict[str, int] = dict(self._retired)
        self._open: dict[str, int] = {}
        self._workers: dict[int, float] = {}
        # Datagrams the media ports dropped: worker processes' last readings, those
        # of processes that have ended, and the total (with this process's own).
        self._dropped_live: dict[WorkerProcess, int] = {}
        self._dropped_ended = 0
        self._dropped = 0

    async def refresh(self) -> None:
        """Read every room's counters (a round trip to each worker)."""
        by_kind = self.rooms()
        live = [room for rooms in by_kind.values() for room in rooms]
        readings = await asyncio.gather(*(room.read_counters() for room in live))
        seen: dict[int, tuple[MediaRoom, dict[str, int]]] = {}
        for room, counters in zip(live, readings, strict=True):
            seen[id(room)] = (room, counters)
        for key, (_, counters) in self._last_seen.items():
            if key not in seen:  # closed since the last scrape: keep what it counted
                for name in COUNTERS:
                    self._retired[name] += counters.get(name, 0)
        self._last_seen = seen
        totals = dict(self._retired)
        for _, counters in seen.values():
            for name in COUNTERS:
                totals[name] += counters.get(name, 0)
        self._totals = totals
        self._open = {kind: len(rooms) for kind, rooms in by_kind.items()}
        await self._read_dropped(live)
        self._workers = {}
        for room in live:
            if isinstance(room, RoomWorker) and room.pid is not None:
                seconds = worker_cpu_seconds(room.pid)
                if seconds is not None:
                    self._workers[room.pid] = seconds

    async def _read_dropped(self, live: list[MediaRoom]) -> None:
        processes = {
            room.worker
            for room in live
            if isinstance(room, RoomWorker) and room.worker is not None and room.worker.running
        }
        for process in list(self._dropped_live):
            if process not in processes:
                self._dropped_ended += self._dropped_live.pop(process)
        for process in processes:
            with contextlib.suppress(WorkerGone, asyncio.TimeoutError):
                counters = await process.process_counters()
                self._dropped_live[process] = counters.get("media_datagrams_dropped", 0)
        self._dropped = (
            udp_mux.dropped_total() + self._dropped_ended + sum(self._dropped_live.values())
        )

    def collect(self) -> Iterator[Metric]:
        rooms = GaugeMetricFamily(
            "grouproom_rooms", "Rooms and sessions with media open.", labels=["kind"]
        )
        for kind, count in sorted(self._open.items()):
            rooms.add_metric([kind], count)
        yield rooms
        yield GaugeMetricFamily(
            "grouproom_participants", "Participants connected.", value=self.participants()
        )
        for what, unit in (("packets", "Packets"), ("bytes", "Bytes of payload")):
            family = CounterMetricFamily(
                f"grouproom_forwarded_{what}", f"{unit} forwarded to subscribers.", labels=["kind"]
            )
            for kind in ("audio", "video"):
                family.add_metric([kind], self._totals[f"forwarded_{what}_{kind}"])
            yield family
        for name, text in COUNTER_HELP.items():
            yield CounterMetricFamily(f"grouproom_{name}", text, value=self._totals[name])
        yield GaugeMetricFamily(
            "grouproom_event_loop_lag_seconds",
            "How late the server's event loop ran a timer, last probe.",
            value=self.loop_lag,
        )
        yield GaugeMetricFamily(
            "grouproom_event_loop_lag_max_seconds",
            "The largest event-loop lag since the previous scrape.",
            value=self.loop_lag_max,
        )
        yield CounterMetricFamily(
            "grouproom_media_datagrams_dropped",
            "Datagrams on the media ports from addresses no ICE check proved "
            "(strangers, scans, leftovers of closed connections).",
            value=self._dropped,
        )
        workers = CounterMetricFamily(
            "grouproom_room_worker_cpu_seconds",
            "CPU time of each room's worker process.",
            labels=["pid"],
        )
        for pid, seconds in sorted(self._workers.items()):
            workers.add_metric([str(pid)], seconds)
        yield workers

    def describe(self) -> Iterable[Metric]:
        return []

    async def watch_loop_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LAG_INTERVAL
            await asyncio.sleep(LAG_INTERVAL)
            self.loop_lag = max(0.0, loop.time() - due)
            self.loop_lag_max = max(self.loop_lag_max, self.loop_lag)

    async def handle(self, request: web.Request) -> web.Response:
        await self.refresh()
        body = generate_latest(self.registry)
        self.loop_lag_max = self.loop_lag
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def serve_metrics(metrics: ServerMetrics, host: str, port: int) -> AsyncIterator[None]:
    """Run the metrics site (GET /metrics) on its own port while the app runs."""
    app = web.Application()
    app.router.add_get("/metrics", metrics.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    lag = asyncio.ensure_future(metrics.watch_loop_lag())
    try:
        yield
    finally:
        await cancel_and_wait(lag)
        await runner.cleanup()
