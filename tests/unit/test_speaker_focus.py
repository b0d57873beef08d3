"""Whose video "only who speaks" shows (web/js/speaker-focus.js), run in Node on
timed speaking indicators: who counts as a speaker, for how long, and what a short
sound or a conversation between two does not change. A real browser choosing it is
in tests/e2e/test_visible_video.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.unit.run_in_node import run_node

MODULE = Path(__file__).resolve().parents[2] / "web" / "js" / "speaker-focus.js"

# Each step: ["on" | "off", id, ms], ["tick", ms] or ["forget", id]; after each step,
# whether the speakers changed and whose video is shown (with the therapist "T" pinned).
SCRIPT = """
import { SpeakerFocus } from %(module)s;
const focus = new SpeakerFocus();
const results = [];
for (const [what, a, b] of JSON.parse(process.argv[1])) {
  const changed =
    what === "tick" ? focus.update(a)
    : what === "forget" ? focus.forget(a)
    : focus.speaking(a, what === "on", b);
  results.push([changed, [...focus.shown(["T"])].sort()]);
}
console.log(JSON.stringify(results));
"""


def steps_of(steps: list[list[Any]]) -> list[tuple[bool, list[str]]]:
    return [(changed, shown) for changed, shown in run_node(SCRIPT, steps, MODULE)]


def test_someone_who_speaks_for_a_while_is_shown() -> None:
    results = steps_of([["on", "A", 0], ["tick", 500], ["tick", 850], ["tick", 1200]])
    assert results == [
        (False, ["T"]),
        (False, ["T"]),
        (True, ["A", "T"]),  # 0.8 s of speaking
        (False, ["A", "T"]),
    ]


def test_a_short_sound_changes_nothing() -> None:
    results = steps_of([["on", "A", 0], ["off", "A", 400], ["tick", 1000], ["tick", 3000]])
    assert [shown for _, shown in results] == [["T"]] * 4


def test_speech_with_pauses_counts_within_two_seconds() -> None:
    spells = [["on", "A", 0], ["off", "A", 300], ["on", "A", 700], ["off", "A", 1000]]
    results = steps_of([*spells, ["on", "A", 1400], ["tick", 1650]])
    assert results[-1] == (True, ["A", "T"])  # 300 + 300 + 250 ms within 2 s
    # The same spells spread over longer than the window do not add up.
    spread = [["on", "B", 0], ["off", "B", 500], ["on", "B", 3000], ["tick", 3700]]
    assert steps_of(spread)[-1] == (False, ["T"])


def test_the_last_two_speakers_stay_and_a_third_takes_the_earlier_ones_place() -> None:
    def speaks(person: str, start: int) -> list[list[Any]]:
        return [["on", person, start], ["tick", start + 900], ["off", person, start + 1000]]

    results = steps_of([*speaks("A", 0), *speaks("B", 3000), *speaks("A", 6000)])
    assert results[1] == (True, ["A", "T"])
    assert results[4] == (True, ["A", "B", "T"])
    # A and B talking with each other: the set does not change.
    assert results[7] == (False, ["A", "B", "T"])
    results = steps_of([*speaks("A", 0), *speaks("B", 3000), *speaks("C", 6000)])
    assert results[7] == (True, ["B", "C", "T"])  # A spoke least recently


def test_someone_who_left_is_no_longer_shown() -> None:
    results = steps_of([["on", "A", 0], ["tick", 900], ["forget", "A"], ["forget", "A"]])
    assert results[1:] == [(True, ["A", "T"]), (True, ["T"]), (False, ["T"])]
