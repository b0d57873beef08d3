"""The web client's verdict on a weak line (web/js/weak-line.js), run in Node on
synthetic statistics: which losses make the page suggest turning the others' video
off, and when the suggestion goes again; and its advice about her own line from the
server's judgement (own-controls.js). A real browser on a real weak line is in
tests/e2e/test_network_faults.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.unit.run_in_node import run_node

MODULE = Path(__file__).resolve().parents[2] / "web" / "js" / "weak-line.js"
OWN_CONTROLS = MODULE.with_name("own-controls.js")

# Each case: a list of samples, each [round trip or null, {stream: [received, lost]}].
VERDICT_SCRIPT = """
import { lineIsWeak } from %(module)s;
const cases = JSON.parse(process.argv[1]);
const counts = ([id, [received, lost]]) => [id, { received, lost }];
const toSamples = (samples) => samples.map(([roundTrip, streams]) => ({
  roundTrip,
  streams: new Map(Object.entries(streams).map(counts)),
}));
console.log(JSON.stringify(cases.map((samples) => lineIsWeak(toSamples(samples)))));
"""

# A connection whose counters grow by the given steps per sample; the watch's verdict
# after each sample.
WATCH_SCRIPT = """
import { WeakLineWatch } from %(module)s;
const steps = JSON.parse(process.argv[1]);
const counters = new Map();
let roundTrip = 0.05;
let reported = null;
let state = "connected";
const pc = {
  get connectionState() { return state; },
  async getStats() {
    const reports = new Map();
    const inbound = (id, kind, [packetsReceived, packetsLost]) =>
      reports.set(id, { id, type: "inbound-rtp", kind, packetsReceived, packetsLost });
    for (const [id, c] of counters) inbound(id, "audio", c);
    inbound("v", "video", [1, 1e6]); // video's loss is not the measure
    const pair = { type: "candidate-pair", nominated: true, state: "succeeded" };
    reports.set("p", { ...pair, id: "p", currentRoundTripTime: roundTrip });
    reports.set("q", { ...pair, id: "q", state: "failed", currentRoundTripTime: 9 });
    if (reported !== null) {
      const remote = { id: "r", type: "remote-inbound-rtp", kind: "audio" };
      reports.set("r", { ...remote, roundTripTime: reported });
    }
    return reports;
  },
};
const changes = [];
const watch = new WeakLineWatch(() => pc, (weak) => changes.push(weak));
const verdicts = [];
for (const step of steps) {
  if (step === "disconnected") {
    state = "disconnected";
    await watch.sample();
    state = "connected";
  } else {
    roundTrip = step.roundTrip ?? 0.05;
    reported = step.reported ?? null;
    for (const [id, [received, lost]] of Object.entries(step.streams || {})) {
      const c = counters.get(id) || [0, 0];
      counters.set(id, [c[0] + received, c[1] + lost]);
    }
    await watch.sample();
  }
  verdicts.push(watch.weak);
}
console.log(JSON.stringify({ verdicts, changes }));
"""


def test_which_losses_and_round_trips_make_a_weak_line() -> None:
    fast = 0.05
    cases = [
        [[fast, {"a": [88, 12]}]],  # 12% lost
        [[fast, {"a": [89, 11]}]],  # less
        [[fast, {"a": [44, 6]}], [fast, {"a": [44, 6]}]],  # summed over the samples
        [[fast, {"a": [20, 10]}]],  # too few packets to judge: silent (DTX) or muted
        [[fast, {"a": [80, 20], "b": [100, 0], "c": [100, 0]}]],  # one speaker's own uplink
        [[fast, {"a": [80, 20], "b": [80, 20], "c": [100, 0], "d": [100, 0]}]],  # half
        [[fast, {"a": [80, 20], "quiet": [10, 0]}]],  # the silent stream is not judged
        [],
        [[1.2, {}], [1.0, {}], [3.0, {}]],  # the round trip a second or more
        [[1.2, {}], [0.4, {}], [3.0, {}]],  # in most samples
        [[1.2, {}], [0.4, {}], [3.0, {}], [0.5, {}]],  # not in most
        [[1.2, {}], [None, {}]],  # a browser that gives no round trip
    ]
    verdicts = run_node(VERDICT_SCRIPT, cases, MODULE)
    expected = [True, False, True, False, False, True, True, False, True, True, False, False]
    assert verdicts == expected


def test_the_watch_judges_a_full_window_and_calms_down_slowly() -> None:
    lossy = {"streams": {"a": [80, 20], "b": [80, 20]}}
    clean = {"streams": {"a": [100, 0], "b": [100, 0]}}
    # The first sample only reads the counters; five more make the 10 s window.
    steps: list[Any] = [clean] + [lossy] * 5 + [clean] * 14
    result = run_node(WATCH_SCRIPT, steps, MODULE)
    assert result["verdicts"][:5] == [False] * 5
    # Weak once the window is full and lossy as a whole.
    first_weak = result["verdicts"].index(True)
    assert first_weak == 5
    # Fine again only after 20 s (ten samples) without a lossy window.
    last_weak = len(result["verdicts"]) - 1 - result["verdicts"][::-1].index(True)
    assert last_weak - first_weak >= 10
    assert result["verdicts"][-1] is False
    assert result["changes"] == [True, False]


def test_the_watch_reads_the_nominated_pairs_round_trip() -> None:
    slow = {"streams": {"a": [100, 0]}, "roundTrip": 1.5}
    steps: list[Any] = [slow] * 6
    assert run_node(WATCH_SCRIPT, steps, MODULE)["verdicts"] == [False] * 5 + [True]


def test_the_watch_reads_the_servers_reports_where_ice_gives_no_round_trip() -> None:
    # Firefox: the candidate pair's round trip reads 0; the server's receiver reports
    # on the page's own audio give the real one.
    slow = {"streams": {"a": [100, 0]}, "roundTrip": 0, "reported": 1.4}
    fine = {"streams": {"a": [100, 0]}, "roundTrip": 0, "reported": 0.2}
    assert run_node(WATCH_SCRIPT, [slow] * 6, MODULE)["verdicts"] == [False] * 5 + [True]
    assert run_node(WATCH_SCRIPT, [fine] * 6, MODULE)["verdicts"] == [False] * 6


def test_a_broken_connection_starts_the_window_afresh() -> None:
    lossy = {"streams": {"a": [80, 20]}}
    steps: list[Any] = [lossy] * 4 + ["disconnected"] + [lossy] * 4
    result = run_node(WATCH_SCRIPT, steps, MODULE)
    assert result["verdicts"] == [False] * 9


ADVICE_SCRIPT = """
globalThis.navigator = { languages: ["en"] }; // what i18n.js reads at load, in a browser
const { ownLineAdvice } = await import(%(module)s);
const cases = JSON.parse(process.argv[1]);
console.log(JSON.stringify(cases.map(([tile, sending]) => ownLineAdvice(tile, sending))));
"""


def test_her_own_line_advice_suggests_the_camera_off_only_for_a_weak_way_out() -> None:
    """Up, and both when it was widened from up at the same level (the suggestion
    stays); not down, nor both from the start (a long round trip can be either way)."""

    def tile(connection: str, direction: str, widened_from: str = "") -> dict[str, str]:
        return {
            "connection": connection,
            "connectionDirection": direction,
            "widenedFrom": widened_from,
        }

    cases = [
        [None, True],
        [tile("good", ""), True],
        [tile("weak", "up"), True],
        [tile("bad", "up"), True],
        [tile("weak", "up"), False],  # her camera is off already
        [tile("weak", "down"), True],
        [tile("bad", "both"), True],
        [tile("weak", "both", "up"), True],
        [tile("weak", "both", "down"), True],
        [tile("weak", "both", "up"), False],
    ]
    answers = run_node(ADVICE_SCRIPT, cases, OWN_CONTROLS)
    advice = [(a["key"], a["suggestCamera"]) for a in answers]
    general, sending = "notice.connectionWeak", "notice.connectionWeakSending"
    assert advice == [
        (None, False),
        (None, False),
        (sending, True),
        (sending, True),
        (general, False),
        (general, False),
        (general, False),
        (sending, True),
        (general, False),
        (general, False),
    ]


JUDGEMENT_SCRIPT = """
globalThis.navigator = { languages: ["en"] }; // what i18n.js reads at load, in a browser
const { nextJudgement } = await import(%(module)s);
let judgement = { connection: "good", connectionDirection: "", widenedFrom: "" };
const after = [];
for (const [quality, direction] of JSON.parse(process.argv[1])) {
  judgement = nextJudgement(judgement, quality, direction);
  after.push(judgement);
}
console.log(JSON.stringify(after));
"""


def test_a_widened_judgement_remembers_the_way_it_was_widened_from() -> None:
    """What a tile keeps of `connection_quality`: "both" told at the same level is a
    widening (from the way before); "both" with a new level is not."""
    told = [
        ["weak", "up"],
        ["weak", "both"],  # widened
        ["weak", "both"],  # the same again (as a participant list repeats it): still from up
        ["bad", "both"],  # a new level, with its own direction
        ["weak", "down"],
        ["weak", "both"],
        ["good", None],
        ["nonsense", "up"],  # anything unknown counts as good
    ]
    after = [
        (j["connection"], j["connectionDirection"], j["widenedFrom"])
        for j in run_node(JUDGEMENT_SCRIPT, told, OWN_CONTROLS)
    ]
    assert after == [
        ("weak", "up", ""),
        ("weak", "both", "up"),
        ("weak", "both", "up"),
        ("bad", "both", ""),
        ("weak", "down", ""),
        ("weak", "both", "down"),
        ("good", "", ""),
        ("good", "", ""),
    ]
