"""The bandwidth estimate sent back to a video publisher (as RTCP REMB).

Without simulcast every subscriber gets the same stream, so the publisher should
send no more than the configured cap, no more than the server itself can receive
from it, and no more than its slowest subscriber reports, but never less than a
floor below which video is no longer useful (a weak subscriber must not blank
everyone else's picture).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiortc.rate import (
    MIN_FRAME_PERIOD_HISTORY_LENGTH,
    OveruseEstimator,
    RateCounter,
    RemoteBitrateEstimator,
)

REPORT_LIFETIME = 5.0  # seconds a subscriber's estimate counts
# An outgoing stream's rate is measured over at least this many seconds.
RATE_WINDOW = 1.0
# A subscriber's REMB below this part of its previous one is a decrease: its
# estimator saw its queue grow (libwebrtc then sets 0.85 times what arrives).
DECREASE = 0.95


@dataclass
class BandwidthEstimate:
    cap: int
    floor: int = 150_000
    _incoming: tuple[int, float] | None = None
    _subscribers: dict[int, tuple[int, float]] = field(default_factory=dict)

    def report_incoming(self, bitrate: int, now: float) -> None:
        """The server's own estimate of what arrives from the publisher."""
        self._incoming = (bitrate, now)

    def report_subscriber(self, subscriber: int, bitrate: int, now: float) -> None:
        """A subscriber's REMB for this publication."""
        self._subscribers[subscriber] = (bitrate, now)

    def forget_subscriber(self, subscriber: int) -> None:
        self._subscribers.pop(subscriber, None)

    def target(self, now: float) -> int:
        target = self.cap
        reports = list(self._subscribers.values())
        if self._incoming is not None:
            reports.append(self._incoming)
        for bitrate, at in reports:
            if now - at <= REPORT_LIFETIME:
                target = min(target, bitrate)
        return max(min(self.floor, self.cap), target)


def share_level(total: int, rates: Sequence[float]) -> int:
    """The most each of several streams may carry when a receiver estimates
    `total` bits per second for all of them together, given what each carries
    now (`rates`).

    When they carry more than the total, the level is the max-min fair one: a
    stream below it keeps what it has and leaves the rest to the others (a
    member on a weak uplink, or whose camera shows a still room, sends less
    than an even part). When they carry less, any one of them may grow by what
    is left. A receiver's estimate grows only to about 1.5 times what it
    receives (libwebrtc's AIMD), so an even split would hold a busy stream to
    1.5 times the average of the others."""
    ordered = sorted(rates)
    carried = sum(ordered)
    if not ordered:
        return total
    if carried <= total:
        return int(ordered[-1] + total - carried)
    remaining = float(total)
    for index, rate in enumerate(ordered):
        fair = remaining / (len(ordered) - index)
        if rate >= fair:
            return int(fair)
        remaining -= rate
    return int(remaining)  # not reached: the rates carry more than the total


class SentRate:
    """The bitrate of an outgoing stream, from its byte count, over windows of
    at least RATE_WINDOW seconds (read when a REMB comes, about once a second;
    several reads within one window give the same figure)."""

    def __init__(self) -> None:
        self._mark: tuple[float, int] | None = None
        self.bits_per_second: float | None = None

    def update(self, octets: int, now: float) -> float | None:
        if self._mark is None:
            self._mark = (now, octets)
            return None
        then, before = self._mark
        if now - then >= RATE_WINDOW:
            self.bits_per_second = (octets - before) * 8 / (now - then)
            self._mark = (now, octets)
        return self.bits_per_second


class CongestionSignal:
    """Whether a subscriber's REMBs should hold its publishers back.

    A browser's receive-side estimate starts at what its first stream brings
    and grows by about 8% a second (libwebrtc's AIMD), far behind what arrives
    (seen with Chromium: 145 to 206 kbit/s over three seconds while 280-350
    kbit/s arrived): read as a limit from the start, it held every publisher
    down for tens of seconds after each join. It falls only when the estimator
    sees the subscriber's queue grow. So a subscriber's REMBs limit from their
    first decrease on, rise with its estimate, and stop limiting once the share
    reaches the cap (`released`)."""

    def __init__(self) -> None:
        self._last: int | None = None
        self.limiting = False
        self.episodes = 0  # times it began to limit (a metric)

    def update(self, total: int) -> bool:
        """Note a REMB's total; whether the subscriber's REMBs limit now."""
        last, self._last = self._last, total
        if last is not None and total < last * DECREASE and not self.limiting:
            self.limiting = True
            self.episodes += 1
        return self.limiting

    def released(self) -> None:
        self.limiting = False


class LeanOveruseEstimator(OveruseEstimator):
    """aiortc's delay-based overuse estimator with its minimum-frame-period step
    done by the built-in `min` over a deque instead of a Python loop over a list
    it shifts with pop(0): same results (tests/unit/test_media_logic.py compares
    them), and the step was about half of the estimator's share of the server's
    CPU in a 12-member grid (py-spy)."""

    def __init__(self) -> None:
        super().__init__()
        self._history: deque[float] = deque()

    def update_min_frame_period(self, ts_delta: float) -> float:
        history = self._history
        if len(history) >= MIN_FRAME_PERIOD_HISTORY_LENGTH:
            history.popleft()
        min_frame_period = min(history, default=ts_delta)
        history.append(ts_delta)
        return ts_delta if ts_delta < min_frame_period else min_frame_period


class LeanRateCounter(RateCounter):
    """aiortc's rate counter (what arrived in 1 ms buckets over a window), with the
    buckets in two lists of integers, emptied a slice at a time.

    aiortc's counter empties the buckets that leave the window one by one in a
    Python loop: a video packet every 15-20 ms walks as many buckets, twice (the
    estimator reads the rate, then adds the packet). That loop was the largest
    single part of the estimator, itself about a quarter of what receiving a
    video packet costs (py-spy, 12-member grid). Same buckets, same arithmetic,
    same rates (tests/unit/test_media_logic.py compares them step by step)."""

    def reset(self) -> None:
        self._counts = [0] * self._window_size
        self._values = [0] * self._window_size
        self._origin_index = 0
        self._origin_ms = None
        self._total_count = 0
        self._total_value = 0

    def add(self, value: int, now_ms: int) -> None:
        if self._origin_ms is None:
            self._origin_ms = now_ms
        else:
            self._erase_old(now_ms)
        index = (self._origin_index + now_ms - self._origin_ms) % self._window_size
        self._counts[index] += 1
        self._values[index] += value
        self._total_count += 1
        self._total_value += value

    def rate(self, now_ms: int) -> int | None:
        if self._origin_ms is not None:
            self._erase_old(now_ms)
            active_window_size = now_ms - self._origin_ms + 1
            if self._total_count > 0 and active_window_size > 1:
                return round(self._scale * self._total_value / active_window_size)
        return None

    def _erase_old(self, now_ms: int) -> None:
        assert self._origin_ms is not None
        leaving = now_ms - self._window_size + 1 - self._origin_ms
        if leaving <= 0:
            return
        size = self._window_size
        start = self._origin_index
        if leaving >= size:
            self._counts = [0] * size
            self._values = [0] * size
            self._total_count = 0
            self._total_value = 0
        else:
            end = start + leaving
            for begin, stop in ((start, min(end, size)), (0, end - size)):
                if stop > begin:
                    self._total_count -= sum(self._counts[begin:stop])
                    self._total_value -= sum(self._values[begin:stop])
                    self._counts[begin:stop] = [0] * (stop - begin)
                    self._values[begin:stop] = [0] * (stop - begin)
        self._origin_index = (start + leaving) % size
        self._origin_ms += leaving


def lean_bitrate_estimator() -> RemoteBitrateEstimator:
    """aiortc's receive-side bitrate estimator (for REMB), with the lean overuse
    estimator and rate counter."""
    estimator = RemoteBitrateEstimator()
    estimator.estimator = LeanOveruseEstimator()
    counter = estimator.incoming_bitrate
    estimator.incoming_bitrate = LeanRateCounter(counter._window_size, counter._scale)
    return estimator
