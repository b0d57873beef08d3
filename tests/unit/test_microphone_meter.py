"""The microphone bar before entering (web/js/audio-level.js `meterValue`), run in
Node: where a level sits on it. A real browser's bar moving with its microphone is
in tests/e2e/test_prejoin_and_language.py."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.unit.run_in_node import run_node

MODULE = Path(__file__).resolve().parents[2] / "web" / "js" / "audio-level.js"
SCRIPT = """
import { meterValue } from %(module)s;
const levels = JSON.parse(process.argv[1]).map((level) => (level === null ? NaN : level));
console.log(JSON.stringify(levels.map(meterValue)));
"""


def on_the_bar(levels: Sequence[float | None]) -> list[float]:
    values: list[float] = run_node(SCRIPT, levels, MODULE)
    return values


def test_the_bar_reads_decibels_from_a_quiet_room_to_a_raised_voice() -> None:
    # -60 dB and below: empty; ordinary speech (-30 dB) a little over half; -10 dB full.
    levels = [0.0, 1e-4, 1e-3, 1e-2, 10**-1.5, 0.1, 10**-0.5, 1.0, 2.0]
    expected = [0.0, 0.0, 0.0, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0]
    assert on_the_bar(levels) == pytest.approx(expected, abs=1e-9)


def test_the_bar_never_moves_back_as_the_level_rises_and_ignores_nonsense() -> None:
    sweep = [10 ** (-4 + step / 20) for step in range(100)]
    values = on_the_bar(sweep)
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == 1.0
    assert on_the_bar([None, -0.5, 1e300]) == [0.0, 0.0, 1.0]
