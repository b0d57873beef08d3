"""IdleWatch: calls back when a socket has been silent for too long."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from grouproom.tasks import cancel_and_wait


class IdleWatch:
    def __init__(self, timeout: float, on_idle: Callable[[], None]) -> None:
        self.timeout = timeout
        self.on_idle = on_idle
        self._loop = asyncio.get_running_loop()
        self._last_heard = self._loop.time()
        self._task = asyncio.create_task(self._watch())

    def heard(self) -> None:
        self._last_heard = self._loop.time()

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _watch(self) -> None:
        while True:
            remaining = self._last_heard + self.timeout - self._loop.time()
            if remaining <= 0:
                self.on_idle()
                return
            await asyncio.sleep(remaining)
