"""The judgement of a participant's line: loss both ways and the round trip, with
the hysteresis that keeps a tile from blinking."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from grouproom.media.connection_quality import (
    FALL_AFTER,
    REPORTS_STAND,
    RISE_AFTER,
    ConnectionQuality,
    DownlinkReports,
    Quality,
    Window,
    direction_of,
    loss_level,
    round_trip_level,
)


def test_levels_of_loss_and_round_trip() -> None:
    assert loss_level(0, 100) is Quality.GOOD
    assert loss_level(2, 100) is Quality.GOOD
    assert loss_level(3, 100) is Quality.WEAK
    assert loss_level(10, 100) is Quality.BAD
    assert loss_level(5, 19) is None  # too few packets to tell
    assert round_trip_level(None) is None
    assert round_trip_level(0.1) is Quality.GOOD
    assert round_trip_level(0.5) is Quality.WEAK
    assert round_trip_level(1.2) is Quality.BAD


def test_a_downlink_report_leaves_out_what_the_publisher_lost() -> None:
    stream = DownlinkReports()
    assert stream.report(1, 1000, 0, 0) == (0, 0)  # the first says nothing yet
    # 100 packets further, 12 lost: 10 of them never reached the server.
    assert stream.report(1, 1100, 12, 10) == (100, 2)
    # The publisher's loss can exceed what the report saw (timing): never below 0.
    assert stream.report(1, 1200, 13, 25) == (100, 0)
    # The slot passes to another publisher: a fresh start.
    assert stream.report(2, 1300, 50, 0) == (0, 0)
    assert stream.report(2, 1350, 55, 0) == (50, 5)
    # A count that goes backwards (a restarted stream) says nothing.
    assert stream.report(2, 900, 0, 0) == (0, 0)


class Line:
    """One participant's ConnectionQuality, fed a window at a time: her audio's
    packets received and lost in the window, optionally a receiver report's
    (expected, lost) on her way down, and the round trip."""

    def __init__(self) -> None:
        self.quality = ConnectionQuality()
        self.received = self.lost = 0
        assert self.step(0, 0) is None  # the first window: a baseline

    def step(
        self,
        got: int,
        missing: int,
        down: tuple[int, int] | None = None,
        round_trip: float | None = 0.05,
    ) -> Quality | None:
        self.received, self.lost = self.received + got, self.lost + missing
        if down is not None:
            self.quality.downlink(*down)
        return self.quality.judge(self.received, self.lost, round_trip)


def test_the_level_rises_after_two_windows_and_falls_after_three() -> None:
    line = Line()
    quality, step = line.quality, line.step
    assert step(100, 20) is None  # one bad window is not enough
    assert step(100, 0) is None
    assert step(100, 20) is None
    assert step(100, 20) is Quality.BAD
    assert quality.level is Quality.BAD and quality.direction == "up"  # her own audio
    assert step(100, 5) is None  # better, but not for long enough yet
    assert step(100, 5) is None
    assert step(100, 0) is Quality.WEAK  # three windows below bad: the worst of them
    assert quality.direction == "up"
    assert step(100, 0) is None
    assert step(100, 0) is Quality.GOOD
    assert quality.direction == ""
    # A long round trip alone makes a line weak, either way; silence (no packets)
    # says nothing.
    assert step(0, 0, round_trip=0.6) is None
    assert step(0, 0, round_trip=0.6) is Quality.WEAK
    assert quality.direction == "both"
    # Her downlink: her receiver reports on the audio the server sends her.
    # (Two windows with reports make a downlink level, then two windows at it.)
    for _ in range(RISE_AFTER + 1):
        change = step(100, 0, (100, 15))
    assert change is Quality.BAD and quality.direction == "down"


def test_the_way_a_line_is_weak_in_is_the_measures_that_reached_the_level() -> None:
    weak, bad, good = Quality.WEAK, Quality.BAD, Quality.GOOD
    assert direction_of([Window(bad, good, None), Window(weak, None, None)], weak) == "up"
    assert direction_of([Window(good, bad, None), Window(None, weak, good)], weak) == "down"
    # Up in one window, down in the other: both.
    assert direction_of([Window(weak, good, None), Window(good, weak, None)], weak) == "both"
    # A weak downlink does not count for a bad level reached by her uplink alone.
    assert direction_of([Window(bad, weak, None), Window(bad, weak, None)], bad) == "up"
    assert direction_of([Window(good, good, bad), Window(None, None, bad)], bad) == "both"
    assert direction_of([Window(good, good, good)], good) == ""


def test_the_downlink_reports_of_a_window_stand_for_the_windows_after_it() -> None:
    """Browsers report on an audio stream every 2.5-7.5 s: a way down that loses 5%
    is judged weak from reports in every second or third window; one report alone
    does not make it; without reports for REPORTS_STAND windows it says nothing."""
    line = Line()
    assert line.step(100, 0, (250, 15)) is None  # one report alone: not yet
    assert line.step(100, 0) is None
    assert line.step(100, 0, (250, 12)) is None  # two: the first weak window
    assert line.step(100, 0) is Quality.WEAK  # and it stands for the next
    assert line.quality.direction == "down"
    # A good report and a weak one: the lesser counts, the line is good again after
    # three windows below the level.
    assert line.step(100, 0, (250, 1)) is None
    assert line.step(100, 0) is None
    assert line.step(100, 0) is Quality.GOOD
    # Weak reports long ago say nothing of now.
    line = Line()
    assert line.step(100, 0, (250, 15)) is None
    assert line.step(100, 0, (250, 15)) is None
    for _ in range(REPORTS_STAND - 1):
        line.step(100, 0)
    assert line.quality.level is Quality.WEAK
    assert line.quality.judge(line.received, line.lost, 0.05) is None  # too old now
    assert [line.step(100, 0) for _ in range(FALL_AFTER - 1)] == [None, Quality.GOOD]


def test_a_way_that_reaches_the_level_later_widens_the_direction_to_both() -> None:
    """Loss both ways: her uplink crossed first and was told alone; once her downlink
    has been as weak for two windows in a row, "both" is told, at the same level.
    It does not narrow again while the level holds."""
    line = Line()
    assert line.step(100, 5, (100, 1)) is None
    assert line.step(100, 5, (100, 2)) is Quality.WEAK
    assert line.quality.direction == "up"
    assert line.step(100, 5, (100, 5)) is None  # the lesser of the last two: good
    assert line.step(100, 5, (100, 1)) is None
    assert line.step(100, 5, (100, 5)) is None
    assert line.step(100, 5, (100, 5)) is None  # one window weak on the way down
    assert line.step(100, 5) is Quality.WEAK  # two (the reports stand): both
    assert line.quality.direction == "both" and line.quality.worsened == 1
    assert line.step(100, 5, (100, 0)) is None  # the downlink recovers: still both
    assert line.step(100, 5, (100, 0)) is None
    assert line.quality.direction == "both"
    # A way that is only weak does not widen a bad level.
    line = Line()
    assert line.step(100, 20, (100, 4)) is None
    assert line.step(100, 20, (100, 4)) is Quality.BAD
    assert line.quality.direction == "up"
    for _ in range(3):
        assert line.step(100, 20, (100, 4)) is None
    assert line.quality.direction == "up"
    # And the other way round: told "down", widened by her own audio's loss.
    line = Line()
    assert line.step(100, 0, (100, 5)) is None
    assert line.step(100, 0, (100, 5)) is None
    assert line.step(100, 0, (100, 5)) is Quality.WEAK
    assert line.quality.direction == "down"
    assert line.step(100, 4, (100, 5)) is None
    assert line.step(100, 4, (100, 5)) is Quality.WEAK
    assert line.quality.direction == "both"


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 60)), max_size=40))
def test_a_change_is_told_only_when_windows_agree(windows: list[tuple[int, int]]) -> None:
    quality = ConnectionQuality()
    received = lost = 0
    judged: list[Quality] = []
    quality.judge(0, 0, None)
    for got, missing in windows:
        received, lost = received + got, lost + missing
        level = loss_level(missing, got + missing) or Quality.GOOD
        judged.append(level)
        before = quality.level
        change = quality.judge(received, lost, None)
        assert change is None or change is quality.level
        if quality.level > before:
            assert min(judged[-RISE_AFTER:]) == quality.level
        elif quality.level < before:
            assert max(judged[-FALL_AFTER:]) == quality.level
