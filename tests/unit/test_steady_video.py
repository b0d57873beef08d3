"""A steadier picture of someone whose way up is weak (web/js/steady-video.js), run in
Node on stand-ins for the browser's receivers: which video receiver gets a jitter
buffer target, and when it is taken off again. A real browser on a real weak line is
in tests/e2e/test_network_faults.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.unit.run_in_node import run_node

MODULE = Path(__file__).resolve().parents[2] / "web" / "js" / "steady-video.js"

# Steps: [method, ...arguments]; a receiver is named by a string ("r1") and made on
# first use, "old" stands for a browser without jitterBufferTarget. After each step,
# every receiver's target.
SCRIPT = """
import { SteadyVideo, STEADY_MS } from %(module)s;
const steps = JSON.parse(process.argv[1]);
const receivers = new Map();
const receiver = (name) => {
  if (name === null) return null;
  if (!receivers.has(name)) receivers.set(name, name === "old" ? {} : { jitterBufferTarget: null });
  return receivers.get(name);
};
const steady = new SteadyVideo();
const after = [];
for (const [method, ...args] of steps) {
  if (method === "video") steady.video(args[0], receiver(args[1]));
  else steady[method](...args);
  after.push(Object.fromEntries([...receivers].map(([n, r]) => [n, r.jitterBufferTarget ?? null])));
}
console.log(JSON.stringify({ steady: STEADY_MS, after }));
"""


def run(steps: list[list[Any]]) -> tuple[int, list[dict[str, int | None]]]:
    result = run_node(SCRIPT, steps, MODULE)
    return result["steady"], result["after"]


def test_her_video_is_held_while_her_way_up_is_weak() -> None:
    steady, after = run(
        [
            ["reset", [{"id": "anna", "connection": "good"}, {"id": "bram", "connection": "good"}]],
            ["video", "anna", "r1"],
            ["video", "bram", "r2"],
            ["quality", "anna", "weak", "up"],
            ["quality", "anna", "bad", "both"],
            ["quality", "bram", "weak", "down"],  # his way down: nothing to wait for
            ["quality", "anna", "good", ""],
        ]
    )
    assert steady == 300
    assert after[1] == {"r1": None}
    assert after[3] == {"r1": steady, "r2": None}
    assert after[4] == {"r1": steady, "r2": None}
    assert after[5] == {"r1": steady, "r2": None}
    assert after[6] == {"r1": None, "r2": None}


def test_the_judgement_follows_her_to_another_slot_and_leaves_the_old_one() -> None:
    steady, after = run(
        [
            ["reset", []],
            ["quality", "anna", "weak", "both"],  # before her video arrives
            ["video", "anna", "r1"],
            ["video", "anna", None],  # track_removed: the slot serves someone else next
            ["video", "bram", "r1"],
            ["video", "anna", "r2"],
            ["left", "anna"],
            ["video", "anna", "r3"],  # back later, judged afresh: good
        ]
    )
    assert after[2] == {"r1": steady}
    assert after[3] == {"r1": None}
    assert after[4] == {"r1": None}
    assert after[5] == {"r1": None, "r2": steady}
    assert after[6] == {"r1": None, "r2": None}
    assert after[7] == {"r1": None, "r2": None, "r3": None}


def test_the_participant_list_carries_the_judgement_and_its_way() -> None:
    """`joined` and `participant_joined` say how someone's line was judged last, for a
    page that comes in (or back) later; one without the way (an older server) counts
    as weak both ways."""
    steady, after = run(
        [
            ["reset", [{"id": "anna", "connection": "weak", "connection_direction": "up"}]],
            ["video", "anna", "r1"],
            ["joined", {"id": "bram", "connection": "bad", "connection_direction": "down"}],
            ["video", "bram", "r2"],
            ["joined", {"id": "cleo", "connection": "weak"}],
            ["video", "cleo", "r3"],
            ["joined", {"id": "dirk"}],
            ["video", "dirk", "r4"],
            ["reset", [{"id": "anna", "connection": "good", "connection_direction": None}]],
        ]
    )
    assert after[1] == {"r1": steady}
    assert after[7] == {"r1": steady, "r2": None, "r3": steady, "r4": None}
    assert after[8] == {"r1": None, "r2": None, "r3": None, "r4": None}


def test_a_slot_taken_over_before_its_last_video_was_removed_keeps_the_new_judgement() -> None:
    steady, after = run(
        [
            ["reset", []],
            ["quality", "bram", "weak", "up"],
            ["video", "anna", "r1"],
            ["video", "bram", "r1"],  # Bram's track published on Anna's slot first
            ["video", "anna", None],  # then Anna's removed
        ]
    )
    assert after[3] == {"r1": steady}
    assert after[4] == {"r1": steady}


def test_a_browser_without_the_setting_is_left_alone() -> None:
    _, after = run([["reset", []], ["quality", "anna", "weak", "up"], ["video", "anna", "old"]])
    assert after[2] == {"old": None}


def test_every_video_is_held_while_the_pages_own_way_down_is_weak() -> None:
    """Her own line, judged weak on her way down (or both ways), holds every video
    she receives: what she misses comes again over her own long round trip. Weak on
    her way up alone holds nothing of hers; someone else's weak way up still holds
    that one's video when her own line is good again."""
    steady, after = run(
        [
            ["reset", [{"id": "bram", "connection": "good"}], {"id": "anna"}],
            ["video", "bram", "r1"],
            ["quality", "anna", "weak", "up"],  # what she sends suffers: nothing here
            ["quality", "anna", "weak", "both"],  # widened: her way down too
            ["video", "cleo", "r2"],  # someone who comes in meanwhile is held too
            ["quality", "cleo", "weak", "up"],
            ["quality", "anna", "good", ""],
            ["quality", "anna", "bad", "down"],
            ["quality", "anna", "bad", ""],  # no direction (an older server): both
            ["left", "cleo"],
            ["quality", "anna", "good", ""],
        ]
    )
    assert after[1] == {"r1": None}
    assert after[2] == {"r1": None}
    assert after[3] == {"r1": steady}
    assert after[4] == {"r1": steady, "r2": steady}
    assert after[6] == {"r1": None, "r2": steady}  # Cleo's own way up
    assert after[7] == {"r1": steady, "r2": steady}
    assert after[8] == {"r1": steady, "r2": steady}
    assert after[9] == {"r1": steady, "r2": None}  # her slot is free again
    assert after[10] == {"r1": None, "r2": None}


def test_a_page_that_comes_back_on_a_weak_way_down_holds_what_arrives() -> None:
    """A new connection (`joined` or a seat) carries her own latest judgement."""
    steady, after = run(
        [
            ["reset", [], {"id": "anna", "connection": "weak", "connection_direction": "down"}],
            ["video", "bram", "r1"],
            ["reset", [{"id": "bram"}], {"id": "anna", "connection": "good"}],
            ["video", "bram", "r2"],
            ["reset", [], None],  # no own participant named: nothing of hers is judged
            ["quality", "anna", "weak", "down"],
            ["video", "anna", "r3"],  # (then "anna" is just someone else)
        ]
    )
    assert after[1] == {"r1": steady}
    assert after[3] == {"r1": None, "r2": None}
    assert after[6] == {"r1": None, "r2": None, "r3": None}
