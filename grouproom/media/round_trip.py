"""The round trip between the server and one participant's browser.

Measured the way RTCP measures it (RFC 3550, 6.4.1): the browser's receiver
reports on the streams the server sends it name the last sender report they saw
(LSR, the middle 32 bits of its NTP timestamp) and how long ago it arrived (DLSR,
in 1/65536 s); the server knows when it sent that report. The server's sender
reports carry their publishers' NTP timestamps (for lip sync), not its own
clock, so the send time is looked up by the LSR value.

One per peer connection: everything is bundled on one path, so the round trip
measured on the streams the browser receives is that of the streams it sends,
and the server's NACKs to the publisher are repeated once per round trip.
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT = 0.1  # seconds, until measured (as mediasoup)
REMEMBERED_REPORTS = 256  # sender reports sent and not yet answered
SMOOTHING = 1 / 8  # weight of a new measurement (as TCP's SRTT)
LONGEST = 5.0  # seconds; anything longer is a stale or wrong report


def middle_ntp_bits(ntp_timestamp: int) -> int:
    """The LSR value a receiver report gives for a sender report with this NTP
    timestamp (64-bit fixed point)."""
    return (ntp_timestamp >> 16) & 0xFFFFFFFF


class RoundTrip:
    def __init__(self) -> None:
        self.measured: float | None = None  # smoothed, seconds
        self._sent: OrderedDict[int, float] = OrderedDict()

    @property
    def seconds(self) -> float:
        return DEFAULT if self.measured is None else self.measured

    def report_sent(self, ntp_timestamp: int, now: float) -> None:
        """A sender report with this NTP timestamp left at `now` (monotonic)."""
        key = middle_ntp_bits(ntp_timestamp)
        self._sent[key] = now
        self._sent.move_to_end(key)
        while len(self._sent) > REMEMBERED_REPORTS:
            self._sent.popitem(last=False)

    def report_answered(self, lsr: int, dlsr: int, now: float) -> None:
        """A receiver report block naming the sender report `lsr`, received `dlsr`
        / 65536 s before the block was sent."""
        sent = self._sent.get(lsr) if lsr else None
        if sent is None:
            return
        sample = now - sent - dlsr / 65536
        if not 0 <= sample <= LONGEST:
            return
        if self.measured is None:
            self.measured = sample
        else:
            self.measured += SMOOTHING * (sample - self.measured)
