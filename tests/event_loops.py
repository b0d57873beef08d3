"""The event loops the server runs on, for pytest-asyncio's loop factories.

uvloop is the server's default (GROUPROOM_EVENT_LOOP=auto) and asyncio's own loop its
fallback. They keep time and read sockets differently: uvloop's timers fire up to a
millisecond early by the wall clock (which once left a dropped member's seat held for
good while the tests ran on asyncio's loop alone), and it reads a socket's waiting
datagrams itself where the media socket does so on asyncio's. The protocol, media and
soak tests run every async test on both (the test ids end in `[asyncio]` and
`[uvloop]`); the store and fuzzing tests, whose code does not depend on the loop, on
asyncio's alone (all of them on both took 20 minutes here, too long for CI).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

import uvloop

LoopFactories = Mapping[str, Callable[[], asyncio.AbstractEventLoop]]

BOTH: LoopFactories = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
ASYNCIO: LoopFactories = {"asyncio": asyncio.new_event_loop}
ON_BOTH_LOOPS = {"protocol", "media", "soak"}  # folders of tests/


def loops_for(test_file: Path) -> LoopFactories:
    tests = Path(__file__).parent
    folder = test_file.relative_to(tests).parts[0] if test_file.is_relative_to(tests) else ""
    return BOTH if folder in ON_BOTH_LOOPS else ASYNCIO


# Threads the loops start for their default executors (asyncio_0, uvloop_0, ...): they
# stay until the loop closes, so leak checks leave them out.
EXECUTOR_THREAD_PREFIXES = ("asyncio_", "uvloop_")
