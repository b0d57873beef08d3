"""Asking a publisher again for the packets that did not arrive (NACK).

aiortc's NackGenerator names a lost packet when the next one shows the gap, and
after that only when another gap appears, with every packet still missing. On a
weak home line (loss both ways, a round trip of 300 ms) that repeats some requests
far too often and others never: a request or a retransmission that is lost too
leaves a packet missing until the next gap, or for good, and the frame it belongs
to (and every frame after it, up to the next keyframe) cannot be decoded by anyone
in the room.

`NackRequests` asks at once when a gap shows, then again each round trip as long
as the packet is missing, at most `MAX_REQUESTS` times, as libwebrtc's receivers
and mediasoup do. A packet further back than `MAX_AGE` is given up (the
publisher no longer keeps it); more than `MAX_MISSING` at once means the
stream restarted or the line was down, and the list is cleared: only a keyframe
helps then, and the caller asks for one.
"""

from __future__ import annotations

from dataclasses import dataclass

SEQ_MOD = 1 << 16
HALF_SEQ = SEQ_MOD // 2
MAX_REQUESTS = 10
MAX_AGE = 1000  # packets (libwebrtc's senders keep about 1,000 for retransmission)
MAX_MISSING = 300
# A request is repeated once this long has passed, round trip unknown or shorter.
MIN_INTERVAL = 0.02
NOTHING: tuple[int, ...] = ()


@dataclass(slots=True)
class Request:
    asked_at: float  # when it was last asked for
    count: int  # how often it was asked for


class NackRequests:
    def __init__(self) -> None:
        self.highest: int | None = None
        self.missing: dict[int, Request] = {}
        self.requests = 0  # sequence numbers asked for, repeats counted
        self.given_up = 0  # missing packets no longer asked for

    def received(self, seq: int, now: float) -> tuple[int, ...] | None:
        """Note one packet; returns the sequence numbers to ask for at once (the
        gap it shows), or None when the gap is too large to ask for: the stream
        restarted or too much is missing, and a keyframe is wanted."""
        highest = self.highest
        if highest is None:
            self.highest = seq
            return NOTHING
        ahead = (seq - highest) % SEQ_MOD
        if ahead == 1:
            self.highest = seq
            return NOTHING
        if ahead == 0:
            return NOTHING  # a duplicate
        if ahead >= HALF_SEQ:
            # Older than the highest: late, or a retransmission.
            self.missing.pop(seq, None)
            return NOTHING
        self.highest = seq
        if ahead - 1 + len(self.missing) > MAX_MISSING:
            self.given_up += len(self.missing)
            self.missing.clear()
            return None
        self._forget_far_behind()
        gap = tuple((highest + step) % SEQ_MOD for step in range(1, ahead))
        for lost in gap:
            self.missing[lost] = Request(now, 1)
        self.requests += len(gap)
        return gap

    def due(self, now: float, round_trip: float) -> list[int]:
        """The missing packets to ask for again: those last asked for at least one
        round trip ago. Each is asked for at most MAX_REQUESTS times."""
        interval = max(round_trip, MIN_INTERVAL)
        again: list[int] = []
        for seq, request in list(self.missing.items()):
            if now - request.asked_at < interval:
                continue
            if request.count >= MAX_REQUESTS:
                del self.missing[seq]
                self.given_up += 1
                continue
            request.asked_at = now
            request.count += 1
            again.append(seq)
        self.requests += len(again)
        return again

    def reset(self) -> None:
        """The stream starts over (a new SSRC): nothing before counts."""
        self.given_up += len(self.missing)
        self.missing.clear()
        self.highest = None

    def _forget_far_behind(self) -> None:
        """Give up the missing packets more than MAX_AGE behind the highest."""
        highest = self.highest
        assert highest is not None
        for seq in [seq for seq in self.missing if (highest - seq) % SEQ_MOD > MAX_AGE]:
            del self.missing[seq]
            self.given_up += 1
