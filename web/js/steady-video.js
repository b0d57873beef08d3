// A steadier picture of someone whose way up to the server is weak.
//
// What she sends and loses on her way up reaches everyone only once the server has
// asked her for it again and it has come back: her round trip, a few hundred
// milliseconds on a weak home line. A browser whose own round trip is long waits that
// long for retransmissions by itself (libwebrtc adds the round trip to its jitter
// buffer's delay once it has needed them); a browser near the server cannot know that
// the packets it misses come from far away, plays on and freezes. So while the server
// judges someone's line weak or bad on her way up (`connection_quality`, direction
// `up` or `both`; a judgement without a direction, from a server that does not send
// one with the participant list, counts as both), her video on this
// page is held a little longer in the jitter buffer (`jitterBufferTarget`), and the
// browser's lip sync holds her audio with it. Measured on the network-fault test's
// line (5% loss, 150 ms each way): the therapist's view of her froze 8-12 times in
// 12 s (2.8-4.5 s frozen), with the target 1-2 times (0.3-0.7 s), at about 0.15 s
// more delay of her picture and voice (docs/media.md).
//
// Pure bookkeeping over the receivers it is given, so that Node can test it.

export const STEADY_MS = 300;

function weakWayUp(quality, direction) {
  return quality !== "good" && direction !== "down";
}

export class SteadyVideo {
  constructor() {
    this.weak = new Set(); // participant ids whose way up is weak
    this.receivers = new Map(); // participant id -> her video's RTCRtpReceiver
  }

  /** Start afresh (a new connection): the participants present, as `joined` lists them. */
  reset(participants) {
    for (const receiver of this.receivers.values()) setTarget(receiver, null);
    this.receivers.clear();
    this.weak.clear();
    for (const participant of participants || []) this.joined(participant);
  }

  /** Someone came in, with her line's latest judgement (`joined`, `participant_joined`). */
  joined(participant) {
    this.quality(participant.id, participant.connection || "good", participant.connection_direction || "");
  }

  quality(id, quality, direction) {
    if (weakWayUp(quality, direction)) this.weak.add(id);
    else this.weak.delete(id);
    this.apply(id);
  }

  /** Her video now arrives on `receiver`, or (null) no longer on the one it did. */
  video(id, receiver) {
    const previous = this.receivers.get(id);
    if (receiver) this.receivers.set(id, receiver);
    else this.receivers.delete(id);
    if (previous && previous !== receiver) {
      // The slot serves someone else next (or already does, if her track came first).
      const next = [...this.receivers].find(([, other]) => other === previous);
      if (next) this.apply(next[0]);
      else setTarget(previous, null);
    }
    this.apply(id);
  }

  left(id) {
    this.video(id, null);
    this.weak.delete(id);
  }

  apply(id) {
    const receiver = this.receivers.get(id);
    if (receiver) setTarget(receiver, this.weak.has(id) ? STEADY_MS : null);
  }
}

function setTarget(receiver, milliseconds) {
  if (!("jitterBufferTarget" in receiver)) return; // not in every browser yet
  if (receiver.jitterBufferTarget === milliseconds) return;
  try {
    receiver.jitterBufferTarget = milliseconds;
  } catch {
    // Out of the browser's range: it keeps its own.
  }
}
