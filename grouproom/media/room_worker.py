"""RoomWorker: a Forwarder in a process of its own, seen from the server.

It offers the same methods as Forwarder (the MediaRoom protocol: connect,
add_ice_candidate, set_forwarding, disconnect, close) and calls the same
ForwarderEvents, so signalling does not know which one it has. The child
process (worker_process.py) is started on first use; the two talk in JSON lines
over the child's standard input and output. When the child dies, every
participant it carried is reported as `connection_lost` and later calls fail
with a clear error, so that the room's members reconnect into a new worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import sys
from dataclasses import asdict
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

logger = logging.getLogger(__name__)

START_TIMEOUT = 30.0
REPLY_TIMEOUT = 30.0


class WorkerGone(RuntimeError):
    """The room's worker process ended."""


class RoomWorker:
    def __init__(self, settings: MediaSettings, events: ForwarderEvents) -> None:
        self.settings = settings
        self.events = events
        self.participants: set[str] = set()
        self.process: asyncio.subprocess.Process | None = None
        self._numbers = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._starting: asyncio.Future[None] | None = None
        self._closed = False
        self._last_counters: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        # The latest set_visible_video per subscriber, for a child started after it.
        self._visible_video: dict[str, frozenset[str]] = {}

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
        if not self.running:
            return
        self._send(
            {
                "op": "set_forwarding",
                "participant_id": participant_id,
                "kind": kind,
                "enabled": enabled,
            }
        )

    def set_visible_video(self, subscriber_id: str, publisher_ids: frozenset[str]) -> None:
        self._visible_video[subscriber_id] = publisher_ids
        if self.running:
            self._send_visible_video(subscriber_id, publisher_ids)

    def _send_visible_video(self, subscriber_id: str, publisher_ids: frozenset[str]) -> None:
        self._send(
            {
                "op": "set_visible_video",
                "participant_id": subscriber_id,
                "publisher_ids": sorted(publisher_ids),
            }
        )

    async def disconnect(self, participant_id: str) -> None:
        self._visible_video.pop(participant_id, None)
        if participant_id not in self.participants:
            return
        self.participants.discard(participant_id)
        with contextlib.suppress(WorkerGone):
            await self._call("disconnect", participant_id=participant_id)

    async def close(self) -> None:
        """Disconnect everyone and end the process."""
        self._closed = True
        self.participants.clear()
        process = self.process
        if process is None:
            return
        if process.returncode is None and process.stdin is not None:
            process.stdin.close()  # the child closes its peer connections and exits
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._reader is not None:
            await self._reader

    async def read_counters(self) -> dict[str, int]:
        """The worker's Forwarder.counters(); the last known ones once it has ended,
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
        """Start the child (done by the first call anyway); returns when it is ready."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        if self._closed:
            raise WorkerGone("the room is closed")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "grouproom.media.worker_process",
            json.dumps(asdict(self.settings)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=2**20,
        )
        assert self.process.stdout is not None
        ready = await asyncio.wait_for(self.process.stdout.readline(), START_TIMEOUT)
        if json.loads(ready or b"{}").get("event") != "ready":
            raise WorkerGone("the room worker did not start")
        self._reader = asyncio.ensure_future(self._read())
        logger.info("room worker %d started", self.process.pid)
        for subscriber_id, publisher_ids in self._visible_video.items():
            self._send_visible_video(subscriber_id, publisher_ids)

    async def _call(self, op: str, **fields: Any) -> Any:
        await self.start()
        if not self.running:
            raise WorkerGone("the room's media process has ended")
        number = next(self._numbers)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[number] = future
        self._send({"id": number, "op": op, **fields})
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

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")

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
            if not self._closed:
                logger.error("room worker %s ended unexpectedly", self.process.pid)
                for participant_id in sorted(self.participants):
                    self.events.connection_lost(participant_id)

    def _dispatch(self, message: dict[str, Any]) -> None:
        number = message.get("id")
        if number is not None:
            future = self._waiting.get(int(number))
            if future is not None and not future.done():
                future.set_result(message)
            return
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


def _counts(result: Any) -> dict[str, int]:
    """A JSON object of counts from the child, typed."""
    return {str(key): int(value) for key, value in dict(result).items()}


def open_media_room(
    settings: MediaSettings, events: ForwarderEvents, own_process: bool
) -> MediaRoom:
    """The media of a new room: in a worker process of its own, or in this one."""
    if own_process:
        return RoomWorker(settings, events)
    from grouproom.media.forwarder import Forwarder

    return Forwarder(settings, events)
