"""The event loops the server runs on, for pytest-asyncio's loop factories.

uvloop is the server's default (GROUPROOM_EVENT_LOOP=auto) and asyncio's own loop its
fallback. They keep time and read sockets differently: uvloop's timers fire up to a
millisecond early by the wall clock (which once left a dropped member's seat held for
good while the tests ran on asyncio's loop alone), and it reads a socket's waiting
datagrams itself where the media socket does so on asyncio's. The protocol, media,
soak and store tests (the database drivers run on the loop's transports and
executor) and the UDP fuzz test run every async test on both (the test ids end in
`[asyncio]` and `[uvloop]`); the signalling fuzz tests, which take minutes, on
uvloop alone, the loop a member's browser meets (every async test on both took 20
minutes here, too long for CI).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path

import uvloop

LoopFactories = Mapping[str, Callable[[], asyncio.AbstractEventLoop]]

BOTH: LoopFactories = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
ASYNCIO: LoopFactories = {"asyncio": asyncio.new_event_loop}
UVLOOP: LoopFactories = {"uvloop": uvloop.new_event_loop}
# Folders and files of tests/ whose async tests run on both loops: the datagrams a
# stranger throws at the media socket are read by the loop (the UDP fuzz test).
ON_BOTH_LOOPS = ("protocol", "media", "soak", "store", "fuzz/test_udp_fuzz.py")
# Files whose async tests run on uvloop alone, the loop the server ships with: the
# signalling fuzz tests take minutes, so they run once, on the loop a member meets.
ON_UVLOOP = ("fuzz/test_signalling_fuzz.py",)


def loops_for(test_file: Path) -> LoopFactories:
    tests = Path(__file__).parent
    if not test_file.is_relative_to(tests):
        return ASYNCIO
    relative = test_file.relative_to(tests).as_posix()
    if relative in ON_UVLOOP:
        return UVLOOP
    both = any(relative == part or relative.startswith(f"{part}/") for part in ON_BOTH_LOOPS)
    return BOTH if both else ASYNCIO


# Threads the loops start for their default executors (asyncio_0, uvloop_0, ...): they
# stay until the loop closes, so leak checks leave them out.
EXECUTOR_THREAD_PREFIXES = ("asyncio_", "uvloop_")
