"""The bandwidth estimate sent back to a video publisher (as RTCP REMB).

Without simulcast every subscriber gets the same stream, so the publisher should
send no more than the configured cap, no more than the server itself can receive
from it, and no more than its slowest subscriber reports, but never less than a
floor below which video is no longer useful (a weak subscriber must not blank
everyone else's picture).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from aiortc.rate import MIN_FRAME_PERIOD_HISTORY_LENGTH, OveruseEstimator, RemoteBitrateEstimator

REPORT_LIFETIME = 5.0  # seconds a subscriber's estimate counts


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


def lean_bitrate_estimator() -> RemoteBitrateEstimator:
    """aiortc's receive-side bitrate estimator (for REMB), with the lean overuse estimator."""
    estimator = RemoteBitrateEstimator()
    estimator.estimator = LeanOveruseEstimator()
    return estimator
