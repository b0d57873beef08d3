// A steadier picture when the way between a sender and this page is weak.
//
// What is lost on a weak line reaches the page only once it has been asked for again
// and has come back: a round trip of a few hundred milliseconds on a weak home line.
// A picture that is to be played before then freezes instead. Two cases:
//
// - Someone else's way up to the server is weak. What she sends and loses reaches
//   everyone only once the server has asked her for it again. A browser near the
//   server cannot know that the packets it misses come from far away, plays on and
//   freezes. So while the server judges someone's line weak or bad on her way up
//   (`connection_quality`, direction `up` or `both`; a judgement without a direction,
//   from a server that does not send one with the participant list, counts as both),
//   her video on this page is held a little longer in the jitter buffer
//   (`jitterBufferTarget`), and the browser's lip sync holds her audio with it.
//   Measured on the network-fault test's line (5% loss, 150 ms each way): the
//   therapist's view of her froze 8-12 times in 12 s (2.8-4.5 s frozen), with the
//   target 1-2 times (0.3-0.7 s), at about 0.15 s more delay of her picture and voice.
// - This page's own way down is weak (direction `down` or `both` in the judgement
//   of its own participant). Then everything it receives is lost on the way to it, and
//   every video it shows is held likewise. Chromium does about that by itself
//   (libwebrtc adds the round trip to its jitter buffer's delay once it has needed
//   retransmissions); Firefox did not: on the same line a Firefox member's view of
//   the therapist froze 4-10 times in the test's window (1.7-4.4 s frozen), with the
//   target 1-5 times (0.4-1.9 s; docs/media.md).
//
// Pure bookkeeping over the receivers it is given, so that Node can test it.

export const STEADY_MS = 300;

function weakWayUp(quality, direction) {
  return quality !== "good" && direction !== "down";
}

function weakWayDown(quality, direction) {
  return quality !== "good" && direction !== "up";
}

export class SteadyVideo {
  constructor() {
    this.weak = new Set(); // participant ids whose way up is weak
    this.receivers = new Map(); // participant id -> her video's RTCRtpReceiver
    this.selfId = null; // this page's own participant
    this.weakDown = false; // whether this page's own way down is weak
  }

  /**
   * Start afresh (a new connection): the participants present, as `joined` lists
   * them, and this page's own participant (`{id, connection, connection_direction}`;
   * an open room's `joined` names only the id, and its judgement follows).
   */
  reset(participants, self) {
    for (const receiver of this.receivers.values()) setTarget(receiver, null);
    this.receivers.clear();
    this.weak.clear();
    this.weakDown = false;
    this.selfId = self ? self.id : null;
    for (const participant of participants || []) this.joined(participant);
    if (self) this.joined(self);
  }

  /** Someone came in, with her line's latest judgement (`joined`, `participant_joined`). */
  joined(participant) {
    this.quality(participant.id, participant.connection || "good", participant.connection_direction || "");
  }

  quality(id, quality, direction) {
    if (id === this.selfId) {
      const weakDown = weakWayDown(quality, direction);
      if (weakDown === this.weakDown) return;
      this.weakDown = weakDown;
      for (const other of this.receivers.keys()) this.apply(other);
      return;
    }
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
    const held = this.weakDown || this.weak.has(id);
    if (receiver) setTarget(receiver, held ? STEADY_MS : null);
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
