"""benchmarks/send_path.py still measures the hot path it names: a short run,
checked for its output. It reports speed; this test asserts none."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks/send_path.py"


def run(*arguments: str) -> str:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_two_checkouts_are_measured_turn_about() -> None:
    # The same checkout as its own baseline: both sides run and are compared.
    output = run("--baseline", str(ROOT), "--repeat", "1", "--rounds", "1")
    this = re.search(r"^this: ([0-9.]+) µs per forwarded packet", output, re.M)
    baseline = re.search(r"^baseline: ([0-9.]+) µs per forwarded packet", output, re.M)
    assert this and baseline, output
    assert float(this.group(1)) > 0 and float(baseline.group(1)) > 0
    assert re.search(r"^this / baseline: [0-9.]+$", output, re.M), output


def test_real_datagrams_to_a_sink_on_loopback() -> None:
    output = run("--kernel", "--repeat", "1", "--rounds", "1")
    assert re.search(r"^this: [0-9.]+ µs per forwarded packet", output, re.M), output
