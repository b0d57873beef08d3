"""The bandwidth estimate sent back to a video publisher (as RTCP REMB).

Without simulcast every subscriber gets the same stream, so the publisher should
send no more than the configured cap, no more than the server itself can receive
from it, and no more than its slowest subscriber reports, but never less than a
floor below which video is no longer useful (a weak subscriber must not blank
everyone else's picture).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiortc.rate import (
    BURST_DELTA_THRESHOLD_MS,
    DELTA_COUNTER_MAX,
    MIN_FRAME_PERIOD_HISTORY_LENGTH,
    TIMESTAMP_TO_MS,
    BandwidthUsage,
    OveruseEstimator,
    RateCounter,
    RemoteBitrateEstimator,
    TimestampGroup,
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
    """aiortc's delay-based overuse estimator (a Kalman filter run once per group
    of packets, about once per video frame) with its minimum-frame-period step
    done by the built-in `min` over a deque instead of a Python loop over a list
    it shifts with pop(0), and its filter step on local numbers instead of
    four small lists made per call. The same arithmetic in the same order (a
    product with the filter's constant 1.0 left out, which changes no bit): the
    same state and results (tests/unit/test_media_logic.py compares them)."""

    def __init__(self) -> None:
        super().__init__()
        self._history: deque[float] = deque()

    def update(
        self,
        time_delta_ms: int,
        timestamp_delta_ms: float,
        size_delta: int,
        current_hypothesis: BandwidthUsage,
        now_ms: int,
    ) -> None:
        min_frame_period = self.update_min_frame_period(timestamp_delta_ms)
        t_ts_delta = time_delta_ms - timestamp_delta_ms
        self._num_of_deltas = min(self._num_of_deltas + 1, DELTA_COUNTER_MAX)

        # The filter's covariance (E) and measurement vector (size_delta, 1.0).
        row0, row1 = self.E
        process_noise = self.process_noise
        e00 = row0[0] + process_noise[0]
        e01 = row0[1]
        e10 = row1[0]
        e11 = row1[1] + process_noise[1]
        offset = self._offset
        if (current_hypothesis == BandwidthUsage.OVERUSING and offset < self.previous_offset) or (
            current_hypothesis == BandwidthUsage.UNDERUSING and offset > self.previous_offset
        ):
            e11 += 10 * process_noise[1]
        eh0 = e00 * size_delta + e01
        eh1 = e10 * size_delta + e11

        residual = t_ts_delta - self.slope * size_delta - offset
        if current_hypothesis == BandwidthUsage.NORMAL:
            max_residual = 3.0 * math.sqrt(self.var_noise)
            if abs(residual) < max_residual:
                self.update_noise_estimate(residual, min_frame_period)
            else:
                self.update_noise_estimate(
                    -max_residual if residual < 0 else max_residual, min_frame_period
                )

        denominator = self.var_noise + size_delta * eh0 + eh1
        k0 = eh0 / denominator
        k1 = eh1 / denominator
        ikh00 = 1.0 - k0 * size_delta
        ikh10 = -k1 * size_delta
        ikh11 = 1.0 - k1
        row0[0] = e00 * ikh00 + e10 * -k0
        row0[1] = e01 * ikh00 + e11 * -k0
        row1[0] = e00 * ikh10 + e10 * ikh11
        row1[1] = e01 * ikh10 + e11 * ikh11

        self.previous_offset = offset
        self.slope += k0 * residual
        self._offset = offset + k1 * residual

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


class LeanBitrateEstimator(RemoteBitrateEstimator):
    """aiortc's receive-side bitrate estimator (for REMB), with the lean overuse
    estimator and rate counter, and its step for each packet in one function.

    aiortc's `add` takes each video packet through about ten method calls: the
    rate counter is read (only to learn whether it has a rate) and then added
    to, each time emptying the buckets that left its window, and the packet's
    send time goes through the inter-arrival filter's four small methods. Most
    packets end there: the filter has work only when a new group of packets (a
    frame) begins, and the rate control every half second. Here that common step
    is one function on the same state (the counter's buckets, the filter's two
    timestamp groups); the per-group and per-update steps stay aiortc's. Same
    state, same estimates (tests/unit/test_media_logic.py compares them with
    aiortc's, packet by packet).

    The compiled publication step repeats `add` on the same state (its
    `estimator_add` in _copy_step.c): count_and_group and update_due, and the
    filter's step of after_grouping; it calls after_grouping only for the rate
    control's step. The same tests take both."""

    incoming_bitrate: LeanRateCounter

    def __init__(self) -> None:
        super().__init__()
        self.estimator = LeanOveruseEstimator()
        counter = self.incoming_bitrate
        self.incoming_bitrate = LeanRateCounter(counter._window_size, counter._scale)
        self._feedback_interval_ms = self.rate_control.feedback_interval()

    def add(
        self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int
    ) -> tuple[int, list[int]] | None:
        deltas = self.count_and_group(arrival_time_ms, abs_send_time, payload_size, ssrc)
        if deltas is None and not self.update_due(arrival_time_ms):
            return None
        return self.after_grouping(deltas, arrival_time_ms)

    def count_and_group(
        self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int
    ) -> tuple[int, int, int] | None:
        """The step for every packet: counted in the incoming rate and in its group
        of send times; the deltas between the last two groups when it began a
        new one (the compiled publication step repeats this, _copy_step.c)."""
        timestamp = abs_send_time << 8
        self.ssrcs[ssrc] = arrival_time_ms

        # The incoming rate: aiortc reads it first (a counter left without a rate,
        # after a pause longer than its window, starts afresh), then adds the packet.
        counter = self.incoming_bitrate
        origin = counter._origin_ms
        has_rate = False
        if origin is not None:
            if arrival_time_ms - counter._window_size + 1 > origin:
                counter._erase_old(arrival_time_ms)
                origin = arrival_time_ms - counter._window_size + 1
            has_rate = counter._total_count > 0 and arrival_time_ms > origin
        if has_rate:
            self.incoming_bitrate_initialized = True
        elif self.incoming_bitrate_initialized:
            counter.reset()
            self.incoming_bitrate_initialized = False
            origin = None
        if origin is None:
            counter._origin_ms = origin = arrival_time_ms
        index = (counter._origin_index + arrival_time_ms - origin) % counter._window_size
        counter._counts[index] += 1
        counter._values[index] += payload_size
        counter._total_count += 1
        counter._total_value += payload_size

        # The inter-arrival filter (aiortc's InterArrival.compute_deltas, inlined).
        arrival = self.inter_arrival
        group = arrival.current_group
        deltas: tuple[int, int, int] | None = None
        if group is None:
            group = arrival.current_group = TimestampGroup(timestamp)
        else:
            # Set when the group was made, and its arrival with its first packet.
            first, last, arrived = group.first_timestamp, group.last_timestamp, group.arrival_time
            assert first is not None and last is not None and arrived is not None
            since_first = (timestamp - first) & 0xFFFFFFFF
            since_last = (timestamp - last) & 0xFFFFFFFF
            if since_first >= 0x80000000:
                group = None  # out of order: counted in no group
            else:
                since_last_ms = round(arrival.timestamp_to_ms * since_last)
                arrived_after = arrival_time_ms - arrived
                in_burst = since_last_ms == 0 or (
                    arrived_after - since_last_ms < 0 and arrived_after <= BURST_DELTA_THRESHOLD_MS
                )
                if not in_burst and since_first > arrival.group_length:
                    previous = arrival.previous_group
                    if previous is not None:
                        previous_last, previous_arrived = (
                            previous.last_timestamp,
                            previous.arrival_time,
                        )
                        assert previous_last is not None and previous_arrived is not None
                        deltas = (
                            (last - previous_last) & 0xFFFFFFFF,
                            arrived - previous_arrived,
                            group.size - previous.size,
                        )
                    arrival.previous_group = group
                    group = arrival.current_group = TimestampGroup(timestamp)
                elif 0 < since_last < 0x80000000:  # a later send time, modulo 2^32
                    group.last_timestamp = timestamp
        if group is not None:
            group.size += payload_size
            group.arrival_time = arrival_time_ms
        return deltas

    def update_due(self, arrival_time_ms: int) -> bool:
        """Whether the rate control updates at this packet."""
        last_update_ms = self.last_update_ms
        return (
            last_update_ms is None
            or arrival_time_ms - last_update_ms > self._feedback_interval_ms
            or self.detector.hypothesis == BandwidthUsage.OVERUSING
        )

    def after_grouping(
        self, deltas: tuple[int, int, int] | None, arrival_time_ms: int
    ) -> tuple[int, list[int]] | None:
        """The filter's step when a group ended, then the rate control's when due."""
        detector = self.detector
        if deltas is not None:
            timestamp_delta_ms = deltas[0] * TIMESTAMP_TO_MS
            estimator = self.estimator
            estimator.update(
                deltas[1], timestamp_delta_ms, deltas[2], detector.state(), arrival_time_ms
            )
            detector.detect(
                estimator.offset(), timestamp_delta_ms, estimator.num_of_deltas(), arrival_time_ms
            )

        if self.update_due(arrival_time_ms):
            counter = self.incoming_bitrate
            target_bitrate = self.rate_control.update(
                detector.state(), counter.rate(arrival_time_ms), arrival_time_ms
            )
            if target_bitrate is not None:
                self.last_update_ms = arrival_time_ms
                return target_bitrate, list(self.ssrcs.keys())
        return None
