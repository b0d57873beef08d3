"""Outbox: the messages waiting to be written to one WebSocket, and the one task
that writes them.

Anything (a request handler, a forwarder callback, shutdown) can queue a message
or the close of the socket without awaiting; the writer keeps their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from aiohttp import WSCloseCode, web

from grouproom.protocol import AnyServerMessage, Closing, encode
from grouproom.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

# A client that lets this many messages pile up is not reading its socket.
MAX_PENDING = 1_000
CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True)
class _Close:
    code: int


class Outbox:
    def __init__(self, ws: web.WebSocketResponse, log_id: str) -> None:
        self.ws = ws
        self.log_id = log_id
        self._queue: asyncio.Queue[AnyServerMessage | _Close] = asyncio.Queue()
        self._closing = False
        self._writer = asyncio.create_task(self._write())

    @property
    def closing(self) -> bool:
        """True once the close is queued: later messages are dropped."""
        return self._closing

    def send(self, message: AnyServerMessage) -> None:
        if self._closing:
            return
        if self._queue.qsize() >= MAX_PENDING:
            logger.warning("connection %s does not read its messages; closing it", self.log_id)
            self.close(WSCloseCode.POLICY_VIOLATION)
            return
        self._queue.put_nowait(message)

    def close(self, code: int = WSCloseCode.OK, closing: Closing | None = None) -> None:
        """Write what is queued (then `closing`, if given) and close the socket."""
        if self._closing:
            return
        if closing is not None:
            self._queue.put_nowait(closing)
        self._closing = True
        self._queue.put_nowait(_Close(code))

    async def wait_closed(self) -> None:
        """Wait until the writer has closed the socket (cancelling it after
        CLOSE_TIMEOUT)."""
        self.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._writer), CLOSE_TIMEOUT)
        except TimeoutError:
            await cancel_and_wait(self._writer)

    async def _write(self) -> None:
        while True:
            item = await self._queue.get()
            if isinstance(item, _Close):
                with contextlib.suppress(ConnectionError):
                    await self.ws.close(code=item.code)
                return
            if self.ws.closed:
                continue
            try:
                await self.ws.send_str(encode(item))
            except ConnectionError:
                continue
            except Exception:
                logger.exception("connection %s: a message could not be written", self.log_id)
