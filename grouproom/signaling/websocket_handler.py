"""The signalling WebSocket at /ws."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from aiohttp import WSCloseCode, WSMsgType, web

from grouproom.http.client_address import client_address
from grouproom.http.therapist_pages import LOGIN_COOKIE, LOGIN_IDLE_LIMIT
from grouproom.protocol import Closing, ClosingCause, ErrorCode, ErrorMessage
from grouproom.protocol.encoding import encode
from grouproom.protocol.parsing import request_id_of
from grouproom.signaling.connection import Connection
from grouproom.signaling.idle_watch import IdleWatch
from grouproom.signaling.limits import ConnectionsPerAddress, MessageRate
from grouproom.signaling.login_watch import LOGIN_CHECK_INTERVAL, LoginWatch
from grouproom.signaling.outbox import Outbox
from grouproom.signaling.session_hub import SessionHub
from grouproom.signaling.switchboard import Switchboard
from grouproom.store.store import LoginState

logger = logging.getLogger(__name__)

HEARTBEAT = 5.0
# Well above the protocol's 64 KiB, so that an oversized frame gets a too_large
# error reply instead of aiohttp closing the socket without one.
MAX_MESSAGE_SIZE = 1024 * 1024
IDLE_TIMEOUT = 60.0
# A socket that keeps sending over its rate after this many refusals is closed.
REFUSALS_BEFORE_CLOSING = 200


class WebSocketHandler:
    def __init__(
        self,
        switchboard: Switchboard,
        idle_timeout: float = IDLE_TIMEOUT,
        login_check_interval: float = LOGIN_CHECK_INTERVAL,
    ) -> None:
        self.switchboard = switchboard
        self.idle_timeout = idle_timeout
        self.login_check_interval = login_check_interval
        self.settings = switchboard.settings
        self.connections = ConnectionsPerAddress(self.settings.connections_per_address)
        # Set at start-up, once the store is open.
        self.hub: SessionHub | None = None
        self.login_watches: dict[str, set[LoginWatch]] = {}  # by therapist id

    def check_logins_of(self, therapist_id: str) -> None:
        """One of her logins was ended here (logout, password change): her open sockets
        check theirs at once rather than at the next interval."""
        for watch in self.login_watches.get(therapist_id, ()):
            watch.check_now()

    async def _login(self, login_token: str | None) -> tuple[LoginState, str | None]:
        """How the login of a socket stands, and whose it is while it is valid. A
        therapist's login cookie comes with the upgrade request (same origin)."""
        if self.hub is None or not login_token or len(login_token) > 100:
            return LoginState.ENDED, None
        state, therapist = await self.hub.store.login_state(
            login_token, datetime.now(UTC), LOGIN_IDLE_LIMIT
        )
        if therapist is None or state is not LoginState.VALID:
            return state, None
        if self.settings.two_factor == "required" and not therapist.two_factor:
            # A login from before two-step login was required: not a therapist.
            return LoginState.ENDED, None
        return state, therapist.id

    def _watch_login(self, login_token: str, connection: Connection) -> LoginWatch:
        """Tells the connection when her login ends (logged out elsewhere, password
        changed, account disabled). One that lapses (its 12 hours over) while she is in
        a session as therapist lets the session go on: she was let in while it was
        valid, and a reconnect needs a new login. Checking keeps a login from idling out."""

        async def check() -> bool:
            state, _ = await self._login(login_token)
            if state is LoginState.VALID:
                return True
            if state is LoginState.LAPSED and connection.in_session_as_therapist:
                return True  # until the session ends, or the login is ended
            logger.info(
                "connection %s: the therapist's login is %s", connection.log_id, state.value
            )
            connection.login_ended()
            return False

        return LoginWatch(check, self.login_check_interval)

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
        login_token = request.cookies.get(LOGIN_COOKIE)
        _, therapist_id = await self._login(login_token)
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
        login = None
        if therapist_id is not None and login_token is not None:
            login = self._watch_login(login_token, connection)
            self.login_watches.setdefault(therapist_id, set()).add(login)
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
            if login is not None and therapist_id is not None:
                await login.stop()
                watches = self.login_watches[therapist_id]
                watches.discard(login)
                if not watches:
                    del self.login_watches[therapist_id]
            try:
                await connection.close()
            finally:
                await outbox.wait_closed()
                self.switchboard.detach(outbox)
                logger.debug("connection %s closed", connection.log_id)
        return ws
