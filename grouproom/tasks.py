"""Background tasks: stopping one."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Future[Any]) -> None:
    """Cancel a task and wait until it has stopped; its cancellation is not raised."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
