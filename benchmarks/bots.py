"""Bench bots: aiortc participants that publish the clip and subscribe to everyone.

One `Bot` joins one room of one server. How it gets there depends on the server:

- grouproom: one peer connection, the offer layout grouproom expects (microphone,
  camera, then a pair of receive slots per other participant), over grouproom's
  signalling WebSocket.
- janus: Janus's VideoRoom over its WebSocket API: a publisher handle with one
  peer connection, and one subscriber handle and peer connection per publisher
  (Janus offers, the bot answers), including publishers who come later.
- relay: the decode-and-re-encode reference (benchmarks/relay_server.py): a
  publisher peer connection and one subscribing peer connection per publisher,
  over plain HTTP requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.rtcconfiguration import RTCBundlePolicy

from benchmarks.bot_media import ClipSender, CountingReceiver, DelayHistogram, FromPublisher, Sent
from benchmarks.clip import Clip

JANUS_PLUGIN = "janus.plugin.videoroom"


def new_peer_connection() -> RTCPeerConnection:
    # No STUN server (aiortc would add a public one), max-bundle as browsers do.
    return RTCPeerConnection(
        RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
    )


def prefer(transceiver: Any, mime: str) -> None:
    kind = transceiver.kind
    transceiver.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() == mime]
    )


# grouproom closes a signalling socket that has been silent for 60 s (docs/protocol.md);
# the web client pings every 5 s, the bots every 20 s. (Until
# 2026-12-05 they did not, and every bot left about 60 s after joining: windows
# longer than about 50 s measured a room that emptied.)
KEEP_ALIVE_SECONDS = 20.0


async def keep_grouproom_socket_alive(
    socket: aiohttp.ClientWebSocketResponse, interval: float = KEEP_ALIVE_SECONDS
) -> None:
    """Send a `ping` request every `interval` seconds (the replies are drained with the
    other messages) until the socket closes or the task is cancelled."""
    for number in itertools.count(1):
        await asyncio.sleep(interval)
        if socket.closed:
            return
        await socket.send_json({"v": 1, "type": "ping", "id": f"alive-{number}", "data": {}})


@dataclass
class Bot:
    number: int
    room: str
    server: str  # grouproom | janus | relay
    url: str
    clip: Clip
    delays: DelayHistogram
    phase: float
    # False: the bot shows no video (as a hidden browser tab), so grouproom forwards
    # it only audio (`set_visible_video` with nobody).
    show_video: bool = True
    # The talking scenario: members speak in turn for this many seconds each
    # (`members` of them), and are silent (Opus DTX) otherwise.
    speaking_turn: float | None = None
    members: int = 1
    # The paced scenario: video packets leave at the pace of a browser's pacer.
    pace: bool = False
    sent: Sent = field(default_factory=Sent)
    received: dict[int, FromPublisher] = field(default_factory=dict)
    joined_ns: int | None = None
    started_ns: int = 0
    present_at_join: set[int] = field(default_factory=set)
    error: str | None = None
    _pcs: list[RTCPeerConnection] = field(default_factory=list)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _http: aiohttp.ClientSession | None = None
    _socket: aiohttp.ClientWebSocketResponse | None = None

    @property
    def name(self) -> str:
        return f"bot {self.number}"

    async def join(self) -> None:
        self.started_ns = time.monotonic_ns()
        self._http = aiohttp.ClientSession()
        join = {
            "grouproom": self._join_grouproom,
            "janus": self._join_janus,
            "relay": self._join_relay,
        }
        await join[self.server]()
        self.joined_ns = time.monotonic_ns()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        for pc in self._pcs:
            with contextlib.suppress(Exception):
                await pc.close()
        if self._socket is not None:
            await self._socket.close()
        if self._http is not None:
            await self._http.close()

    # -- the media of one peer connection ---------------------------------------

    def _publish_on(self, pc: RTCPeerConnection) -> None:
        stamped = self.server != "relay"
        audio = pc.addTransceiver("audio", direction="sendonly")
        prefer(audio, "audio/opus")
        video = pc.addTransceiver("video", direction="sendonly")
        prefer(video, "video/vp8")
        ClipSender.take_over(audio.sender, self.clip, self.number, stamped, self.sent, self.phase)
        if self.speaking_turn is not None:
            assert isinstance(audio.sender, ClipSender)
            audio.sender.speak_in_turn(self.speaking_turn, self.members)
        ClipSender.take_over(video.sender, self.clip, self.number, stamped, self.sent, self.phase)
        if self.pace:
            assert isinstance(video.sender, ClipSender)
            video.sender.pace_packets()

    def _count_on(self, pc: RTCPeerConnection, publisher: int | None) -> None:
        for transceiver in pc.getTransceivers():
            if transceiver.direction == "recvonly" and not isinstance(
                transceiver.receiver, CountingReceiver
            ):
                CountingReceiver.take_over(
                    transceiver.receiver, self.received, self.delays, publisher, transceiver.kind
                )

    # -- grouproom ----------------------------------------------------------------

    async def _join_grouproom(self) -> None:
        assert self._http is not None
        socket = self._socket = await self._http.ws_connect(self.url, heartbeat=20)
        ids = itertools.count(1)

        async def request(kind: str, data: dict[str, Any]) -> dict[str, Any]:
            number = str(next(ids))
            await socket.send_json({"v": 1, "type": kind, "id": number, "data": data})
            while True:
                received = await socket.receive(timeout=20)
                if received.type != aiohttp.WSMsgType.TEXT:
                    raise RuntimeError(
                        f"{kind}: socket closed ({received.type.name}, {received.data!r}, "
                        f"{received.extra!r})"
                    )
                message = json.loads(received.data)
                if message.get("id") == number:
                    if message["type"] == "error":
                        raise RuntimeError(f"{kind}: {message['data']}")
                    return dict(message["data"])

        joined = await request("join", {"room": self.room, "name": self.name})
        if not self.show_video:
            await request("set_visible_video", {"participants": []})
        for participant in joined.get("participants", []):
            name = str(participant.get("name", ""))
            if name.startswith("bot "):
                self.present_at_join.add(int(name.split()[1]))
        pc = new_peer_connection()
        self._pcs.append(pc)
        self._publish_on(pc)
        for _ in range(int(joined["receive_slots"])):
            prefer(pc.addTransceiver("audio", direction="recvonly"), "audio/opus")
            prefer(pc.addTransceiver("video", direction="recvonly"), "video/vp8")
        self._count_on(pc, None)
        await pc.setLocalDescription(await pc.createOffer())
        answer = await request("offer", {"sdp": pc.localDescription.sdp})
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        self._tasks.append(asyncio.ensure_future(self._drain(socket)))
        self._tasks.append(asyncio.ensure_future(keep_grouproom_socket_alive(socket)))

    @staticmethod
    async def _drain(socket: aiohttp.ClientWebSocketResponse) -> None:
        async for _ in socket:
            pass  # server events: the bot needs none of them

    # -- Janus VideoRoom -----------------------------------------------------------

    async def _join_janus(self) -> None:
        assert self._http is not None
        janus = JanusSession(await self._http.ws_connect(self.url, protocols=("janus-protocol",)))
        self._socket = janus.socket
        self._tasks.append(asyncio.ensure_future(janus.run()))
        await janus.create()
        self._tasks.append(asyncio.ensure_future(janus.keep_alive()))
        handle = await janus.attach()
        pc = new_peer_connection()
        self._pcs.append(pc)
        self._publish_on(pc)
        await pc.setLocalDescription(await pc.createOffer())
        room = int(self.room)
        reply = await janus.message(
            handle,
            {
                "request": "joinandconfigure",
                "ptype": "publisher",
                "room": room,
                "display": self.name,
                "audio": True,
                "video": True,
            },
            {"type": "offer", "sdp": pc.localDescription.sdp, "trickle": False},
        )
        data = reply["plugindata"]["data"]
        if data.get("videoroom") != "joined":
            raise RuntimeError(f"janus join: {data}")
        await pc.setRemoteDescription(RTCSessionDescription(reply["jsep"]["sdp"], "answer"))
        subscribed: set[int] = set()

        async def subscribe(publishers: list[dict[str, Any]]) -> None:
            for publisher in publishers:
                feed = int(publisher["id"])
                number = int(str(publisher.get("display", "bot 0")).split()[1])
                if feed in subscribed:
                    continue
                subscribed.add(feed)
                await self._janus_subscribe(janus, room, feed, number)

        for publisher in data.get("publishers", []):
            self.present_at_join.add(int(str(publisher.get("display", "bot 0")).split()[1]))
        janus.on_event[handle] = lambda event: self._tasks.append(
            asyncio.ensure_future(
                subscribe(event.get("plugindata", {}).get("data", {}).get("publishers", []))
            )
        )
        await subscribe(data.get("publishers", []))

    async def _janus_subscribe(
        self, janus: JanusSession, room: int, feed: int, number: int
    ) -> None:
        handle = await janus.attach()
        reply = await janus.message(
            handle,
            {"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": feed}]},
        )
        if "jsep" not in reply:
            raise RuntimeError(f"janus subscribe: {reply.get('plugindata')}")
        pc = new_peer_connection()
        self._pcs.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(reply["jsep"]["sdp"], "offer"))
        self._count_on(pc, number)
        await pc.setLocalDescription(await pc.createAnswer())
        await janus.message(
            handle,
            {"request": "start", "room": room},
            {"type": "answer", "sdp": pc.localDescription.sdp, "trickle": False},
        )

    # -- decode-and-re-encode relay ------------------------------------------------

    async def _join_relay(self) -> None:
        assert self._http is not None
        pc = new_peer_connection()
        self._pcs.append(pc)
        self._publish_on(pc)
        await pc.setLocalDescription(await pc.createOffer())
        answer = await self._post("/publish", {"name": self.number, "sdp": pc.localDescription.sdp})
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        feeds = await self._get_feeds()
        self.present_at_join.update(feeds)
        self._tasks.append(asyncio.ensure_future(self._follow_relay_feeds(feeds)))

    async def _get_feeds(self) -> set[int]:
        assert self._http is not None
        async with self._http.get(f"{self.url}/feeds") as response:
            return {int(feed) for feed in await response.json()} - {self.number}

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self._http is not None
        async with self._http.post(f"{self.url}{path}", json=body) as response:
            if response.status != 200:
                raise RuntimeError(f"relay {path}: {response.status} {await response.text()}")
            return dict(await response.json())

    async def _follow_relay_feeds(self, feeds: set[int]) -> None:
        subscribed: set[int] = set()
        while True:
            for feed in sorted(feeds - subscribed):
                subscribed.add(feed)
                pc = new_peer_connection()
                self._pcs.append(pc)
                prefer(pc.addTransceiver("audio", direction="recvonly"), "audio/opus")
                prefer(pc.addTransceiver("video", direction="recvonly"), "video/vp8")
                self._count_on(pc, feed)
                await pc.setLocalDescription(await pc.createOffer())
                answer = await self._post(
                    "/subscribe", {"feed": feed, "sdp": pc.localDescription.sdp}
                )
                await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
            await asyncio.sleep(0.5)
            feeds = await self._get_feeds()


class JanusSession:
    """Janus's WebSocket API: requests matched to replies by transaction, plugin
    events handed to the handle's listener."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.session_id: int | None = None
        self.on_event: dict[int, Any] = {}
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._numbers = itertools.count(1)

    async def run(self) -> None:
        async for message in self.socket:
            data = json.loads(message.data)
            kind = data.get("janus")
            if kind in ("ack", "keepalive"):
                continue
            waiting = self._waiting.pop(str(data.get("transaction")), None)
            if waiting is not None and not waiting.done():
                waiting.set_result(data)
            elif kind == "event" and data.get("sender") in self.on_event:
                self.on_event[data["sender"]](data)

    async def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        transaction = f"t{next(self._numbers)}"
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = future
        if self.session_id is not None:
            body["session_id"] = self.session_id
        await self.socket.send_json({**body, "transaction": transaction})
        reply = await asyncio.wait_for(future, 20)
        if reply.get("janus") == "error":
            raise RuntimeError(f"janus: {reply.get('error')}")
        return reply

    async def create(self) -> None:
        self.session_id = int((await self._call({"janus": "create"}))["data"]["id"])

    async def attach(self) -> int:
        return int((await self._call({"janus": "attach", "plugin": JANUS_PLUGIN}))["data"]["id"])

    async def message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        request: dict[str, Any] = {"janus": "message", "handle_id": handle, "body": body}
        if jsep is not None:
            request["jsep"] = jsep
        return await self._call(request)

    async def keep_alive(self) -> None:
        while True:
            await asyncio.sleep(20)
            await self.socket.send_json(
                {"janus": "keepalive", "session_id": self.session_id, "transaction": "keepalive"}
            )
