"""What a soak measures of the server in its own process: descriptors, tasks,
threads, live media objects and resident memory."""

from __future__ import annotations

import asyncio
import gc
import os
import threading

from aiortc import RTCPeerConnection

from grouproom.media.peer import Peer
from grouproom.media.publication import Publication
from grouproom.media.subscription import Subscription
from grouproom.signaling.outbox import Outbox
from tests.event_loops import EXECUTOR_THREAD_PREFIXES

# Resident memory may end above the baseline by this much: CPython and the
# allocators of OpenSSL, libsrtp and libvpx keep freed memory for reuse. A leak of
# one peer connection per cycle (several hundred KiB each) would exceed it.
RSS_SLACK_KIB = 48 * 1024


def count(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if type(o) is kind)


def resident_kib() -> int:
    with open("/proc/self/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


def open_files(folder: str | None = None) -> list[str]:
    """What the process's descriptors point to; only those inside `folder`, or
    all of them."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue  # the listing's own descriptor, closed by now
        if folder is None or target.startswith(folder.rstrip("/") + "/"):
            found.append(target)
    return found


def process_measures(data_dir: str | None = None) -> dict[str, int]:
    """After a full collection: what the process holds (the test's side included:
    every bot closes what it opened, so whatever stays is the server's). With a
    data folder, its files (the database's connection pool) are counted apart
    from the other descriptors."""
    gc.collect()
    database = len(open_files(data_dir)) if data_dir is not None else 0
    return {
        "fds": len(open_files()) - database,
        "database_fds": database,
        "tasks": len(asyncio.all_tasks()),
        # Not counted: the event loop's default executor (threads named asyncio_N or
        # uvloop_N), a pool that grows to min(32, CPUs + 4) workers and keeps them.
        "threads": sum(
            1 for t in threading.enumerate() if not t.name.startswith(EXECUTOR_THREAD_PREFIXES)
        ),
        "RTCPeerConnection": count(RTCPeerConnection),
        "Peer": count(Peer),
        "Publication": count(Publication),
        "Subscription": count(Subscription),
        "Outbox": count(Outbox),
        "rss_kib": resident_kib(),
    }
