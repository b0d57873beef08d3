"""The event loops the server runs on, for pytest-asyncio's loop factories.

uvloop is the server's default (GROUPROOM_EVENT_LOOP=auto) and asyncio's own loop its
fallback. They keep time and read sockets differently: uvloop's timers fire up to a
millisecond early by the wall clock (which once left a dropped member's seat held for
good while the tests ran on asyncio's loop alone), and it reads a socket's waiting
datagrams itself where the media socket does so on asyncio's. The protocol and media
tests run every async test on both (their conftest's pytest_asyncio_loop_factories).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import uvloop

LoopFactories = Mapping[str, Callable[[], asyncio.AbstractEventLoop]]

BOTH: LoopFactories = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}

# Threads the loops start for their default executors (asyncio_0, uvloop_0, ...): they
# stay until the loop closes, so leak checks leave them out.
EXECUTOR_THREAD_PREFIXES = ("asyncio_", "uvloop_")
