"""LoginWatch: ends a therapist's socket once the login it was opened with ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from grouproom.tasks import cancel_and_wait

logger = logging.getLogger(__name__)

# How often an open socket's login is checked: the longest a login ended elsewhere
# (logged out, password changed, account disabled) keeps a socket with moderator rights.
LOGIN_CHECK_INTERVAL = 30.0


class LoginWatch:
    """Calls `check` every `interval` seconds (or at once after check_now) until it
    answers that there is nothing left to watch (False). A check that fails (the
    database unreachable) is tried again at the next interval: a fault of ours must
    not throw a therapist out of her session."""

    def __init__(self, check: Callable[[], Awaitable[bool]], interval: float) -> None:
        self.check = check
        self.interval = interval
        self._check_now = asyncio.Event()
        self._task = asyncio.create_task(self._watch())

    def check_now(self) -> None:
        """A login of this therapist was ended on this server: check without waiting."""
        self._check_now.set()

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._check_now.wait()
            self._check_now.clear()
            try:
                go_on = await self.check()
            except Exception as exc:
                logger.warning("could not check a login (%s); trying again", type(exc).__name__)
                continue
            if not go_on:
                return
