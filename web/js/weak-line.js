// Notices a line too weak for the others' video, so that the page can suggest turning
// it off (own-controls.js). Two measures, over 10 s:
// - the loss of the others' audio: audio is never resent, so what it loses on the way
//   is what the line loses (video's losses are mostly repaired by retransmission).
//   The line is weak when most of the others' audio streams lose 12% or more;
// - the round trip: a line that cannot carry what is sent queues it, and the delay
//   grows. The line is weak when the round trip is a second or more in most samples
//   (the queue's length wavers as the senders adapt). The larger of two measures:
//   ICE's own checks (Chromium; Firefox reports 0) and the server's receiver reports
//   on what this page sends (both).
// It is called fine again after 20 s without either.

const SAMPLE_MS = 2000;
const WINDOW_SAMPLES = 5; // 10 s
const LOSS_SHARE = 0.12;
const SLOW_ROUND_TRIP_S = 1.0;
const CALM_SAMPLES = 10; // 20 s
// A stream with fewer packets in the window is silent (Opus DTX) or muted: too few to judge.
const MIN_PACKETS = 50;

/**
 * The streams' loss over the window: true when at least half of the streams with
 * enough packets lost at least LOSS_SHARE of them. `samples`: one Map per sample,
 * stream id -> { received, lost } in that sample.
 */
export function mostStreamsLossy(samples) {
  const totals = new Map();
  for (const sample of samples) {
    for (const [id, { received, lost }] of sample) {
      const total = totals.get(id) || { received: 0, lost: 0 };
      total.received += received;
      total.lost += lost;
      totals.set(id, total);
    }
  }
  let judged = 0;
  let lossy = 0;
  for (const { received, lost } of totals.values()) {
    const expected = received + lost;
    if (expected < MIN_PACKETS) continue;
    judged += 1;
    if (lost >= LOSS_SHARE * expected) lossy += 1;
  }
  return judged > 0 && lossy * 2 >= judged;
}

/**
 * The verdict over a window of samples, each { streams, roundTrip }: `streams` as for
 * mostStreamsLossy, `roundTrip` in seconds or null where the browser gives none.
 */
export function lineIsWeak(samples) {
  const slow = samples.filter((sample) => sample.roundTrip !== null && sample.roundTrip >= SLOW_ROUND_TRIP_S);
  if (slow.length * 2 > samples.length) return true;
  return mostStreamsLossy(samples.map((sample) => sample.streams));
}

export class WeakLineWatch {
  /**
   * currentPeerConnection(): the page's media connection or null (a new one after a
   * reconnect). onChange(weak): called when the verdict changes.
   */
  constructor(currentPeerConnection, onChange) {
    this.currentPeerConnection = currentPeerConnection;
    this.onChange = onChange;
    this.previous = new Map(); // stream id -> its counters at the last sample
    this.samples = [];
    this.weak = false;
    this.calm = 0;
    this.timer = null;
  }

  start() {
    this.timer = setInterval(() => this.sample().catch(() => {}), SAMPLE_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.setWeak(false);
  }

  async sample() {
    const pc = this.currentPeerConnection();
    if (!pc || pc.connectionState !== "connected") {
      this.previous.clear();
      this.samples = [];
      return;
    }
    const report = await pc.getStats();
    const primed = this.previous.size > 0; // else this first reading has nothing to compare
    const streams = new Map();
    const seen = new Map();
    let roundTrip = null;
    report.forEach((stats) => {
      let measured = null;
      if (stats.type === "candidate-pair" && stats.nominated && stats.state === "succeeded") {
        measured = stats.currentRoundTripTime;
      } else if (stats.type === "remote-inbound-rtp") {
        measured = stats.roundTripTime;
      }
      if (typeof measured === "number") roundTrip = Math.max(roundTrip ?? 0, measured);
      if (stats.type !== "inbound-rtp" || stats.kind !== "audio") return;
      const now = { received: stats.packetsReceived || 0, lost: stats.packetsLost || 0 };
      seen.set(stats.id, now);
      const before = this.previous.get(stats.id);
      if (!before) return;
      streams.set(stats.id, {
        received: Math.max(0, now.received - before.received),
        lost: Math.max(0, now.lost - before.lost),
      });
    });
    this.previous = seen;
    if (!primed) return;
    this.samples.push({ streams, roundTrip });
    if (this.samples.length > WINDOW_SAMPLES) this.samples.shift();
    if (this.samples.length === WINDOW_SAMPLES && lineIsWeak(this.samples)) {
      this.calm = 0;
      this.setWeak(true);
    } else if (this.weak && ++this.calm >= CALM_SAMPLES) {
      this.setWeak(false);
    }
  }

  setWeak(weak) {
    if (weak === this.weak) return;
    this.weak = weak;
    this.calm = 0;
    this.onChange(weak);
  }
}

/** Start watching the connection `currentPeerConnection()` returns. */
export function watchWeakLine(currentPeerConnection, onChange) {
  const watch = new WeakLineWatch(currentPeerConnection, onChange);
  watch.start();
  return watch;
}
