"""How well a participant's line carries the room: good, weak or bad.

A member on a weak home line freezes on everyone's screen and hears the others
in fragments; a therapist who does not know why may read it as the member
withdrawing. The server sees her line from both ends and tells the room
(`connection_quality`, docs/protocol.md), as LiveKit and Jitsi show a quality
indicator on each tile.

Per window of `WINDOW` seconds:
- her way up: the share of her audio packets that never arrived (RTP sequence
  gaps; audio is never sent again, so its loss is the line's, where video's is
  mostly repaired on request);
- her way down: the loss her browser's receiver reports give for the audio
  streams the server sends her (cumulative lost and highest sequence number, so
  the loss is weighted by packets, not by report). A browser reports on an audio
  stream only about every 5 s (libwebrtc: 2.5 to 7.5 s), so most windows have no
  report: a window's downlink level is the lesser of the levels of the two latest
  windows that had reports (two, as two windows in a row make a level for the
  other measures, so that one burst does not), as long as the latest is at most
  `REPORTS_STAND` windows old. Until 2026-12-06 only a window's own reports
  counted, and a browser's weak way down was rarely judged at all, as that needed
  reports in two windows in a row;
- the round trip, from the same reports (round_trip.py).

A window with fewer than `MIN_PACKETS` audio packets expected in a direction
(everyone silent, with DTX) says nothing about that direction's loss. The level
of a window is the worst of the three; the level told rises once two windows in
a row reach it, and falls once three in a row are below it, so that one burst of
loss does not make a tile blink.

With a weak or bad level goes the way it is weak in (`direction`): "up" when only
her own audio's loss reached the level in the windows that decided it (what she
sends suffers: her page may suggest turning her camera off, most of what she
sends), "down" when only the loss on her way down did (what she receives
suffers), "both" when both did or only the round trip did (a round trip cannot
be split into its two ways). While the level holds, "up" or "down" widens to
"both" once the other way has reached the level too in `RISE_AFTER` windows in a
row, and is told again: with loss both ways, whichever way crossed first used to
decide alone for as long as the level held, and a page whose way down is weak
holds the videos it shows a little longer only when it is told so
(web/js/steady-video.js). It never narrows while the level holds, so that a tile's
words do not switch back and forth.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum

WINDOW = 2.0  # seconds
MIN_PACKETS = 20
WEAK_LOSS = 0.03
BAD_LOSS = 0.10
WEAK_ROUND_TRIP = 0.4  # seconds
BAD_ROUND_TRIP = 1.0
# Windows that the latest downlink reports stand for (8 s: longer than libwebrtc's
# longest interval between two reports on an audio stream, 7.5 s).
REPORTS_STAND = 4
RISE_AFTER = 2  # windows in a row at a worse level
FALL_AFTER = 3  # windows in a row below the level
UP, DOWN, BOTH = "up", "down", "both"


class Quality(IntEnum):
    GOOD = 0
    WEAK = 1
    BAD = 2

    @property
    def label(self) -> str:
        """The protocol's name for it."""
        return self.name.lower()


def loss_level(lost: int, expected: int) -> Quality | None:
    """The level of a loss of `lost` packets out of `expected`; None if too few
    packets were expected to tell."""
    if expected < MIN_PACKETS:
        return None
    share = max(0, lost) / expected
    if share >= BAD_LOSS:
        return Quality.BAD
    return Quality.WEAK if share >= WEAK_LOSS else Quality.GOOD


def round_trip_level(seconds: float | None) -> Quality | None:
    if seconds is None:
        return None
    if seconds >= BAD_ROUND_TRIP:
        return Quality.BAD
    return Quality.WEAK if seconds >= WEAK_ROUND_TRIP else Quality.GOOD


class DownlinkReports:
    """What the receiver reports on one outgoing audio stream said since the
    previous one: packets expected, and lost on the way from the server. A packet
    its publisher lost on her way up leaves a gap in the stream too (the server
    keeps a publisher's gaps, so that the browser's jitter buffer and Opus's FEC see
    them), which every subscriber of hers reports: that part is taken out."""

    def __init__(self) -> None:
        # (source, highest sequence, lost, the publisher's own loss), cumulative.
        self._last: tuple[int, int, int, int] | None = None

    def report(
        self, source: int, highest_sequence: int, packets_lost: int, upstream_lost: int
    ) -> tuple[int, int]:
        """(expected, lost downstream) since the previous report of this stream from
        the same `source` (any key that tells publishers apart), given the report's
        cumulative highest sequence number and loss, and the publisher's own
        cumulative loss now. (0, 0) for the first report, the first after the slot
        passed to another publisher, and one whose count went backwards."""
        last = self._last
        self._last = (source, highest_sequence, packets_lost, upstream_lost)
        if last is None or last[0] != source:
            return 0, 0
        expected = highest_sequence - last[1]
        if not 0 < expected < 2**16:
            return 0, 0
        lost = (packets_lost - last[2]) - max(0, upstream_lost - last[3])
        return expected, min(expected, max(0, lost))


@dataclass(frozen=True, slots=True)
class Window:
    """One window's levels: each measure's (None: too few packets to tell, or no
    round trip yet) and the worst of them."""

    up: Quality | None
    down: Quality | None
    round_trip: Quality | None

    @property
    def level(self) -> Quality:
        known = [q for q in (self.up, self.down, self.round_trip) if q is not None]
        return max(known, default=Quality.GOOD)


def direction_of(windows: list[Window], level: Quality) -> str:
    """Which way the line is weak, from the windows that decided `level`; "" for a
    good line."""
    if level == Quality.GOOD:
        return ""
    up = any(w.up is not None and w.up >= level for w in windows)
    down = any(w.down is not None and w.down >= level for w in windows)
    if up and not down:
        return UP
    if down and not up:
        return DOWN
    return BOTH


class ConnectionQuality:
    """One participant's line: fed with packet counts, judged once per window."""

    def __init__(self) -> None:
        self.level = Quality.GOOD  # as told
        self.direction = ""  # as told with it (direction_of)
        self.worsened = 0  # times the level told rose (good to weak, weak to bad...)
        self._down_expected = 0
        self._down_lost = 0
        self._up_last: tuple[int, int] | None = None  # (received, lost) of her audio
        # Levels of the latest two windows with downlink reports, and the windows since.
        self._down_levels: deque[Quality] = deque(maxlen=2)
        self._down_age = 0
        self._windows: deque[Window] = deque(maxlen=max(RISE_AFTER, FALL_AFTER))

    def downlink(self, expected: int, lost: int) -> None:
        """A receiver report of hers on an audio stream the server sends her."""
        self._down_expected += expected
        self._down_lost += lost

    def judge(
        self, audio_received: int, audio_lost: int, round_trip: float | None
    ) -> Quality | None:
        """End a window: her audio publication's counts so far (received and lost,
        both cumulative) and the round trip (None until measured). Returns the
        level when it or its direction changes, else None."""
        up: Quality | None = None
        if self._up_last is not None:
            received = audio_received - self._up_last[0]
            lost = max(0, audio_lost - self._up_last[1])
            up = loss_level(lost, received + lost)
        self._up_last = (audio_received, audio_lost)
        reported = loss_level(self._down_lost, self._down_expected)
        self._down_expected = self._down_lost = 0
        if reported is not None:
            self._down_levels.append(reported)
            self._down_age = 0
        else:
            self._down_age += 1
        down: Quality | None = None
        if len(self._down_levels) == 2 and self._down_age < REPORTS_STAND:
            down = min(self._down_levels)
        self._windows.append(Window(up, down, round_trip_level(round_trip)))
        return self._decide()

    def _decide(self) -> Quality | None:
        recent = list(self._windows)
        rising = recent[-RISE_AFTER:]
        if len(rising) == RISE_AFTER and min(w.level for w in rising) > self.level:
            self._tell(min(w.level for w in rising), rising)
            self.worsened += 1
            return self.level
        falling = recent[-FALL_AFTER:]
        if len(falling) == FALL_AFTER and max(w.level for w in falling) < self.level:
            self._tell(max(w.level for w in falling), falling)
            return self.level
        if len(rising) == RISE_AFTER and self._widens(rising):
            self.direction = BOTH
            return self.level
        return None

    def _widens(self, recent: list[Window]) -> bool:
        """Whether the other way than the one told reached the level in each of the
        `recent` windows (the level and "up" or "down" told before)."""
        level = self.level
        if self.direction == UP:
            return all(w.down is not None and w.down >= level for w in recent)
        if self.direction == DOWN:
            return all(w.up is not None and w.up >= level for w in recent)
        return False

    def _tell(self, level: Quality, deciding: list[Window]) -> None:
        self.level = level
        self.direction = direction_of(deciding, level)
