"""RoomWorker: a room's Forwarder in a worker process, seen from the server.

It offers the same methods as Forwarder (the MediaRoom protocol: connect,
add_ice_candidate, set_forwarding, set_visible_video, disconnect, close) and calls
the same ForwarderEvents, so signalling does not know which one it has.

Rooms share worker processes: at most one per core (WorkerPool), each running the
Forwarders of several rooms on one event loop, as mediasoup runs a worker per core.
A process per room lost the event loop's batching: each one woke up for its own
room's packets alone, and four rooms of six cost about a quarter more CPU per
packet than in one process (docs/media.md). A room goes to a new process while
there are fewer than the pool's size, else to the one with the fewest rooms; a
process ends when its last room closes.

The child (worker_process.py) is started on first use; parent and child talk in
JSON lines over the child's standard input and output. When a child dies, every
participant of its rooms is reported as `connection_lost` and later calls on those
rooms fail with a clear error, so that their members reconnect into a new room.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
from dataclasses import asdict, replace
from typing import Any

from grouproom.media.contract import (
    COUNTERS,
    CandidateError,
    ForwarderEvents,
    Kind,
    MediaRoom,
    MediaSettings,
    OfferError,
)
from grouproom.pseudonym import environment_for_child

logger = logging.getLogger(__name__)

START_TIMEOUT = 30.0
REPLY_TIMEOUT = 30.0


class WorkerGone(RuntimeError):
    """The room's worker process ended."""


def default_pool_size() -> int:
    """The cores this server may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class WorkerProcess:
    """One child process and the rooms it serves."""

    def __init__(self, settings: MediaSettings, index: int = 0) -> None:
        # Server-wide settings (addresses, STUN, event loop); each room sends its own.
        # The media port: the server's port plus 1 + index (each process opens its
        # own; 0 stays 0, any free port).
        self.index = index
        if settings.media_port:
            settings = replace(settings, media_port=settings.media_port + 1 + index)
        self.settings = settings
        self.rooms: dict[str, RoomWorker] = {}  # by room key
        self.process: asyncio.subprocess.Process | None = None
        self._numbers = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._starting: asyncio.Future[None] | None = None
        self.closing = False

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def running(self) -> bool:
        """The child has started, not ended, and its replies are being read."""
        return (
            self.process is not None
            and self.process.returncode is None
            and self._reader is not None
            and not self._reader.done()
        )

    @property
    def ended(self) -> bool:
        return self.closing or (self._reader is not None and self._reader.done())

    async def start(self) -> None:
        """Start the child (done by the first call anyway); returns when it is ready."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "grouproom.media.worker_process",
            json.dumps(asdict(self.settings)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**20,
            env=environment_for_child(),
        )
        assert self.process.stdout is not None
        ready = await asyncio.wait_for(self.process.stdout.readline(), START_TIMEOUT)
        if json.loads(ready or b"{}").get("event") != "ready":
            raise WorkerGone("the room worker did not start")
        self._reader = asyncio.ensure_future(self._read())
        logger.info("room worker %d started", self.process.pid)

    async def call(self, room: str, op: str, **fields: Any) -> Any:
        await self.start()
        if not self.running:
            raise WorkerGone("the room's media process has ended")
        number = next(self._numbers)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        self.send({"id": number, "op": op, "room": room, **fields})
        try:
            reply = await asyncio.wait_for(future, REPLY_TIMEOUT)
        finally:
            self._waiting.pop(number, None)
        error = reply.get("error")
        if error == "offer":
            raise OfferError(reply.get("message", "the offer was refused"))
        if error == "candidate":
            raise CandidateError(reply.get("message", "the ICE candidate was refused"))
        if error is not None:
            raise WorkerGone(f"the room's media process failed: {reply.get('message')}")
        return reply.get("result")

    async def process_counters(self) -> dict[str, int]:
        """Counters of the process itself (its media port), not of one room."""
        return _counts(await self.call("", "process_counters"))

    def send(self, message: dict[str, Any]) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")

    async def close(self) -> None:
        """End the child: it closes its peer connections and exits."""
        self.closing = True
        if self._starting is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._starting)
        process = self.process
        if process is None:
            return
        if process.returncode is None and process.stdin is not None:
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._reader is not None:
            await self._reader

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        try:
            while line := await self.process.stdout.readline():
                self._dispatch(json.loads(line))
        finally:
            gone = WorkerGone("the room's media process has ended")
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(gone)
            if not self.closing:
                logger.error("room worker %s ended unexpectedly", self.process.pid)
            for room in list(self.rooms.values()):
                room.worker_ended()

    def _dispatch(self, message: dict[str, Any]) -> None:
        number = message.get("id")
        if number is not None:
            future = self._waiting.get(int(number))
            if future is not None and not future.done():
                future.set_result(message)
            return
        room = self.rooms.get(str(message.get("room")))
        if room is not None:
            room.event(message)


class WorkerPool:
    """The worker processes of one event loop: at most `size`, rooms spread over them."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size if size is not None else default_pool_size()
        self.processes: list[WorkerProcess] = []
        self._ending: set[WorkerProcess] = set()
        self._keys = itertools.count(1)

    def new_key(self) -> str:
        return str(next(self._keys))

    def assign(self, room: RoomWorker) -> WorkerProcess:
        self.processes = [p for p in self.processes if not p.ended]
        if len(self.processes) < self.size:
            chosen = WorkerProcess(room.settings, self._free_index())
            self.processes.append(chosen)
        else:
            chosen = min(self.processes, key=lambda process: len(process.rooms))
        chosen.rooms[room.key] = room
        return chosen

    def _free_index(self) -> int:
        """The lowest index (media port) no live or ending process holds."""
        used = {process.index for process in [*self.processes, *self._ending]}
        return next(index for index in itertools.count() if index not in used)

    async def release(self, room: RoomWorker, process: WorkerProcess) -> None:
        """The room closed: end its process when no other room is left on it."""
        process.rooms.pop(room.key, None)
        if not process.rooms and not process.ended:
            if process in self.processes:
                self.processes.remove(process)
            self._ending.add(process)
            try:
                await process.close()
            finally:
                self._ending.discard(process)


_pools: dict[asyncio.AbstractEventLoop, WorkerPool] = {}


def pool_of_this_loop() -> WorkerPool:
    """The pool of the running event loop (processes belong to the loop that made them)."""
    loop = asyncio.get_running_loop()
    for other in [known for known in _pools if known.is_closed()]:
        del _pools[other]
    if loop not in _pools:
        _pools[loop] = WorkerPool()
    return _pools[loop]


class RoomWorker:
    def __init__(
        self, settings: MediaSettings, events: ForwarderEvents, pool: WorkerPool | None = None
    ) -> None:
        self.settings = settings
        self.events = events
        self.participants: set[str] = set()
        self._pool = pool
        self.key = ""
        self.worker: WorkerProcess | None = None
        self._opening: asyncio.Future[None] | None = None
        self._closed = False
        self._gone = False
        self._last_counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        # The latest set_visible_video per subscriber, for a room not yet opened.
        self._visible_video: dict[str, frozenset[str]] = {}

    @property
    def pid(self) -> int | None:
        return None if self.worker is None else self.worker.pid

    @property
    def running(self) -> bool:
        """The room is open in a child that has started and not ended."""
        return (
            self.worker is not None
            and self.worker.running
            and self._opening is not None
            and self._opening.done()
            and not self._gone
        )

    # -- the Forwarder interface -------------------------------------------------

    async def connect(self, participant_id: str, offer_sdp: str, publishes: bool = True) -> str:
        answer = await self._call(
            "connect", participant_id=participant_id, offer=offer_sdp, publishes=publishes
        )
        self.participants.add(participant_id)
        return str(answer)

    async def add_ice_candidate(
        self,
        participant_id: str,
        candidate: str | None,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None:
        await self._call(
            "candidate",
            participant_id=participant_id,
            candidate=candidate,
            sdp_mid=sdp_mid,
            sdp_mline_index=sdp_mline_index,
        )

    def set_forwarding(self, participant_id: str, kind: Kind, enabled: bool) -> None:
        if self.running:
            self._send("set_forwarding", participant_id=participant_id, kind=kind, enabled=enabled)

    def set_visible_video(self, subscriber_id: str, publisher_ids: frozenset[str]) -> None:
        self._visible_video[subscriber_id] = publisher_ids
        if self.running:
            self._send_visible_video(subscriber_id, publisher_ids)

    def _send_visible_video(self, subscriber_id: str, publisher_ids: frozenset[str]) -> None:
        self._send(
            "set_visible_video",
            participant_id=subscriber_id,
            publisher_ids=sorted(publisher_ids),
        )

    async def disconnect(self, participant_id: str) -> None:
        self._visible_video.pop(participant_id, None)
        if participant_id not in self.participants:
            return
        self.participants.discard(participant_id)
        with contextlib.suppress(WorkerGone):
            await self._call("disconnect", participant_id=participant_id)

    async def close(self) -> None:
        """Disconnect everyone; the process ends when it serves no other room."""
        if self._closed:
            return
        self._closed = True
        self.participants.clear()
        worker = self.worker
        if worker is None:
            return
        if self._opening is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._opening)
        if self.running:
            with contextlib.suppress(WorkerGone, asyncio.TimeoutError):
                await worker.call(self.key, "close")
        assert self._pool is not None
        await self._pool.release(self, worker)

    async def read_counters(self) -> dict[str, int]:
        """The room's Forwarder.counters(); the last known ones once it has closed,
        so that totals never go backwards."""
        if self.running and not self._closed:
            with contextlib.suppress(WorkerGone, asyncio.TimeoutError):
                self._last_counters = _counts(await self._call("counters"))
        return dict(self._last_counters)

    async def stats(self, participant_id: str, kind: Kind) -> dict[str, int]:
        """Forwarder.publication_stats of one publication, from the child."""
        return _counts(await self._call("stats", participant_id=participant_id, kind=kind))

    # -- the process -------------------------------------------------------------

    async def start(self) -> None:
        """Open the room in a worker process (done by the first call anyway)."""
        if self._opening is None:
            if self._closed:
                raise WorkerGone("the room is closed")
            if self._pool is None:
                self._pool = pool_of_this_loop()
            self.key = self._pool.new_key()
            self.worker = self._pool.assign(self)
            self._opening = asyncio.ensure_future(self._open(self.worker))
        await asyncio.shield(self._opening)

    async def _open(self, worker: WorkerProcess) -> None:
        await worker.start()
        await worker.call(self.key, "open", settings=asdict(self.settings))
        for subscriber_id, publisher_ids in self._visible_video.items():
            self._send_visible_video(subscriber_id, publisher_ids)

    async def _call(self, op: str, **fields: Any) -> Any:
        await self.start()
        if self._gone or self.worker is None:
            raise WorkerGone("the room's media process has ended")
        return await self.worker.call(self.key, op, **fields)

    def _send(self, op: str, **fields: Any) -> None:
        assert self.worker is not None
        self.worker.send({"op": op, "room": self.key, **fields})

    def event(self, message: dict[str, Any]) -> None:
        """An event of this room's Forwarder, from the child."""
        event = message.get("event")
        if event == "track_published":
            self.events.track_published(
                message["subscriber_id"], message["publisher_id"], message["kind"], message["mid"]
            )
        elif event == "track_removed":
            self.events.track_removed(
                message["subscriber_id"], message["publisher_id"], message["kind"], message["mid"]
            )
        elif event == "connection_lost":
            self.events.connection_lost(message["participant_id"])
        elif event == "connection_quality":
            self.events.connection_quality(
                message["participant_id"], message["quality"], message["direction"]
            )

    def worker_ended(self) -> None:
        """The process ended: everyone here lost their media (unless the room closed)."""
        self._gone = True
        if self._closed:
            return
        for participant_id in sorted(self.participants):
            self.events.connection_lost(participant_id)


def _counts(result: Any) -> dict[str, int]:
    """A JSON object of counts from the child, typed."""
    return {str(key): int(value) for key, value in dict(result).items()}


def open_media_room(
    settings: MediaSettings, events: ForwarderEvents, own_process: bool
) -> MediaRoom:
    """The media of a new room: in a worker process, or in this one."""
    if own_process:
        return RoomWorker(settings, events)
    from grouproom.media.forwarder import Forwarder

    return Forwarder(settings, events)
