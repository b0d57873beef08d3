"""The media of rooms in a process of their own: the child side.

    python -m grouproom.media.worker_process SETTINGS_JSON

One event loop forwards at most about one core's worth of packets, so the server
spreads its rooms over up to one such process per core (room_worker.WorkerPool),
as mediasoup runs a worker per core. The parent (room_worker.WorkerProcess) sends
one JSON object per line on standard input; this process runs one Forwarder per
room and answers on standard output, one JSON object per line:

- requests name a `room` (the parent's key for it) and an `op`: `open` (with the
  room's `settings`; the first request of every room), connect, candidate,
  set_forwarding, set_visible_video, disconnect, counters, stats, `close`. Those
  with an `id` get a reply with the same `id` and either a `result` or an `error`
  (`offer` or `candidate`, with a `message`); set_forwarding and
  set_visible_video carry none and get no reply;
- the forwarders' events go up without an `id`, with their `room`:
  `{"event": "track_published", "room": ..., ...}`, `track_removed`,
  `connection_lost`, `connection_quality`.

End of input closes every peer connection and ends the process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from dataclasses import replace
from typing import Any

from grouproom.long_lived import freeze_start_up_objects
from grouproom.media import copy_step, udp_mux
from grouproom.media.contract import CandidateError, Kind, MediaSettings, OfferError
from grouproom.media.forwarder import Forwarder
from grouproom.pseudonym import adopt_parent_key

logger = logging.getLogger(__name__)


class WorkerEvents:
    def __init__(self, say: Any, room: str) -> None:
        self._say = say
        self._room = room

    def track_published(self, subscriber_id: str, publisher_id: str, kind: Kind, mid: str) -> None:
        self._say(
            {
                "event": "track_published",
                "room": self._room,
                "subscriber_id": subscriber_id,
                "publisher_id": publisher_id,
                "kind": kind,
                "mid": mid,
            }
        )

    def track_removed(self, subscriber_id: str, publisher_id: str, kind: Kind, mid: str) -> None:
        self._say(
            {
                "event": "track_removed",
                "room": self._room,
                "subscriber_id": subscriber_id,
                "publisher_id": publisher_id,
                "kind": kind,
                "mid": mid,
            }
        )

    def connection_lost(self, participant_id: str) -> None:
        self._say(
            {"event": "connection_lost", "room": self._room, "participant_id": participant_id}
        )

    def connection_quality(self, participant_id: str, quality: str, direction: str) -> None:
        self._say(
            {
                "event": "connection_quality",
                "room": self._room,
                "participant_id": participant_id,
                "quality": quality,
                "direction": direction,
            }
        )


def say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def media_settings(fields: dict[str, Any]) -> MediaSettings:
    fields = dict(fields)
    fields["ice_addresses"] = tuple(fields["ice_addresses"])
    fields["stun_urls"] = tuple(fields["stun_urls"])
    return MediaSettings(**fields)


class Rooms:
    """The Forwarders of this process, by the parent's room key."""

    def __init__(self, media_port: int = 0) -> None:
        self.forwarders: dict[str, Forwarder] = {}
        # This process's own media port (the parent gives each worker its own).
        self.media_port = media_port

    async def handle(self, request: dict[str, Any]) -> Any:
        room = str(request["room"])
        op = request["op"]
        if op == "process_counters":  # the process's, not a room's
            return {"media_datagrams_dropped": udp_mux.dropped_total()}
        if op == "open":
            if room not in self.forwarders:
                settings = replace(media_settings(request["settings"]), media_port=self.media_port)
                self.forwarders[room] = Forwarder(settings, WorkerEvents(say, room))
            return None
        forwarder = self.forwarders.get(room)
        if forwarder is None:
            if op == "close":
                return None
            raise ValueError(f"no open room for {op!r}")
        if op == "close":
            del self.forwarders[room]
            await forwarder.close()
            return None
        return await handle(forwarder, request)

    async def close(self) -> None:
        for forwarder in self.forwarders.values():
            await forwarder.close()
        self.forwarders.clear()


async def handle(forwarder: Forwarder, request: dict[str, Any]) -> Any:
    op = request["op"]
    if op == "connect":
        return await forwarder.connect(
            request["participant_id"], request["offer"], bool(request["publishes"])
        )
    if op == "candidate":
        await forwarder.add_ice_candidate(
            request["participant_id"],
            request["candidate"],
            request["sdp_mid"],
            request["sdp_mline_index"],
        )
        return None
    if op == "set_forwarding":
        forwarder.set_forwarding(request["participant_id"], request["kind"], request["enabled"])
        return None
    if op == "set_visible_video":
        forwarder.set_visible_video(
            request["participant_id"], frozenset(map(str, request["publisher_ids"]))
        )
        return None
    if op == "disconnect":
        await forwarder.disconnect(request["participant_id"])
        return None
    if op == "counters":
        return forwarder.counters()
    if op == "stats":
        return forwarder.publication_stats(request["participant_id"], request["kind"])
    raise ValueError(f"unknown operation {op!r}")


async def answer(rooms: Rooms, request: dict[str, Any]) -> None:
    reply: dict[str, Any] = {"id": request.get("id")}
    try:
        reply["result"] = await rooms.handle(request)
    except OfferError as exc:
        reply.update(error="offer", message=str(exc))
    except CandidateError as exc:
        reply.update(error="candidate", message=str(exc))
    except Exception as exc:  # a bug: reported to the parent, the room goes on
        logger.exception("room worker request %s failed", request.get("op"))
        reply.update(error="internal", message=type(exc).__name__)
    if reply["id"] is not None:
        say(reply)


async def main(settings: MediaSettings) -> None:
    # The media port is opened before the parent hears "ready": a port in use ends
    # this process with the reason on stderr, and the parent's room with WorkerGone.
    mux = udp_mux.acquire(settings.ice_addresses, settings.media_port, settings.media_bind_address)
    await mux.start()
    rooms = Rooms(settings.media_port)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    freeze_start_up_objects()
    say({"event": "ready"})
    tasks: set[asyncio.Task[None]] = set()
    try:
        while line := await reader.readline():
            task = asyncio.ensure_future(answer(rooms, json.loads(line)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for task in tasks:
            task.cancel()
        await rooms.close()
        await udp_mux.release(mux)


if __name__ == "__main__":
    # The server's logging rules, among them: aiortc and aioice, which log
    # candidate addresses (personal data), only from WARNING.
    from grouproom.__main__ import configure_logging

    configure_logging()
    adopt_parent_key()
    # The server's settings: the process's event loop (each room sends its own).
    settings = media_settings(json.loads(sys.argv[1]))
    copy_step.use(settings.copy_step)  # the server checked that it can be used
    loop_factory = None
    if settings.event_loop == "uvloop":  # the server checked that uvloop is installed
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        try:
            runner.run(main(settings))
        except udp_mux.MediaPortError as error:
            logger.error("room worker: %s", error.strerror)
            sys.exit(1)
