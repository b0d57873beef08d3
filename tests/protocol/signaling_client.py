"""A signalling client for tests: sends requests, collects replies and events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType

Frame = dict[str, Any]
TIMEOUT = 10.0


class SocketClosed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(f"socket closed with code {code}")
        self.code = code


class SignalingClient:
    def __init__(self, ws: ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[Frame] = []  # server events not yet taken by event()
        self._next_id = 0

    def new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    async def send_frame(self, frame: Frame | str | bytes) -> None:
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        elif isinstance(frame, str):
            await self.ws.send_str(frame)
        else:
            await self.ws.send_str(json.dumps(frame))

    async def receive(self, seconds: float = TIMEOUT) -> Frame:
        """The next frame from the server; SocketClosed when the socket closes."""
        msg = await self.ws.receive(timeout=seconds)
        if msg.type is WSMsgType.CLOSE:  # the code the server sent
            raise SocketClosed(msg.data)
        if msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED):
            raise SocketClosed(self.ws.close_code)
        assert msg.type is WSMsgType.TEXT, msg
        frame: Frame = json.loads(msg.data)
        assert set(frame) == {"v", "type", "id", "data"}, frame
        assert frame["v"] == 1
        return frame

    async def reply_to(self, request_id: str | None, seconds: float = TIMEOUT) -> Frame:
        """Read until the frame with this id; events on the way are kept."""
        while True:
            frame = await self.receive(seconds)
            if frame["id"] is None and frame["type"] != "error":
                self.events.append(frame)
                continue
            assert frame["id"] == request_id, frame
            return frame

    async def request(self, message_type: str, data: dict[str, Any] | None = None) -> Frame:
        request_id = self.new_id()
        await self.send_frame({"v": 1, "type": message_type, "id": request_id, "data": data or {}})
        return await self.reply_to(request_id)

    async def expect(self, message_type: str, data: dict[str, Any] | None = None) -> Frame:
        """A request whose reply must be `message_type`; returns its data."""
        reply = await self.request(message_type, data)
        expected = {"join": "joined", "offer": "answer", "ping": "pong"}.get(message_type, "ack")
        assert reply["type"] == expected, reply
        data_: Frame = reply["data"]
        return data_

    async def error(self, message_type: str, data: dict[str, Any] | None = None) -> Frame:
        """A request that must fail; returns the error's data."""
        reply = await self.request(message_type, data)
        assert reply["type"] == "error", reply
        data_: Frame = reply["data"]
        return data_

    async def event(self, message_type: str, seconds: float = TIMEOUT) -> Frame:
        """The next event of this type (earlier events of other types are kept)."""
        for index, frame in enumerate(self.events):
            if frame["type"] == message_type:
                del self.events[index]
                return frame
        async with asyncio.timeout(seconds):
            while True:
                frame = await self.receive(seconds)
                if frame["type"] == message_type:
                    assert frame["id"] is None, frame
                    return frame
                self.events.append(frame)

    async def closed(self, seconds: float = TIMEOUT) -> int | None:
        """Wait for the server to close the socket; frames on the way are kept."""
        async with asyncio.timeout(seconds):
            while True:
                try:
                    self.events.append(await self.receive(seconds))
                except SocketClosed as closed:
                    return closed.code

    async def join(self, room: str = "demo", name: str = "Anna", **extra: Any) -> Frame:
        return await self.expect("join", {"room": room, "name": name, **extra})
