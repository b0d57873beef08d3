"""The signalling WebSocket at /ws."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from aiohttp import WSCloseCode, WSMsgType, web

from grouproom.http.client_address import client_address
from grouproom.http.therapist_pages import logged_in
from grouproom.protocol import Closing, ClosingCause, ErrorCode, ErrorMessage
from grouproom.protocol.encoding import encode
from grouproom.protocol.parsing import request_id_of
from grouproom.signaling.connection import Connection
from grouproom.signaling.idle_watch import IdleWatch
from grouproom.signaling.limits import ConnectionsPerAddress, MessageRate
from grouproom.signaling.outbox import Outbox
from grouproom.signaling.session_hub import SessionHub
from grouproom.signaling.switchboard import Switchboard

logger = logging.getLogger(__name__)

HEARTBEAT = 5.0
# Well above the protocol's 64 KiB, so that an oversized frame gets a too_large
# error reply instead of aiohttp closing the socket without one.
MAX_MESSAGE_SIZE = 1024 * 1024
IDLE_TIMEOUT = 60.0
# A socket that keeps sending over its rate after this many refusals is closed.
REFUSALS_BEFORE_CLOSING = 200


class WebSocketHandler:
    def __init__(self, switchboard: Switchboard, idle_timeout: float = IDLE_TIMEOUT) -> None:
        self.switchboard = switchboard
        self.idle_timeout = idle_timeout
        self.settings = switchboard.settings
        self.connections = ConnectionsPerAddress(self.settings.connections_per_address)
        # Set at start-up, once the store is open.
        self.hub: SessionHub | None = None

    async def _therapist_id(self, request: web.Request) -> str | None:
        """A therapist's login cookie comes with the upgrade request (same origin)."""
        if self.hub is None:
            return None
        found = await logged_in(self.hub.store, request, datetime.now(UTC))
        if found is None:
            return None
        therapist = found[0]
        if self.settings.two_factor == "required" and not therapist.two_factor:
            return None  # a login from before two-step login was required: not a therapist
        return therapist.id

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        address = client_address(request, self.settings.trusted_proxies)
        if not self.connections.acquire(address):
            return await self._refuse(request)
        try:
            return await self._handle(request)
        finally:
            self.connections.release(address)

    async def _refuse(self, request: web.Request) -> web.WebSocketResponse:
        """Over the limit of open sockets from one address: a clear error, then close."""
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_SIZE)
        await ws.prepare(request)
        error = ErrorMessage(
            None, ErrorCode.TOO_MANY_CONNECTIONS, "too many open connections from your address"
        )
        await ws.send_str(encode(error))
        await ws.close(code=WSCloseCode.POLICY_VIOLATION)
        logger.info("refused a socket: too many from one address")
        return ws

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
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
        rate = MessageRate(self.settings.messages_per_second, 2 * self.settings.messages_per_second)
        refusals = 0
        try:
            async for msg in ws:
                idle.heard()
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    if not rate.allow():
                        refusals += 1
                        outbox.send(
                            ErrorMessage(
                                request_id_of(msg.data),
                                ErrorCode.RATE_LIMITED,
                                "too many messages; slow down",
                            )
                        )
                        if refusals >= REFUSALS_BEFORE_CLOSING:
                            outbox.close(WSCloseCode.POLICY_VIOLATION)
                        continue
                    refusals = 0
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
