"""Audio before video: a publisher's video is forwarded in slices between turns
of the event loop, its audio at once.

A room is one event loop, and forwarding one packet costs its number of
subscribers times the work of one copy. A keyframe arrives as a burst (in the
bench's clip up to 42 packets, each forwarded to eleven subscribers in a
12-member grid: several milliseconds of work), and an audio packet of another
member that arrives meanwhile used to wait until the whole burst had gone out.
Speech that stalls is what people notice; a video frame a few milliseconds
later is not (the browser's jitter buffer waits for the whole frame anyway).

So a video packet is queued per event loop, and the queue is worked off
`SLICE` packets per turn of the loop: between two slices the loop reads the
socket again, and audio that arrived is forwarded before the rest of the
video. The order of one publisher's packets is kept (one queue, first in
first out). Should the queue ever grow past `LIMIT` (a server that cannot
keep up), it is worked off at once, so memory stays bounded and the kernel's
socket buffer takes the back-pressure as before.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

if TYPE_CHECKING:
    from grouproom.media.publication import ForwardedPacket, Publication

# Video packets forwarded per turn of the event loop: in a 12-member grid
# about 44 copies, well under a millisecond, before the socket is read again.
SLICE = 4
# Queued video packets beyond which the queue is worked off without pausing.
LIMIT = 2000


class VideoFanOut:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: deque[tuple[Publication, ForwardedPacket, float]] = deque()
        self._scheduled = False

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, publication: Publication, forwarded: ForwardedPacket, now: float) -> None:
        queue = self._queue
        queue.append((publication, forwarded, now))
        if len(queue) > LIMIT:
            self._work(len(queue))
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._next_slice)

    def _next_slice(self) -> None:
        self._scheduled = False
        self._work(SLICE)
        if self._queue and not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._next_slice)

    def _work(self, count: int) -> None:
        queue = self._queue
        for _ in range(min(count, len(queue))):
            publication, forwarded, now = queue.popleft()
            publication.forward(forwarded, now)


_fan_outs: WeakKeyDictionary[asyncio.AbstractEventLoop, VideoFanOut] = WeakKeyDictionary()


def fan_out_for(loop: asyncio.AbstractEventLoop) -> VideoFanOut:
    """The video queue of this event loop (one per process and loop)."""
    fan_out = _fan_outs.get(loop)
    if fan_out is None:
        fan_out = _fan_outs[loop] = VideoFanOut(loop)
    return fan_out
