"""LoginWatch: ends a therapist's socket once the login it was opened with ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

# How often an open socket's login is checked: the longest a login ended elsewhere
# (logged out, password changed, account disabled) keeps a socket with moderator rights.
LOGIN_CHECK_INTERVAL = 30.0


class LoginWatch:
    """Asks `still_valid` every `interval` seconds and calls `on_ended` once when the
    answer is no. A check that fails (the database unreachable) counts as valid and is
    tried again: a fault of ours must not throw a therapist out of her session."""

    def __init__(
        self,
        still_valid: Callable[[], Awaitable[bool]],
        interval: float,
        on_ended: Callable[[], None],
    ) -> None:
        self.still_valid = still_valid
        self.interval = interval
        self.on_ended = on_ended
        self._check_now = asyncio.Event()
        self._task = asyncio.create_task(self._watch())

    def check_now(self) -> None:
        """A login of this therapist was ended on this server: check without waiting."""
        self._check_now.set()

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._check_now.wait()
            self._check_now.clear()
            try:
                valid = await self.still_valid()
            except Exception as exc:
                logger.warning("could not check a login (%s); trying again", type(exc).__name__)
                continue
            if not valid:
                self.on_ended()
                return
