"""The signalling WebSocket at /ws."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from aiohttp import WSCloseCode, WSMsgType, web

from grouproom.http.therapist_pages import logged_in
from grouproom.protocol import Closing, ClosingCause
from grouproom.signaling.connection import Connection
from grouproom.signaling.idle_watch import IdleWatch
from grouproom.signaling.outbox import Outbox
from grouproom.signaling.session_hub import SessionHub
from grouproom.signaling.switchboard import Switchboard

logger = logging.getLogger(__name__)

HEARTBEAT = 5.0
# Well above the protocol's 64 KiB, so that an oversized frame gets a too_large
# error reply instead of aiohttp closing the socket without one.
MAX_MESSAGE_SIZE = 1024 * 1024
IDLE_TIMEOUT = 60.0


class WebSocketHandler:
    def __init__(self, switchboard: Switchboard, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.switchboard = switchboard
        self.idle_timeout = idle_timeout
        # Set at start-up, once the store is open.
        self.hub: SessionHub | None = None

    async def _therapist_id(self, request: web.Request) -> str | None:
        """A therapist's login cookie comes with the upgrade request (same origin)."""
        if self.hub is None:
            return None
        found = await logged_in(self.hub.store, request, datetime.now(UTC))
        return None if found is None else found[0].id

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        therapist_id = await self._therapist_id(request)
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=MAX_MESSAGE_SIZE)
        await ws.prepare(request)
        # A random tag for log lines, unrelated to the participant id.
        outbox = Outbox(ws, log_id=secrets.token_hex(4))
        connection = Connection(self.switchboard, outbox, self.hub, therapist_id)
        self.switchboard.attach(outbox)
        idle = IdleWatch(
            self.idle_timeout,
            lambda: outbox.close(WSCloseCode.OK, Closing(ClosingCause.IDLE)),
        )
        logger.debug("connection %s opened", connection.log_id)
        try:
            async for msg in ws:
                idle.heard()
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await connection.receive(msg.data)
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            await idle.stop()
            try:
                await connection.close()
            finally:
                await outbox.wait_closed()
                self.switchboard.detach(outbox)
                logger.debug("connection %s closed", connection.log_id)
        return ws
