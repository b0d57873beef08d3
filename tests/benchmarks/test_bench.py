"""The performance bench still works: a short run of `scripts/bench --quick` with
grouproom and Janus, checked for what the figures are made of (every bot joined,
every packet delivered, a first frame for every subscriber). The bench reports
speed; this test asserts none."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks.bot_media import speaks

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="the bench makes a network namespace: root and unshare are needed",
)


def test_a_quick_bench_measures_grouproom_and_janus() -> None:
    servers = ["grouproom"] + (["janus"] if shutil.which("janus") else [])
    run = subprocess.run(
        [str(ROOT / "scripts/bench"), "--quick", "--servers", *servers],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    records = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert [record["server"] for record in records] == servers
    for record in records:
        assert record["joined"] == 3, record
        assert record["delivery_ratio"] >= 0.99, record
        assert record["packets_per_second"] > 0, record
        assert record["us_per_packet"] > 0, record
        assert record["first_frame_ms"] is not None, record
        assert record["delay_p50_ms"] is not None, record
        # Audio's own tail, within the whole one's range of buckets.
        assert record["audio_delay_p99_ms"] is not None, record
        assert record["note"] == "", record


def test_talking_bots_speak_one_at_a_time_and_all_in_turn() -> None:
    members, seconds = 12, 5.0
    turns: dict[int, int] = {}
    for step in range(2 * members * 10):  # two rounds, ten looks per turn
        now = 1_000.0 + step * seconds / 10
        speaking = [bot for bot in range(1, members + 1) if speaks(bot, now, seconds, members)]
        assert len(speaking) == 1, (now, speaking)
        turns[speaking[0]] = turns.get(speaking[0], 0) + 1
    assert turns == {bot: 20 for bot in range(1, members + 1)}
